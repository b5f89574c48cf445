"""The demo accounting system's data: the ledger it serves and what the robots wrote back (blocks and notes).

:meth:`ErpState.set_ledger` precomputes, per entity, the records in ledger order and their JSON rows
(a :class:`Table`), so a page costs the same on a 100,000-invoice ledger as on a small one. A request reads one
:class:`Snapshot` throughout, so a ledger swapped while it runs does not mix two ledgers in one answer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from demo.erp.faults import Faults
from demo.erp.schema import ENTITIES, record_json
from robots.core.domain import Ledger


@dataclass
class Table:
    """One entity of the current ledger, ready to serve: records in ledger order and their JSON rows."""

    entity: str
    records: tuple[Any, ...]
    index: dict[str, int]
    versions: tuple[int, ...]
    rows: tuple[str, ...]
    _since: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = field(default_factory=dict)

    def view(self, since: int | None) -> tuple[Sequence[str], Sequence[int]]:
        """(JSON rows, their positions) of the records with ``updated_at > since`` (all when None); cached."""
        if since is None:
            return self.rows, range(len(self.rows))
        hit = self._since.get(since)
        if hit is None:
            pos = tuple(i for i, v in enumerate(self.versions) if v > since)
            hit = self._since[since] = (tuple(self.rows[i] for i in pos), pos)
        return hit

    def get(self, record_id: str) -> Any | None:
        i = self.index.get(record_id)
        return None if i is None else self.records[i]


@dataclass(frozen=True)
class Note:
    id: int
    counterparty_id: str
    contract_id: str | None
    text: str


@dataclass(frozen=True)
class Snapshot:
    """One ledger as served: its tables and the lookups the pages need."""

    ledger: Ledger
    tables: dict[str, Table]
    currency: dict[str, str]  # contract id -> currency
    contracts_of: dict[str, tuple[Any, ...]]  # counterparty id -> its contracts


class ErpState:
    """The accounting system's data: the ledger (replaceable while serving), shipment blocks, notes, faults.

    ``blocks`` maps (counterparty id, contract id or None for the whole counterparty) to the reason; ``notes`` is
    the list of :class:`Note` in the order they were posted; ``faults`` is a :class:`~demo.erp.faults.Faults`.
    Blocks and notes survive :meth:`set_ledger`.
    """

    def __init__(self, ledger: Ledger, *, page_size: int = 50):
        self.page_size = page_size
        self.faults = Faults()
        self.blocks: dict[tuple[str, str | None], str] = {}
        self.notes: list[Note] = []
        #: The version given to records that changed in the latest set_ledger (1 after the first).
        self.version = 0
        self._lock = threading.Lock()
        self._snap = Snapshot(Ledger(), {}, {}, {})
        self.set_ledger(ledger)

    @property
    def ledger(self) -> Ledger:
        return self._snap.ledger

    @property
    def snapshot(self) -> Snapshot:
        """The ledger served right now; hold on to it for the whole of a request."""
        return self._snap

    def table(self, entity: str) -> Table:
        return self._snap.tables[entity]

    def set_ledger(self, ledger: Ledger) -> None:
        """Serve ``ledger`` from now on. New and changed records get a new ``updated_at``; deleted ones vanish."""
        with self._lock:
            old = self._snap.tables
            version = self.version + 1
            tables = {}
            for entity in ENTITIES:
                records, index, versions, rows = [], {}, [], []
                before = old.get(entity)
                for r in getattr(ledger, entity):
                    if r.id in index:  # a duplicate id: the first one wins, as a lookup by id would find
                        continue
                    index[r.id] = len(records)
                    records.append(r)
                    i = before.index.get(r.id) if before else None
                    if i is not None and before.records[i] == r:  # unchanged: same version, same JSON
                        versions.append(before.versions[i])
                        rows.append(before.rows[i])
                    else:
                        versions.append(version)
                        rows.append(record_json(entity, r, version))
                tables[entity] = Table(entity, tuple(records), index, tuple(versions), tuple(rows))
            contracts_of: dict[str, list[Any]] = {}
            for c in tables["contracts"].records:
                contracts_of.setdefault(c.counterparty_id, []).append(c)
            self._snap = Snapshot(ledger, tables, {c.id: c.currency for c in tables["contracts"].records},
                                  {k: tuple(v) for k, v in contracts_of.items()})
            self.version = version

    def _check(self, counterparty_id: str, contract_id: str | None) -> None:
        snap = self._snap
        if counterparty_id not in snap.tables["counterparties"].index:
            raise LookupError(f"counterparty {counterparty_id} not found")
        if contract_id is not None and contract_id not in {c.id for c in snap.contracts_of.get(counterparty_id, ())}:
            raise LookupError(f"contract {contract_id} of counterparty {counterparty_id} not found")

    def block(self, counterparty_id: str, contract_id: str | None, reason: str) -> bool:
        """Block shipments; True when they were not blocked yet (blocking twice only updates the reason)."""
        self._check(counterparty_id, contract_id)
        key = (counterparty_id, contract_id)
        with self._lock:
            new = key not in self.blocks
            self.blocks[key] = reason
        return new

    def unblock(self, counterparty_id: str, contract_id: str | None) -> bool:
        """Allow shipments again; True when they were blocked."""
        self._check(counterparty_id, contract_id)
        with self._lock:
            return self.blocks.pop((counterparty_id, contract_id), None) is not None

    def add_note(self, counterparty_id: str, contract_id: str | None, text: str) -> Note:
        self._check(counterparty_id, contract_id)
        if not text.strip():
            raise ValueError("a note must not be empty")
        with self._lock:
            note = Note(len(self.notes) + 1, counterparty_id, contract_id, text)
            self.notes.append(note)
        return note

    def is_blocked(self, counterparty_id: str, contract_id: str | None = None) -> bool:
        return (counterparty_id, contract_id) in self.blocks


def erp_of(request: Request) -> ErpState:
    """The state of the app serving ``request`` (set by create_app)."""
    return request.app.state.erp
