"""The scenario runner: claims decided runs and executes their steps, durably, one step at a time.

A claim is a lease with a fencing token (robots.store.Fence), taken and renewed from the services' clock, never
from the business ``now`` of the pass: renewed with every step's start and end, by a heartbeat thread while a
long step runs (a slow TSA, a slow SMTP server, a UI robot), and checked right before each side effect
(``StepContext.ensure_lease``). A process that lost the lease (it stalled past the lease and another claimed the
run) stops that run's work at once, logs ``lease_lost`` with the run id, and writes nothing more for it.

Each step's start and end are written to the store. After a crash the next runner skips the steps marked done
(reusing their recorded output) and re-executes the one that was under way; steps are idempotent, so nothing is
duplicated. Failures are classified: a :class:`~robots.core.errors.BusinessError` fails the run at once (a human must
look); anything else is an application error, retried on later passes until ``runner.max_attempts``. An external
system that is down (:class:`~robots.core.errors.Unavailable`) parks the run until it may be tried again: waiting
is not a failed attempt, and the work is never dropped.
"""

from __future__ import annotations

import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import structlog

from robots.core.errors import BusinessError, LeaseLost, Unavailable
from robots.core.expressions import ExpressionError, truth
from robots.engine.services import Services
from robots.steps import REGISTRY, Stop, Wait
from robots.steps.context import LetterInvoice, StepContext
from robots.store import Fence, RunRecord, RunStatus, StepStatus, Store
from robots.support.clock import Clock

log = structlog.get_logger("arbots.runner")


@dataclass
class RunnerReport:
    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    #: Runs this process stopped working on because another process holds their lease now.
    lost: list[int] = field(default_factory=list)

#: A fencing check within this share of the lease after the store last confirmed it needs no round trip.
FRESH = 0.1
#: A run parked for an Unavailable system without a retry time tries again after this long.
UNAVAILABLE_RETRY = timedelta(minutes=5)


