"""What every connector shares: the protocol, its two errors and the problem record.

A connector reads an outside source (a folder of CSV/XLSX files, a REST or OData API, a web UI driven by a
browser) into raw :class:`Record` s per entity; :mod:`connectors.records` validates them into one
:class:`~robots.core.domain.Ledger` snapshot. A sync fails in one of two ways, because they call for different
reactions:

* :class:`SyncRejected`: the source answered, but its data is wrong. A person must fix it; retrying is useless,
  and nothing of the snapshot is applied (all or nothing, so a half-valid ledger never drives letters).
* :class:`ConnectorUnavailable`: the source could not be reached or read at all. Retry later.

Messages never carry secrets (tokens, passwords, connection strings): they end up in logs and e-mails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from robots.core.errors import RuntimeFailure, UsageError

#: How many problems :class:`SyncRejected` spells out in its message; the rest are counted, not listed.
MAX_LISTED_PROBLEMS = 50


class Where(NamedTuple):
    """Where a record came from, as precisely as its source allows, in the words the ops engineer knows.

    ``source`` names the file or endpoint (``invoices.csv``, ``erp: GET invoices``, ``fava-ui: /query/``);
    ``line`` is the 1-based physical line of a file (the header is line 1; for XLSX the sheet row);
    ``page`` the 1-based page of a paged answer and ``record`` the 1-based record within that page.
    (A NamedTuple, not a dataclass: a sync makes one per record, and this is three times cheaper.)
    """

    source: str
    line: int | None = None
    page: int | None = None
    record: int | None = None

    def __str__(self) -> str:
        text = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.page is not None:
            text += f" page {self.page}"
        if self.record is not None:
            text += f" record {self.record}"
        return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, located as precisely as the source allows.

    ``source`` is the name the user knows (``invoices.csv``, ``erp: GET invoices``), ``line`` the 1-based
    physical line of a file (the header is line 1), ``page``/``record`` the 1-based page of a paged answer and
    the record in it, ``column`` the field (CSV header, mapped field) as the format documents it.
    """

    source: str
    message: str
    line: int | None = None
    column: str | None = None
    page: int | None = None
    record: int | None = None

    @classmethod
    def at(cls, where: Where, message: str, column: str | None = None) -> Problem:
        return cls(where.source, message, where.line, column, where.page, where.record)

    def __str__(self) -> str:
        where = str(Where(self.source, self.line, self.page, self.record))
        if self.column is not None:
            where += f" field '{self.column}'" if self.page is not None or self.record is not None \
                else f" column '{self.column}'"
        return f"{where}: {self.message}"


class SyncRejected(UsageError):
    """The source's data is invalid; the whole sync was rejected and nothing was applied.

    Carries every problem found (not just the first), so one round of fixes is enough.
    """

    def __init__(self, connector_id: str, problems: tuple[Problem, ...]):
        self.connector_id = connector_id
        self.problems = tuple(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        head = (
            f"sync of connector '{self.connector_id}' rejected: {n} problem{'s' if n != 1 else ''} found; "
            "nothing was applied, fix the data and sync again"
        )
        lines = [head, *(f"  {p}" for p in self.problems[:MAX_LISTED_PROBLEMS])]
        if n > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {n - MAX_LISTED_PROBLEMS} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self):  # keep the exception picklable (multiprocessing, logging handlers)
        return (type(self), (self.connector_id, self.problems))


class ConnectorUnavailable(RuntimeFailure):
    """The source could not be reached or read at all (folder missing, permission denied). Retry later."""

    def __init__(self, connector_id: str, reason: str):
        self.connector_id = connector_id
        self.reason = reason
        super().__init__(f"connector '{connector_id}' unavailable: {reason}")

    def __reduce__(self):
        return (type(self), (self.connector_id, self.reason))


#: The four kinds of ledger records, in the order they reference each other.
ENTITIES = ("counterparties", "contracts", "invoices", "payments")

