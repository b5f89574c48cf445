"""Runs decided by events rather than by aging columns: a debt paid after the robots wrote, a promise broken.

Each source is a function ``(services, ledger, as_of) -> list[EventRun]``, pure in what it decides (it reads the
store's history through ``services``, never the clock). The tick records the runs after the evaluation, each once by
its key (``runs.run_key`` is unique), and the runner executes them like any other run. A source decides each event
once: its key names the event (``<contract>|paid|<day>``, ``<contract>|promise_broken:<id>|<day>``) and the
source checks the history so that the same episode never yields a second run on a later day.
"""

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


EventSource = Callable[[Any, Ledger, date], Sequence[EventRun]]


def sources() -> list[EventSource]:
    from robots.engine.people import promise_events
    from robots.engine.events.paid import paid_events

    return [paid_events, promise_events]


def decide_events(services: Any, ledger: Ledger, as_of: date) -> list[EventRun]:
    runs: list[EventRun] = []
    for source in sources():
        runs.extend(source(services, ledger, as_of))
    return runs
