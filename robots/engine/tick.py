"""One robot cycle: sync, age, record what is due, run it. ``as_of`` and ``now`` are arguments, never read here.

The order is the exactly-once design: decide (pure), save the decision under unique constraints, then act.
A crash anywhere leaves either nothing recorded (the next tick decides again) or recorded runs that the next
tick resumes; a second tick for the same day finds nothing new to decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import structlog

from connectors.base import Connector
from robots.core.aging import Evaluation, check_order, evaluate
from robots.engine.events import decide_events
from robots.engine.runner import Runner, RunnerReport
from robots.engine.services import Services
from robots.engine.sync import sync
from robots.store import RunRecord
from robots.support.gcpause import no_cyclic_gc

log = structlog.get_logger("arbots.tick")


@dataclass
class TickReport:
    as_of: date
    crossings: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    new_runs: int = 0
    runner: RunnerReport = field(default_factory=RunnerReport)
    evaluation: Evaluation | None = None


def evaluate_and_record(services: Services, as_of: date, now: datetime) -> tuple[Evaluation, list[int]]:
    """Age the ledger in the store and record the result, serialised against other robots."""
    store = services.store
    with no_cyclic_gc():
        ledger = store.load_ledger()
        policy = services.config.policy()
        with store.evaluation() as tx:
            check_order(as_of, tx.last_as_of())
            ev = evaluate(ledger, policy, services.calendar, as_of, tx.history(), tx.holds(as_of))
            run_ids = tx.record(ev, now)
    return ev, run_ids


def tick(
    services: Services,
    as_of: date,
    now: datetime,
    *,
    connectors: Sequence[Connector] | None = None,
    runner: Runner | None = None,
    progress: Callable[[RunRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TickReport:
    """Sync, evaluate and record, then run what is runnable. Leases come from ``services.clock``;
    ``should_stop`` is asked between runs (the daemon's SIGTERM)."""
    store = services.store
    check_order(as_of, store.last_as_of())  # fail fast, before touching anything
    bound = log.bind(as_of=as_of.isoformat())
    ledger = sync(services.config, store, now, connectors)
    bound.info("synced", **ledger.counts())
    ev, run_ids = evaluate_and_record(services, as_of, now)
    event_ids = store.record_event_runs(decide_events(services, ledger, as_of), now)
    report = TickReport(as_of=as_of, new_runs=len(run_ids) + len(event_ids), evaluation=ev)
    for x in ev.crossings:
        (report.crossings if x.status == "run" else report.skipped)[x.column_id] += 1
    bound.info("evaluated", crossings=len(ev.crossings), runs=len(run_ids), held=ev.held,
               open_total=str(ev.total_open), overdue_total=str(ev.total_overdue))
    report.runner = (runner or Runner(services)).run_pending(now, progress, should_stop)
    bound.info("ran", done=len(report.runner.done), failed=len(report.runner.failed),
               retry=len(report.runner.retry), lost=len(report.runner.lost))
    return report
