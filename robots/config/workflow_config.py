"""Events beyond aging columns (a debt paid, a promise broken), approvals and the pre-send reconciliation."""

from __future__ import annotations

from pydantic import Field

from robots.support.config_types import Frozen, Identifier


class EventsConfig(Frozen):
    """Scenarios run on events rather than on aging columns. Unset = nothing runs for that event."""

    #: A contract the robots wrote to (or blocked) has no overdue debt left: closing letter, unblock.
    paid: Identifier | None = None
    #: A promise to pay passed its date plus the grace period without the promised amount arriving.
    promise_broken: Identifier | None = None


class ApprovalsConfig(Frozen):
    #: An approval nobody decided within this many hours escalates to the approver's deputy (roles.X.deputy).
    escalate_after_hours: float = Field(default=24, gt=0, le=24 * 60)


class ReconciliationConfig(Frozen):
    #: The reconcile step refuses (waits) when the last good sync is older than this.
    max_sync_age_hours: float = Field(default=24, gt=0, le=24 * 30)
