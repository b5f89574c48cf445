"""The scenario runner: claims decided runs and executes their steps, durably, one step at a time.

Each step's start and end are written to the store. After a crash the next runner skips the steps marked done
(reusing their recorded output) and re-executes the one that was under way; steps are idempotent, so nothing is
duplicated. Failures are classified: a :class:`~robots.core.errors.BusinessError` fails the run at once (a human must
look); anything else is an application error, retried on later passes until ``runner.max_attempts``.
"""

from __future__ import annotations

import os
import socket
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import structlog

from robots.core.errors import BusinessError
from robots.core.expressions import ExpressionError, truth
from robots.engine.services import Services
from robots.steps import REGISTRY, Stop, Wait
from robots.steps.context import LetterInvoice, StepContext
from robots.store import RunRecord, RunStatus, StepStatus

log = structlog.get_logger("arbots.runner")


@dataclass
class RunnerReport:
    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)


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


class Runner:
    def __init__(self, services: Services, owner: str | None = None):
        self.services = services
        self.store = services.store
        self.owner = owner or process_owner()

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

    def run_pending(self, now: datetime, progress: Callable[[RunRecord], None] | None = None) -> RunnerReport:
        """Execute every runnable run once (a run that fails retryably waits for the next pass)."""
        self.reclaim_orphans()
        report = RunnerReport()
        lease = timedelta(seconds=self.services.config.settings.runner.lease_seconds)
        last = 0
        while (run := self.store.claim_run(self.owner, now, lease, after=last)) is not None:
            last = run.id
            status = self.execute(run, now)
            {RunStatus.DONE: report.done, RunStatus.FAILED: report.failed,
             RunStatus.WAITING: report.waiting}.get(status, report.retry).append(run.id)
            if progress:
                progress(run)
        return report

    def execute(self, run: RunRecord, now: datetime) -> RunStatus:
        bound = log.bind(run_id=run.id, contract_id=run.contract_id, column=run.column_id, scenario=run.scenario)
        try:
            ctx = self._context(run, now)
        except BusinessError as exc:
            return self._finish(run, RunStatus.FAILED, now, str(exc), bound)
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
                    self.store.mark_step(run.id, idx, cfg.kind, StepStatus.FAILED, now, error=str(exc))
                    return self._finish(run, RunStatus.FAILED, now, f"step {idx} ({cfg.kind}) when: {exc}", bound)
                if not go:
                    output = {"kind": "skipped", "when": cfg.when}
                    self.store.mark_step(run.id, idx, cfg.kind, StepStatus.SKIPPED, now, output=output)
                    REGISTRY[cfg.kind].keep(ctx, key, output)
                    continue
            self.store.mark_step(run.id, idx, cfg.kind, StepStatus.RUNNING, now)
            try:
                output = REGISTRY[cfg.kind]().run(cfg, ctx)
            except Wait as exc:
                self.store.mark_step(run.id, idx, cfg.kind, StepStatus.WAITING, now, error=exc.reason)
                self.store.wait_run(run.id, self.owner, exc.until, f"step {idx} ({cfg.kind}): {exc.reason}")
                bound.info("run_waiting", step=idx, kind=cfg.kind, reason=exc.reason,
                           until=exc.until.isoformat() if exc.until else None)
                return RunStatus.WAITING
            except Stop as exc:
                self.store.mark_step(run.id, idx, cfg.kind, StepStatus.DONE, now,
                                     output={**exc.output, "stopped": exc.reason})
                for later in range(idx + 1, len(scenario.steps)):
                    self.store.mark_step(run.id, later, scenario.steps[later].kind, StepStatus.SKIPPED, now,
                                         output={"kind": "skipped", "stopped": exc.reason})
                bound.info("run_stopped", step=idx, kind=cfg.kind, reason=exc.reason)
                self.store.finish_run(run.id, self.owner, RunStatus.DONE, now, None,
                                      outcome=f"stopped at step {idx} ({cfg.kind}): {exc.reason}")
                return RunStatus.DONE
            except BusinessError as exc:
                self.store.mark_step(run.id, idx, cfg.kind, StepStatus.FAILED, now, error=str(exc))
                return self._finish(run, RunStatus.FAILED, now, f"step {idx} ({cfg.kind}): {exc}", bound)
            except Exception as exc:  # an application error: retried on a later pass
                detail = f"step {idx} ({cfg.kind}): {type(exc).__name__}: {exc}"
                self.store.mark_step(run.id, idx, cfg.kind, StepStatus.FAILED, now, error=detail)
                bound.debug("step_traceback", traceback=traceback.format_exc())
                exhausted = run.attempts >= self.services.config.settings.runner.max_attempts
                return self._finish(run, RunStatus.FAILED if exhausted else RunStatus.PENDING, now, detail, bound)
            self.store.mark_step(run.id, idx, cfg.kind, StepStatus.DONE, now, output=output)
            REGISTRY[cfg.kind].keep(ctx, key, output)
            bound.info("step_done", step=idx, kind=cfg.kind)
        return self._finish(run, RunStatus.DONE, now, None, bound)

    def _finish(self, run: RunRecord, status: RunStatus, now: datetime, error: str | None, bound) -> RunStatus:
        self.store.finish_run(run.id, self.owner, status, now, error)
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
