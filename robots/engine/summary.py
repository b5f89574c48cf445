"""Read-only figures from the store for people: what the robots did, and where the money stands."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from robots.store import RunStatus, Store, approvals, archive_index, deliveries, people, runs, shipments, tasks


@dataclass
class Summary:
    last_as_of: date | None
    crossings_run: Counter[str] = field(default_factory=Counter)
    crossings_skipped: Counter[str] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    documents: Counter[str] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    total_open: Decimal = Decimal("0")
    total_overdue: Decimal = Decimal("0")
    failed_runs: list[tuple[str, str]] = field(default_factory=list)
    last_sync_at: datetime | None = None
    #: The newest failed sync when it is newer than the last good one: (when, kind, message).
    sync_failure: tuple[datetime, str, str] | None = None
    #: Tasks open past their due date on the last evaluated day (rule violations), oldest deadline first.
    tasks_overdue: int = 0
    oldest_overdue: tuple[int, date, str, str] | None = None  # id, due_on, assignee, title
    #: E-mail deliveries by status (sending, sent, bounced, failed) and notifications that failed for good.
    deliveries: Counter[str] = field(default_factory=Counter)
    notifications_failed: int = 0
    #: Runs waiting (an approval, the sending window, a fresher sync): (run key, why), oldest first.
    waiting_runs: list[tuple[str, str]] = field(default_factory=list)
    approvals_pending: int = 0
    #: Contracts whose shipments the robots block now; open promises and disputes.
    blocked: int = 0
    promises_open: int = 0
    disputes_open: int = 0
    #: The daemons registered in the database: (host, pid, leader, last heartbeat, stale), the leader first.
    daemons: list[tuple[str, int, bool, datetime, bool]] = field(default_factory=list)
    #: External systems failing now (robots.store.outages): (system, consecutive failures, down since, last error).
    systems_down: list[tuple[str, int, datetime | None, str]] = field(default_factory=list)


def summarize(store: Store, *, now: datetime | None = None, stale_after: timedelta = timedelta(seconds=30)) -> Summary:
    """The figures of ``status``; ``now`` (the edge's clock) tells which daemons' heartbeats are stale."""
    from robots.store.daemons import list_daemons
    from robots.store.outages import system_states

    s = Summary(last_as_of=store.last_as_of())
    for d in list_daemons(store):
        s.daemons.append((d.host, d.pid, d.leader, d.heartbeat_at, now is not None and d.stale(now, stale_after)))
    s.systems_down = [(x.system, x.consecutive_failures, x.down_since, x.last_error or "")
                      for x in system_states(store) if x.consecutive_failures > 0]
    for column, status, n in runs.crossing_counts(store):  # in column order, so counters list columns by offset
        s.crossings_run.setdefault(column, 0)
        s.crossings_skipped.setdefault(column, 0)
        (s.crossings_run if status == "run" else s.crossings_skipped)[column] = n
    s.runs.update(runs.run_counts(store))
    s.documents.update(archive_index.document_counts(store))
    s.tasks.update(tasks.task_counts(store))
    totals = runs.last_totals(store)
    if totals is not None:
        s.total_open, s.total_overdue = totals
    s.last_sync_at = store.last_sync_at()
    failure = store.last_sync_failure()
    if failure is not None and (s.last_sync_at is None or failure.failed_at > s.last_sync_at):
        s.sync_failure = (failure.failed_at, failure.kind, failure.message)
    if s.last_as_of is not None:
        overdue = tasks.list_tasks(store, "overdue", s.last_as_of)
        s.tasks_overdue = len(overdue)
        if overdue:
            o = overdue[0]
            s.oldest_overdue = (o.id, o.due_on, o.assignee, o.title)
    s.deliveries.update(deliveries.delivery_counts(store))
    s.notifications_failed = tasks.failed_notifications(store)
    s.waiting_runs = [(key, error or "") for key, error in runs.runs_in_status(store, RunStatus.WAITING)]
    s.approvals_pending = len(approvals.list_approvals(store, pending_only=True))
    s.blocked = shipments.blocked_contracts(store)
    s.promises_open = len(people.promise_rows(store, status="open"))
    s.disputes_open = len(people.dispute_rows(store, open_only=True))
    s.failed_runs = [(key, error or "") for key, error in runs.runs_in_status(store, RunStatus.FAILED, limit=20)]
    return s


def render_summary(s: Summary) -> str:
    from robots.documents.formatting import format_money

    lines = [f"Last evaluation: {s.last_as_of.isoformat() if s.last_as_of else 'none yet'}"]
    if s.daemons:
        alive = sum(not stale for *_, stale in s.daemons)
        lines.append(f"Daemons: {alive} alive" + (f", {len(s.daemons) - alive} stale (killed or host lost; the "
                                                   "row goes when a daemon starts a week later)"
                                                   if alive < len(s.daemons) else ""))
        for host, pid, leader, beat, stale in s.daemons:
            role = "leader" if leader and not stale else "follower"
            lines.append(f"  {host} pid {pid}: {role}, last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC"
                         + ("  STALE" if stale else ""))
    else:
        lines.append("Daemons: none running")
    for system, failures, since, error in s.systems_down:
        lines.append(f"DOWN: {system}, {failures} consecutive failures"
                     + (f" since {since:%Y-%m-%d %H:%M UTC}" if since else "") + (f"; last: {error}" if error else "")
                     + " (the work that needs it waits; docs/operations.md, Alerts)")
    lines.append(f"Last good sync: {s.last_sync_at:%Y-%m-%d %H:%M UTC}" if s.last_sync_at else "Last good sync: none")
    if s.sync_failure is not None:
        when, kind, message = s.sync_failure
        lines.append(f"LAST SYNC FAILED ({kind}, {when:%Y-%m-%d %H:%M UTC}); the robots work from the last good "
                     "snapshot until it is fixed:")
        lines += [f"  {line}" for line in message.splitlines()[:12]]
    lines.append(f"Open receivables: {format_money(s.total_open)}; overdue: {format_money(s.total_overdue)}")
    columns = list(s.crossings_run)  # in column order (see summarize)
    if columns:
        lines.append("Crossings per column (scenario run / skipped by catch-up):")
        lines += [f"  {col:<16} {s.crossings_run[col]:>5} / {s.crossings_skipped[col]}" for col in columns]
    lines.append("Scenario runs: " + (", ".join(f"{k} {v}" for k, v in sorted(s.runs.items())) or "none"))
    lines.append(f"Documents archived: {sum(s.documents.values())}")
    lines += [f"  {title}: {n}" for title, n in sorted(s.documents.items())]
    lines.append(f"Tasks created: {sum(s.tasks.values())}")
    lines += [f"  {role}: {n}" for role, n in sorted(s.tasks.items())]
    if s.tasks_overdue and s.oldest_overdue is not None:
        task_id, due_on, assignee, title = s.oldest_overdue
        lines.append(f"{s.tasks_overdue} tasks overdue (rule violations); the oldest: #{task_id} due "
                     f"{due_on.isoformat()}, {assignee}: {title} (`task list --overdue`)")
    if s.deliveries:
        lines.append("E-mails: " + ", ".join(f"{k} {v}" for k, v in sorted(s.deliveries.items())))
    if s.notifications_failed:
        lines.append(f"Task notifications failed: {s.notifications_failed} (see the log: notification_failed)")
    if s.blocked or s.promises_open or s.disputes_open:
        lines.append(f"Shipments blocked by the robots: {s.blocked} contracts; open promises to pay: "
                     f"{s.promises_open}; open disputes: {s.disputes_open}")
    if s.waiting_runs:
        lines.append(f"Waiting runs: {len(s.waiting_runs)}" + (f" ({s.approvals_pending} for an approval: "
                                                              "`approval list --pending`)" if s.approvals_pending
                                                              else ""))
        lines += [f"  {key}: {why}" for key, why in s.waiting_runs[:10]]
        if len(s.waiting_runs) > 10:
            lines.append(f"  ... and {len(s.waiting_runs) - 10} more")
    if s.failed_runs:
        lines.append("Failed runs (need a human):")
        lines += [f"  {key}: {err}" for key, err in s.failed_runs]
    return "\n".join(lines)
