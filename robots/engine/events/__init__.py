"""Runs decided by events rather than by aging columns: a debt paid after the robots wrote, a promise broken.

Each source is a function ``(services, ledger, as_of) -> list[EventRun]``, pure in what it decides (it reads the
store's history through ``services``, never the clock). The tick records the runs after the evaluation, each once by
its key (``runs.run_key`` is unique), and the runner executes them like any other run. A source decides each event
once: its key names the event (``<contract>|paid|<day>``, ``<contract>|promise_broken:<id>|<day>``) and the
source checks the history so that the same episode never yields a second run on a later day.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from robots.core.domain import Ledger
from robots.engine.events.base import EventRun, EventSource
from robots.engine.events.paid import paid_events
from robots.engine.events.promises import promise_events

#: Every event source, in the order their runs are recorded.
SOURCES: tuple[EventSource, ...] = (paid_events, promise_events)


def decide_events(services: Any, ledger: Ledger, as_of: date) -> list[EventRun]:
    runs: list[EventRun] = []
    for source in SOURCES:
        runs.extend(source(services, ledger, as_of))
    return runs
