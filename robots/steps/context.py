"""What a step sees while it runs: the run, the debts it is about, earlier steps' outputs, and the services."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from robots.core.balances import allocate
from robots.core.discounts import discount_offers
from robots.core.domain import Contract, Counterparty, Invoice
from robots.steps.base import Services
from robots.steps.penalty_view import penalty_view
from robots.store.archive_index import documents_of_other_runs
from robots.store.people import promises_broken
from robots.store.records import RunRecord
from robots.store.runs import earlier_runs
from robots.store.shipments import is_blocked

_UNNAMED = re.compile(r"step\d+")  # the runner's key for a step without an id


@dataclass(frozen=True)
class LetterInvoice:
    invoice: Invoice
    open_amount: Decimal
    days_past_due: int

    def as_template(self) -> dict[str, Any]:
        i = self.invoice
        return {"id": i.id, "number": i.number, "date": i.date, "due_date": i.due_date, "amount": i.amount,
                "open_amount": self.open_amount, "days_past_due": self.days_past_due}


@dataclass
class StepContext:
    run: RunRecord
    step_idx: int
    now: datetime
    counterparty: Counterparty
    contract: Contract
    invoices: tuple[LetterInvoice, ...]
    column_title: str
    column_offset: int
    services: Services
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The runner's fencing check (robots.engine.runner): raises LeaseLost when this process no longer holds
    #: the run's lease. A step calls :meth:`ensure_lease` right before each side effect.
    guard: Callable[[str], None] = field(default=lambda what: None, repr=False)

    def ensure_lease(self, what: str) -> None:
        """Fence ``what`` (a send, a signature, an archive write, a write-back, a task, a notification): go on
        only while this process still holds the run's lease, else :class:`~robots.core.errors.LeaseLost`."""
        self.guard(what)

    @property
    def total_open(self) -> Decimal:
        return sum((i.open_amount for i in self.invoices), Decimal("0"))

    def document_number(self, nth: int = 1) -> str:
        base = f"ARB-{self.run.as_of:%Y}-{self.run.id:06d}"
        return base if nth == 1 else f"{base}/{nth}"

    def expression_names(self) -> dict[str, Any]:
        """The names ``when:`` expressions see (robots.core.expressions.NAMES documents each)."""
        store, run = self.services.store, self.run
        invoices, payments = store.contract_entries(self.contract.id, run.as_of)
        open_ = allocate(invoices, payments).open
        due = {i.id: i.due_date for i in invoices}
        penalty = sum((Decimal(str(o.get("total", "0"))) for o in self.outputs.values() if o.get("kind") == "penalty"),
                      Decimal("0"))
        return {
            "debt": self.total_open,
            "contract_debt": sum(open_.values(), Decimal("0")),
            "overdue_debt": sum((v for k, v in open_.items() if due[k] < run.as_of), Decimal("0")),
            "penalty": penalty,
            "days_overdue": max((i.days_past_due for i in self.invoices), default=0),
            "invoices": len(self.invoices),
            "group": self.counterparty.group,
            "column": run.column_id,
            "currency": self.contract.currency,
            "letters": documents_of_other_runs(store, self.contract.id, run.id),
            "runs": earlier_runs(store, self.contract.id, run.id),
            "promises_broken": promises_broken(store, self.contract.id),
            "blocked": is_blocked(store, self.contract.id),
            "has_penalty_rate": bool(self.contract.penalty_rate_per_day),
            "has_email": bool(self.counterparty.email),
            "thresholds": dict(self.services.config.settings.thresholds),
            "steps": dict(self.outputs),
        }

    def template_context(self) -> dict[str, Any]:
        s = self.services.config.settings
        cp, ct = self.counterparty, self.contract
        return {
            "company": s.company.model_dump(),
            "counterparty": {"id": cp.id, "name": cp.name, "inn": cp.inn, "email": cp.email},
            "contract": {"id": ct.id, "number": ct.number, "currency": ct.currency,
                         "payment_days": ct.payment_days, "penalty_rate_per_day": ct.penalty_rate_per_day,
                         "discounts": [{"percent": share * 100, "days": days} for share, days in ct.discounts]},
            "invoices": [i.as_template() for i in self.invoices],
            "total_open": self.total_open,
            "as_of": self.run.as_of,
            "column": {"id": self.run.column_id, "title": self.column_title, "offset": self.column_offset},
            #: Earlier steps' outputs by step id, e.g. steps.penalty.periods for the calculation annex.
            "steps": {k: penalty_view(v) if v.get("kind") == "penalty" else v
                      for k, v in self.outputs.items() if not _UNNAMED.fullmatch(k)},
            "thresholds": dict(s.thresholds),
            "discount_offers": self.discount_offers(),
        }

    def discount_offers(self) -> list[dict[str, Any]]:
        """The contract's early-payment discounts still open on the run's day (robots.core.discounts)."""
        return discount_offers(((li.invoice, li.open_amount) for li in self.invoices), self.contract.discounts,
                               self.run.as_of)
