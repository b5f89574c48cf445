"""``reconcile``: before a demand or claim goes out, re-read that debt's payments from the connectors.

1. A ledger older than ``reconciliation.max_sync_age_hours`` (the last good sync, against the run's ``now``) is
   not trusted: the step waits (``Wait(until=None)``) and the next good sync wakes it
   (:func:`robots.engine.sync.wake_reconciliations`). Not a retry time: a clock-based retry would only find the same
   stale ledger again, whereas every successful sync (the tick's or ``run_robots.py sync``) is exactly the moment
   the step can go on. The run is never lost: it stays waiting, visible, until then.
2. The contract's payments are read now (``services.fresh_payments``, :func:`robots.engine.sync.fresh_payments`: the
   connector's ``payments_for`` when it has one, else a full fetch filtered), validated like a sync.
3. The run's invoices are re-allocated with the store's invoices and the fresh payments. Nothing left above
   ``aging.tolerance``: ``Stop("paid before sending: ...")``, no letter goes. Partly paid: the output is
   ``{"kind": "reconciliation", "invoices": [{"id", "open_amount"}], ...}``, which the runner applies to the
   run's invoices for the later steps. A fresh amount never exceeds the decided one (a payment missing from the
   fresh read must not raise a claim); such payments are listed under ``missing_payments``.

A connector that cannot be reached, or sends invalid data, is a retryable error: no letter goes meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from robots.core.balances import allocate
from robots.steps.base import CheckContext, Step, StepConfig, Stop, Wait, register
from robots.steps.context import StepContext
from robots.store.ledger import stored_payments

ZERO = Decimal("0")
class ReconcileConfig(StepConfig):
    kind: str = "reconcile"
    waits_for_sync = True

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        late = [s.kind for s in earlier if s.sends_letter]  # a reconcile step after them guards nothing
        if late:
            return [((), f"reconcile comes after a {late[0]} step, so it cannot stop that letter; move it to the "
                          "start of the scenario")]
        return []


def reconcile_amounts(decided: dict[str, Decimal], fresh_open: dict[str, Decimal]) -> dict[str, Decimal]:
    """Per invoice of the run: the fresh open amount, never above what was decided (pure)."""
    return {i: min(amount, fresh_open.get(i, ZERO)) for i, amount in decided.items()}


@register
class ReconcileStep(Step):
    kind = "reconcile"
    config = ReconcileConfig

    def run(self, cfg: ReconcileConfig, ctx: StepContext) -> dict[str, Any]:
        return reconcile_now(ctx)

    @classmethod
    def keep(cls, ctx: StepContext, key: str, output: dict[str, Any]) -> None:
        """Later steps of the run see the re-read amounts: the letter states them, and an invoice paid up to a few
        kopecks (``aging.tolerance``) leaves the letter."""
        super().keep(ctx, key, output)
        if output.get("kind") == "reconciliation":
            fresh = {i["id"]: Decimal(i["open_amount"]) for i in output.get("invoices", ())}
            tolerance = ctx.services.config.settings.aging.tolerance
            ctx.invoices = tuple(replace(li, open_amount=fresh.get(li.invoice.id, li.open_amount))
                                 for li in ctx.invoices if fresh.get(li.invoice.id, li.open_amount) > tolerance)


def reconcile_now(ctx: StepContext) -> dict[str, Any]:
    """Re-read this run's payments and reconcile (the module's steps 1-3): the output, or Wait, or Stop."""
    services, store, run = ctx.services, ctx.services.store, ctx.run
    settings = services.config.settings
    max_age = timedelta(hours=settings.reconciliation.max_sync_age_hours)
    last = store.last_sync_at()
    if last is None or ctx.now - last > max_age:
        when = "never synced" if last is None else f"last good sync at {last.isoformat(timespec='minutes')}"
        raise Wait(f"the ledger is too old to send on ({when}; reconciliation.max_sync_age_hours is "
                   f"{settings.reconciliation.max_sync_age_hours:g}); waiting for the next good sync")

    contract_id = ctx.contract.id
    payments, connectors = services.fresh_payments(contract_id)
    through = max(run.as_of, ctx.now.date())
    invoices, _ = store.contract_entries(contract_id, through)
    fresh_open = allocate(invoices, payments).open
    decided = {li.invoice.id: li.open_amount for li in ctx.invoices}
    amounts = reconcile_amounts(decided, fresh_open)

    stored = stored_payments(store, contract_id)
    new = [x for x in payments if x.id not in stored]
    fresh_ids = {x.id for x in payments}
    output = {
        "kind": "reconciliation",
        "connectors": connectors,
        "invoices": [{"id": i, "open_amount": str(a)} for i, a in amounts.items()],
        "decided_total": str(sum(decided.values(), ZERO)),
        "open_total": str(sum(amounts.values(), ZERO)),
        "paid_since_sync": str(sum((x.amount for x in new), ZERO)),
        "new_payments": [{"id": x.id, "date": x.date.isoformat(), "amount": str(x.amount)} for x in new],
        "missing_payments": sorted(set(stored) - fresh_ids),
        "checked_at": ctx.now.isoformat(),
    }
    left = sum(amounts.values(), ZERO)
    if left <= settings.aging.tolerance:
        raise Stop(f"paid before sending: {output['decided_total']} decided, {left} left "
                   f"(payments since the last sync: {output['paid_since_sync']})", output)
    return output
