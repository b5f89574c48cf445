"""What an event source decides: a run that an event, not an aging column, asks for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from robots.core.domain import Ledger


@dataclass(frozen=True, slots=True)
class EventRun:
    contract_id: str
    #: The run's "column": the event's name, e.g. ``paid`` or ``promise_broken:12``.
    column_id: str
    scenario: str
    as_of: date
    #: Per invoice: {"id", "open_amount" (text), "days_past_due"}, as for column runs.
    invoices: tuple[dict[str, Any], ...]

    @property
    def key(self) -> str:
        return f"{self.contract_id}|{self.column_id}|{self.as_of.isoformat()}"


#: ``(services, ledger, as_of) -> runs``: pure in what it decides; it reads the store's history through services.
EventSource = Callable[[Any, Ledger, date], Sequence[EventRun]]
