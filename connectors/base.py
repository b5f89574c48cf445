"""What every connector shares: the protocol, its two errors and the problem record.

A connector turns an outside source (a folder of CSV files, later an accounting system's API) into a full
:class:`~robots.domain.Ledger` snapshot. It fails in one of two ways, because they call for different reactions:

* :class:`SyncRejected`: the source answered, but its data is wrong. A person must fix it; retrying is useless,
  and nothing of the snapshot is applied (all or nothing, so a half-valid ledger never drives letters).
* :class:`ConnectorUnavailable`: the source could not be reached or read at all. Retry later.

Messages never carry secrets (tokens, passwords, connection strings): they end up in logs and e-mails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from robots.domain import Ledger
from robots.errors import RuntimeFailure, UsageError

#: How many problems :class:`SyncRejected` spells out in its message; the rest are counted, not listed.
MAX_LISTED_PROBLEMS = 50


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


#: What :class:`RowChecker` returns for a value that failed; its problem is already recorded.
INVALID: Any = _Invalid()


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the input, located as precisely as the source allows.

    ``source`` is the name the user knows (``invoices.csv``), ``line`` the 1-based physical line of the file
    (the header is line 1), ``column`` the header name as the format documents it.
    """

    source: str
    message: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        if self.column is not None:
            where += f" column '{self.column}'"
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


@runtime_checkable
class Connector(Protocol):
    """A source of the receivables ledger. ``pull`` returns a full, validated snapshot or raises."""

    id: str

    def pull(self) -> Ledger:
        """Read the whole ledger. Raises :class:`SyncRejected` or :class:`ConnectorUnavailable`."""
        ...


def required(text: str) -> str:
    """A parser for a value that must not be empty."""
    if not text:
        raise ValueError("is empty; this value is required")
    return text


def valid(*values: Any) -> bool:
    """True when none of ``values`` is :data:`INVALID`."""
    return all(v is not INVALID for v in values)


class RowChecker:
    """Parses the values of one source row by row, recording a Problem per bad value instead of stopping.

    Parsers raise ValueError with the message the user will read; the checker adds the source, line and column.
    """

    def __init__(self, source: str, problems: list[Problem]):
        self.source, self.problems = source, problems
        #: Every id seen so far and its first line, including rows with other problems: a reference to them
        #: must not cascade into "unknown id" problems.
        self.first_line: dict[str, int] = {}

    def add(self, line: int, column: str | None, message: str) -> Any:
        """Record a problem; returns :data:`INVALID` so callers can write ``value = chk.add(...)``."""
        self.problems.append(Problem(self.source, message, line, column))
        return INVALID

    def cell(self, line: int, row: Mapping[str, str], column: str, parse: Callable[[str], Any]) -> Any:
        """``parse(row[column])``, or INVALID with a problem recorded."""
        try:
            return parse(row[column])
        except ValueError as e:
            return self.add(line, column, str(e))

    def new_id(self, line: int, row: Mapping[str, str], column: str = "id") -> Any:
        """The row's id, or INVALID when empty or already used (naming the first line, so both can be found)."""
        rid = self.cell(line, row, column, required)
        if rid is not INVALID:
            if rid in self.first_line:
                return self.add(line, column, f"duplicate id '{rid}': already used on line {self.first_line[rid]}")
            self.first_line[rid] = line
        return rid

    def ref(self, line: int, row: Mapping[str, str], column: str, known: Mapping[str, Any] | None, where: str) -> Any:
        """A required reference to an id in ``known`` (from ``where``); unchecked when ``known`` is None because
        the referenced source is unusable (its own problem already says so)."""
        value = self.cell(line, row, column, required)
        if value is not INVALID and known is not None and value not in known:
            return self.add(line, column, f"unknown {column.removesuffix('_id')} '{value}': no row with this id "
                                          f"in {where}")
        return value