def process_owner() -> str:
    """Lease owner id: host, pid and a nonce (so a recycled pid is never mistaken for the old owner)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    """This process's hold on one claimed run: renewals, the fencing check, and the heartbeat of long steps."""

    def __init__(self, store: Store, fence: Fence, clock: Clock, length: timedelta):
        self.store, self.fence, self.clock, self.length = store, fence, clock, length
        self.lost: str | None = None  # why, once this process knows it lost the lease
        #: When the store last confirmed this fence (a renewal to that moment + length).
        self.renewed_at: datetime | None = None

    def until(self) -> datetime:
        return self.clock.now() + self.length

    def check(self, what: str) -> None:
        """Go on only while this process holds the lease; else raise LeaseLost.

        The fence was confirmed by the store (a conditional UPDATE on owner and token that moved the expiry to
        then + length) either just now or less than ``FRESH`` of the lease ago: no other process can claim the
        run before that expiry, so a check that soon after the last confirmation needs no round trip (the step's
        own start record usually is that confirmation). Otherwise the lease is renewed now."""
        if self.lost is None:
            now = self.clock.now()
            if self.renewed_at is not None and now - self.renewed_at < self.length * FRESH:
                return
            if self.store.renew_lease(self.fence, now + self.length):
                self.renewed_at = now
            else:
                self.lost = f"before {what}"
        if self.lost is not None:
            raise LeaseLost(self.fence.run_id, self.lost)

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Renew the lease every third of its length (wall time) while the body runs."""
        stop = threading.Event()
        interval = max(0.05, self.length.total_seconds() / 3)

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    now = self.clock.now()
                    if not self.store.renew_lease(self.fence, now + self.length):
                        self.lost = "the heartbeat found the lease taken"
                        return
                    self.renewed_at = now
                except Exception:  # the database is away for a moment: the next beat tries again
                    log.warning("lease_heartbeat_failed", run_id=self.fence.run_id, exc_info=True)

        thread = threading.Thread(target=beat, name=f"lease-{self.fence.run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


class Runner:
    def __init__(self, services: Services, owner: str | None = None):
        self.services = services
        self.store = services.store
        self.clock: Clock = services.clock
        self.owner = owner or process_owner()
        self.lease = timedelta(seconds=services.config.settings.runner.lease_seconds)

    def reclaim_orphans(self) -> int:
        """Give back runs whose claimant on this host died (``kill -9``), without waiting for the lease."""
        host = socket.gethostname()
        freed = 0
        for run_id, owner in self.store.running_leases():
            parts = owner.split(":")
            if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not _pid_alive(int(parts[1])):
                if self.store.release_lease(run_id, owner):
                    log.warning("run_reclaimed", run_id=run_id, dead_owner=owner)
                    freed += 1
        return freed

    def run_pending(self, now: datetime, progress: Callable[[RunRecord], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> RunnerReport:
        """Execute every runnable run once (a run that fails retryably waits for the next pass).

        ``should_stop`` is asked between runs (SIGTERM: the run under way finishes, no new one is claimed)."""
        self.reclaim_orphans()
        report = RunnerReport()
        last = 0
        while not (should_stop and should_stop()) and (run := self.store.claim_run(
                self.owner, now, self.lease, after=last, lease_now=self.clock.now())) is not None:
            last = run.id
            status = self.execute(run, now)
            if status is None:
                report.lost.append(run.id)
            else:
                {RunStatus.DONE: report.done, RunStatus.FAILED: report.failed,
                 RunStatus.WAITING: report.waiting}.get(status, report.retry).append(run.id)
            if progress:
                progress(run)
        return report

    def execute(self, run: RunRecord, now: datetime) -> RunStatus | None:
        """Run a claimed run's remaining steps; its new status, or None when the lease was lost on the way."""
        bound = log.bind(run_id=run.id, contract_id=run.contract_id, column=run.column_id, scenario=run.scenario)
        lease = Lease(self.store, run.fence(self.owner), self.clock, self.lease)
        try:
            return self._execute(run, now, lease, bound)
        except LeaseLost as exc:
            bound.error("lease_lost", error=str(exc), attempts=run.attempts,
                        reason="this process stalled past the run's lease and another process claimed it; "
                               "its work on the run stops here")
            return None

    def _execute(self, run: RunRecord, now: datetime, lease: Lease, bound) -> RunStatus:
        fence = lease.fence

        def mark(idx: int, kind: str, status: StepStatus, **kw) -> None:
            at = self.clock.now()
            self.store.mark_step(run.id, idx, kind, status, now, fence=fence, lease_until=at + lease.length, **kw)
            lease.renewed_at = at

        try:
            ctx = self._context(run, now)
        except BusinessError as exc:
            return self._finish(run, fence, RunStatus.FAILED, now, str(exc), bound)
        ctx.guard = lease.check
        scenario = self.services.config.scenarios[run.scenario]
        self.store.plan_steps(run.id, [cfg.kind for cfg in scenario.steps], now)
        states = self.store.step_states(run.id)
        for idx, cfg in enumerate(scenario.steps):
            key = cfg.id or f"step{idx}"
            status, output = states.get(idx, (None, None))
            if status in (StepStatus.DONE, StepStatus.SKIPPED) and output is not None:
                REGISTRY[cfg.kind].keep(ctx, key, output)
                continue
            ctx.step_idx = idx
            if cfg.when is not None:
                try:
                    go = truth(cfg.when, ctx.expression_names())
                except ExpressionError as exc:
                    mark(idx, cfg.kind, StepStatus.FAILED, error=str(exc))
                    return self._finish(run, fence, RunStatus.FAILED, now, f"step {idx} ({cfg.kind}) when: {exc}",
                                        bound)
                if not go:
                    output = {"kind": "skipped", "when": cfg.when}
                    mark(idx, cfg.kind, StepStatus.SKIPPED, output=output)
                    REGISTRY[cfg.kind].keep(ctx, key, output)
                    continue
            mark(idx, cfg.kind, StepStatus.RUNNING)  # renews the lease before the step
            try:
                with lease.heartbeat():
                    output = REGISTRY[cfg.kind]().run(cfg, ctx)
            except LeaseLost:
                raise
            except Wait as exc:
                return self._wait(run, lease, idx, cfg.kind, exc.until, exc.reason, now, bound)
            except Unavailable as exc:
                # Business time moves with the clock in production; translate the system's retry time into the
                # pass's timeline, so tests with a business day far from the wall clock wait as long.
                delay = (exc.retry_at - self.clock.now()) if exc.retry_at is not None else UNAVAILABLE_RETRY
                until = now + max(delay, timedelta(seconds=1))
                bound.warning("run_waiting_for_system", step=idx, kind=cfg.kind, system=exc.system,
                              reason=str(exc), until=until.isoformat())
                return self._wait(run, lease, idx, cfg.kind, until, str(exc), now, bound, quiet=True)
            except Stop as exc:
                mark(idx, cfg.kind, StepStatus.DONE, output={**exc.output, "stopped": exc.reason})
                for later in range(idx + 1, len(scenario.steps)):
                    mark(later, scenario.steps[later].kind, StepStatus.SKIPPED,
                         output={"kind": "skipped", "stopped": exc.reason})
                bound.info("run_stopped", step=idx, kind=cfg.kind, reason=exc.reason)
                return self._finish(run, fence, RunStatus.DONE, now, None, bound,
                                    outcome=f"stopped at step {idx} ({cfg.kind}): {exc.reason}")
            except BusinessError as exc:
                mark(idx, cfg.kind, StepStatus.FAILED, error=str(exc))
                return self._finish(run, fence, RunStatus.FAILED, now, f"step {idx} ({cfg.kind}): {exc}", bound)
            except Exception as exc:  # an application error: retried on a later pass
                detail = f"step {idx} ({cfg.kind}): {type(exc).__name__}: {exc}"
                mark(idx, cfg.kind, StepStatus.FAILED, error=detail)
                bound.debug("step_traceback", traceback=traceback.format_exc())
                exhausted = run.attempts >= self.services.config.settings.runner.max_attempts
                return self._finish(run, fence, RunStatus.FAILED if exhausted else RunStatus.PENDING, now, detail,
                                    bound)
            if lease.lost is not None:  # the heartbeat found the lease taken while the step ran
                raise LeaseLost(run.id, lease.lost)
            mark(idx, cfg.kind, StepStatus.DONE, output=output)
            REGISTRY[cfg.kind].keep(ctx, key, output)
            bound.info("step_done", step=idx, kind=cfg.kind)
        return self._finish(run, fence, RunStatus.DONE, now, None, bound)

    def _wait(self, run: RunRecord, lease: Lease, idx: int, kind: str, until: datetime | None, reason: str,
              now: datetime, bound, *, quiet: bool = False) -> RunStatus:
        self.store.mark_step(run.id, idx, kind, StepStatus.WAITING, now, error=reason, fence=lease.fence,
                             lease_until=lease.until())
        if not self.store.wait_run(run.id, lease.fence, until, f"step {idx} ({kind}): {reason}"):
            raise LeaseLost(run.id, f"parking step {idx} ({kind})")
        if not quiet:
            bound.info("run_waiting", step=idx, kind=kind, reason=reason, until=until.isoformat() if until else None)
        return RunStatus.WAITING

    def _finish(self, run: RunRecord, fence: Fence, status: RunStatus, now: datetime, error: str | None, bound,
                *, outcome: str | None = None) -> RunStatus:
        if not self.store.finish_run(run.id, fence, status, now, error, outcome=outcome):
            raise LeaseLost(run.id, f"finishing the run as {status.value}")
        if status is RunStatus.DONE:
            bound.info("run_done")
        elif status is RunStatus.FAILED:
            bound.error("run_failed", error=error, attempts=run.attempts)
        else:
            bound.warning("run_will_retry", error=error, attempts=run.attempts)
        return status

    def _context(self, run: RunRecord, now: datetime) -> StepContext:
        store, config = self.store, self.services.config
        if run.scenario not in config.scenarios:
            raise BusinessError(f"scenario {run.scenario!r} no longer exists in the configuration")
        subject = store.run_subject(run)
        if subject is None:
            raise BusinessError(f"contract {run.contract_id!r} is no longer in the ledger")
        contract, counterparty = subject.contract, subject.counterparty
        letters = []
        for item in run.invoices:
            inv = subject.invoices.get(item["id"])
            if inv is None:
                raise BusinessError(f"invoice {item['id']!r} is no longer in the ledger")
            letters.append(LetterInvoice(inv, Decimal(item["open_amount"]), int(item["days_past_due"])))
        letters.sort(key=lambda x: (x.invoice.due_date, x.invoice.number, x.invoice.id))
        group = config.settings.groups.get(counterparty.group)
        column = next((col for col in group.columns if col.id == run.column_id), None) if group else None
        return StepContext(
            run=run, step_idx=0, now=now, counterparty=counterparty, contract=contract, invoices=tuple(letters),
            column_title=column.title if column else run.column_id, column_offset=column.offset if column else 0,
            services=self.services,
        )
