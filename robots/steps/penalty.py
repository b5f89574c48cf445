"""``compute_penalty``: the penalty (or ст. 395 interest) accrued on the run's invoices by the run's day.

The engine is robots/penalties.py; this step feeds it the contract's ledger entries from the store as they stand
(invoices, credit notes and payments dated on or before the run's ``as_of``) and records the period-by-period
result. Nothing depends on the wall clock, so a step re-executed after a crash records the same output.

The output (Decimals as strings, dates as ISO strings, so it can be recorded)::

    {"kind": "penalty", "basis": "contractual", "through": "2026-03-20", "total": "1000.00", "capped": false,
     "cap_share": null, "invoices": [{"id", "number", "due_date", "accrues_from", "shifted", "principal", "total",
                                      "capped",
                   "periods": [{"start", "end", "base", "days", "rate", "rate_text", "year_days", "amount",
                                "capped"}]}]}

``when:`` expressions see its total as ``penalty``. Templates see it as ``steps.<id>``; the annex macro
``calculation`` in scenarios/templates/_penalty.j2 needs numbers and dates, which
:func:`robots.steps.penalty_view.penalty_view` gives back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from robots.core.errors import BusinessError
from robots.core.penalties import Accrual, PenaltyError, contract_timelines, penalty_for, shifted_due_date
from robots.documents.formatting import format_percent
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext


class ComputePenaltyConfig(StepConfig):
    kind: str = "compute_penalty"
    #: Overrides penalties.basis for this step: contractual or statutory (ГК РФ ст. 395).
    basis: Literal["contractual", "statutory"] | None = None

    computes_penalty = True

    def penalty_basis(self) -> str | None:
        return self.basis

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        settings = ctx.settings
        if settings is None:
            return []
        basis = self.basis or settings.penalties.basis
        if basis == "statutory" and not settings.penalties.key_rates:
            return [(("basis",), "statutory interest needs the key-rate table: set penalties.key_rates in "
                                 "schedules.yaml (docs/penalties.md)")]
        return []


def rate_text(rate: Decimal, year_days: int) -> str:
    """How the annex quotes a rate: ``0,1 % в день`` or ``21 % годовых``."""
    return f"{format_percent(rate)} {'годовых' if year_days else 'в день'}"


def invoice_output(invoice: Any, accrual: Accrual, accrues_from: date) -> dict[str, Any]:
    """One invoice's accrual as recorded (strings for Decimals and dates)."""
    return {
        "id": invoice.id, "number": invoice.number, "due_date": invoice.due_date.isoformat(),
        "accrues_from": accrues_from.isoformat(), "shifted": accrues_from != invoice.due_date + timedelta(days=1),
        "principal": str(invoice.amount), "total": str(accrual.total),
        "capped": accrual.capped,
        "periods": [{"start": p.start.isoformat(), "end": p.end.isoformat(), "base": str(p.base), "days": p.days,
                     "rate": str(p.rate), "rate_text": rate_text(p.rate, p.year_days), "year_days": p.year_days,
                     "amount": str(p.amount), "capped": p.capped} for p in accrual.periods],
    }


def compute(ctx: StepContext, basis: str | None = None) -> dict[str, Any]:
    """The penalty output for the run's invoices as of the run's day (also used by the lawsuit pack)."""
    config = ctx.services.config.settings.penalties
    through = ctx.run.as_of
    invoices, payments = ctx.services.store.contract_entries(ctx.contract.id, through)
    timelines = contract_timelines(invoices, payments)
    is_working = ctx.services.calendar.is_working
    rows, total, used, capped = [], Decimal("0.00"), "none", False
    for item in ctx.invoices:
        inv = item.invoice
        try:
            accrual = penalty_for(timelines.get(inv.id, ()), inv.due_date, through, principal=inv.amount,
                                  contract_rate=ctx.contract.penalty_rate_per_day, config=config,
                                  is_working=is_working, basis=basis)
        except PenaltyError as exc:
            raise BusinessError(f"invoice {inv.number}: {exc}") from exc
        used = accrual.basis
        total += accrual.total
        capped = capped or accrual.capped
        start = shifted_due_date(inv.due_date, is_working) if config.shift_due_date else inv.due_date
        rows.append(invoice_output(inv, accrual, start + timedelta(days=1)))
    return {"kind": "penalty", "basis": used, "through": through.isoformat(), "total": str(total),
            "capped": capped, "cap_share": None if config.cap_share is None else str(config.cap_share),
            "invoices": rows}


@register
class ComputePenaltyStep(Step):
    kind = "compute_penalty"
    config = ComputePenaltyConfig

    def run(self, cfg: ComputePenaltyConfig, ctx: StepContext) -> dict[str, Any]:
        return compute(ctx, cfg.basis)
