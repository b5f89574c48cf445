"""Plain records read from the store, and the state enums of runs and steps."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import Any


class RunStatus(enum.StrEnum):
    PENDING = "pending"  # decided, not started (or given back after a crash or a retryable failure)
    RUNNING = "running"  # claimed by a process holding a lease
    WAITING = "waiting"  # a step waits (an approval, the sending window, a fresh sync) until wake_at or a wake-up
    DONE = "done"  # every step done or skipped; ``outcome`` says why a run stopped early
    FAILED = "failed"  # a business error, or attempts exhausted: a human must look


class StepStatus(enum.StrEnum):
    PENDING = "pending"  # planned when the run was first claimed
    RUNNING = "running"  # started; after a crash it runs again (steps are idempotent)
    WAITING = "waiting"  # the step asked to be run again later (see RunStatus.WAITING)
    DONE = "done"
    SKIPPED = "skipped"  # its ``when:`` was false, or an earlier step stopped the run
    FAILED = "failed"


@dataclass(frozen=True)
class Fence:
    """Who holds a run's lease: the claimant (host:pid:nonce) and the claim's token (the run's attempt counter
    right after the claim). Writes that only the holder may make are conditional on all three."""

    run_id: int
    owner: str
    token: int


@dataclass(frozen=True)
class RunRecord:
    id: int
    run_key: str
    contract_id: str
    column_id: str
    scenario: str
    as_of: date
    #: Per invoice as decided: {"id", "open_amount" (Decimal as text), "days_past_due"}.
    invoices: tuple[dict[str, Any], ...]
    attempts: int

    @property
    def invoice_ids(self) -> tuple[str, ...]:
        return tuple(i["id"] for i in self.invoices)

    def fence(self, owner: str) -> Fence:
        """The fence of this claim (a record returned by ``Store.claim_run``)."""
        return Fence(self.id, owner, self.attempts)

    @classmethod
    def from_row(cls, row: Any) -> RunRecord:
        return cls(
            id=row.id,
            run_key=row.run_key,
            contract_id=row.contract_id,
            column_id=row.column_id,
            scenario=row.scenario,
            as_of=row.as_of,
            invoices=tuple(row.invoices),
            attempts=row.attempts,
        )
