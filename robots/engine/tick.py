"""One robot cycle: sync, age, record what is due, run it. ``as_of`` and ``now`` are arguments, never read here.

The order is the exactly-once design: decide (pure), save the decision under unique constraints, then act.
A crash anywhere leaves either nothing recorded (the next tick decides again) or recorded runs that the next
tick resumes; a second tick for the same day finds nothing new to decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import structlog

from connectors.base import Connector, ConnectorUnavailable
from robots.core.aging import Evaluation, check_order, evaluate, state_key
from robots.core.errors import Unavailable
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
    """Age the ledger in the store and record the result, serialised against other robots.

    Incremental when it can be: the store keeps every open invoice's state from the last evaluation, so only the
    contracts that changed since (or have an entry taking effect), and the invoices that reach a column (or are
    held) are aged; the whole ledger is when there is no state yet, or the policy or the calendar changed. Either
    way the crossings and runs are those a whole evaluation finds, and the evaluation's totals are the ledger's.
    """
    store = services.store
    policy = services.config.policy()
    key = state_key(policy, services.calendar, as_of)
    with no_cyclic_gc(), store.evaluation() as tx:
        check_order(as_of, tx.last_as_of())
        scope = tx.scope(as_of, key)
        if scope is None:
            ledger, amounts, history = tx.load_ledger(), None, tx.history()
        else:
            ledger, amounts = tx.load_scope(scope)
            history = tx.history([i.id for i in ledger.invoices])
        ev = evaluate(ledger, policy, services.calendar, as_of, history, tx.holds(as_of), with_state=True,
                      open_amounts=amounts)
        tx.save_state(ev, scope, key)
        if scope is not None:  # the totals of the whole ledger, from the state of every open invoice
            total_open, total_overdue, open_invoices = tx.totals(as_of)
            ev = replace(ev, total_open=total_open, total_overdue=total_overdue, open_invoices=open_invoices)
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
    try:
        ledger = sync(services.config, store, now, connectors, breakers=services.breakers)
    except (ConnectorUnavailable, Unavailable) as exc:
        # The accounting system is away: the stored ledger stays, the runs already decided go on (their own steps
        # wait for what they need), and the day's evaluation waits for the next try of this tick (the daemon
        # retries it; the CLI exits 1). Deciding on a stale ledger could write to a customer who has paid.
        system = getattr(exc, "system", None) or getattr(exc, "connector_id", "connector")
        bound.warning("tick_sync_unavailable", system=system, error=str(exc),
                      consequence="the runs already decided go on; the evaluation waits for the next try")
        runner_report = (runner or Runner(services)).run_pending(now, progress, should_stop)
        raise Unavailable(system, getattr(exc, "retry_at", None),
                          f"the ledger could not be synced ({exc}); {len(runner_report.done)} runs already decided "
                          "were run, and the day's evaluation waits until the accounting system answers") from exc
    bound.info("synced", **ledger.counts())
    ev, run_ids = evaluate_and_record(services, as_of, now)
    event_ids = store.record_event_runs(decide_events(services, ledger, as_of), now)
    report = TickReport(as_of=as_of, new_runs=len(run_ids) + len(event_ids), evaluation=ev)
    for x in ev.decided:  # compact: a catch-up's skipped columns ride in the crossing that passed them
        (report.crossings if x.status == "run" else report.skipped)[x.column_id] += 1
        for column_id, _offset in x.skipped:
            report.skipped[column_id] += 1
    bound.info("evaluated", crossings=ev.crossing_count, runs=len(run_ids), held=ev.held,
               open_total=str(ev.total_open), overdue_total=str(ev.total_overdue))
    report.runner = (runner or Runner(services)).run_pending(now, progress, should_stop)
    bound.info("ran", done=len(report.runner.done), failed=len(report.runner.failed),
               retry=len(report.runner.retry), lost=len(report.runner.lost))
    return report