#: The ledger fields a connector fills per entity (CSV columns, mapped fields). Optional ones may be empty.
FIELDS: dict[str, tuple[str, ...]] = {
    "counterparties": ("id", "name", "inn", "email", "group"),
    "contracts": ("id", "number", "counterparty_id", "payment_days", "currency", "penalty_rate_per_day",
                  "discounts"),
    "invoices": ("id", "number", "contract_id", "date", "due_date", "amount"),
    "payments": ("id", "contract_id", "invoice_id", "date", "amount"),
}
#: Fields that may be left out or empty (with their meaning when empty: see docs/connectors.md).
OPTIONAL_FIELDS: dict[str, frozenset[str]] = {
    "counterparties": frozenset({"inn", "email", "group"}),
    "contracts": frozenset({"payment_days", "currency", "penalty_rate_per_day", "discounts"}),
    "invoices": frozenset({"due_date"}),
    "payments": frozenset({"invoice_id"}),
}


class Record(NamedTuple):
    """One raw ledger record as a connector read it, before validation.

    ``values`` maps ledger field names (see :data:`FIELDS`) to what the source gave: text (CSV cells, HTML
    cells), or typed JSON values (``Decimal`` for numbers read with ``parse_float=Decimal``, ``int``, ``bool``,
    ``None``), or ``date``/``datetime`` when the connector parsed a configured date format. A missing optional
    field may simply be absent. :func:`connectors.records.build_ledger` checks and converts them all.
    """

    where: Where
    values: Mapping[str, Any]


@dataclass
class Fetched:
    """What one connector read: raw records per entity it provides, and what was wrong with the source itself.

    ``tables[entity]`` is None when that entity's source could not be used at all (a file without its header, a
    sheet missing); its problem is in ``problems`` and references to it are then not checked.
    """

    connector_id: str
    tables: dict[str, list[Record] | None]
    problems: list[Problem]


@runtime_checkable
class Connector(Protocol):
    """A source of ledger records. Several connectors may feed one ledger (invoices from an API, payments from a
    bank's file); :func:`robots.engine.sync.pull` merges what they fetched and validates it as one snapshot.
    """

    id: str
    #: The entities (of :data:`ENTITIES`) this connector delivers.
    entities: tuple[str, ...]

    def fetch(self) -> Fetched:
        """Read every record of every entity it provides. Raises :class:`ConnectorUnavailable` when the source
        cannot be reached or read (after its own retries); data problems go into ``Fetched.problems``."""
        ...

    def close(self) -> None:
        """Release sessions, browsers and files. Called once the sync is over, whatever its outcome."""
        ...


@runtime_checkable
class PaymentsReader(Protocol):
    """Connectors that can re-read one contract's payments on their own, for the pre-send reconciliation (the
    ``reconcile`` step). Optional: for a connector without it, :func:`robots.engine.sync.fresh_payments` fetches the
    connector's payments in full and keeps the contract's.
    """

    id: str

    def payments_for(self, contract_id: str) -> Fetched:
        """The payments of ``contract_id`` as raw records (``Fetched.tables["payments"]``), read from the source
        now; records of other contracts may be included (the caller filters). Raises
        :class:`ConnectorUnavailable` like :meth:`Connector.fetch`; unusable answers go into ``problems``."""
        ...


def records_of_contract(records: list[Record] | None, contract_id: str) -> list[Record] | None:
    """The raw records whose ``contract_id`` is ``contract_id`` (as text: APIs may send ids as numbers)."""
    if records is None:
        return None
    out = []
    for rec in records:
        v = rec.values.get("contract_id")
        if v is not None and not isinstance(v, bool) and str(v).strip() == contract_id:
            out.append(rec)
    return out


class WriteBackUnsupported(UsageError):
    """The connector has no ``write_back`` section for this action (config error: exit 2)."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What the accounting system answered to a write-back: its status and a short, secret-free detail."""

    connector_id: str
    action: str
    ok: bool
    detail: str = ""


@runtime_checkable
class WriteBack(Protocol):
    """Connectors that can change the accounting system: stop or resume shipments to a debtor, post a note.

    ``contract_id`` None means the whole counterparty. Each call is idempotent on the system's side as far as
    the system allows (blocking a blocked debtor is not an error). Raises :class:`WriteBackUnsupported` when the
    action is not configured, :class:`ConnectorUnavailable` when the system cannot be reached after retries,
    :class:`robots.core.errors.BusinessError` when the system refuses.
    """

    id: str

    def block_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult: ...

    def unblock_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult: ...

    def post_note(self, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult: ...
