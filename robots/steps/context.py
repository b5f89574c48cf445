"""What a step sees while it runs: the run, the debts it is about, earlier steps' outputs, and the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from robots.domain import Contract, Counterparty, Invoice
from robots.store.records import RunRecord


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
    services: Any  # robots.runner.Services; typed loosely to keep steps free of the runner's imports
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total_open(self) -> Decimal:
        return sum((i.open_amount for i in self.invoices), Decimal("0"))

    def document_number(self, nth: int = 1) -> str:
        base = f"ARB-{self.run.as_of:%Y}-{self.run.id:06d}"
        return base if nth == 1 else f"{base}/{nth}"

    def template_context(self) -> dict[str, Any]:
        s = self.services.config.settings
        cp, ct = self.counterparty, self.contract
        return {
            "company": s.company.model_dump(),
            "counterparty": {"id": cp.id, "name": cp.name, "inn": cp.inn, "email": cp.email},
            "contract": {"id": ct.id, "number": ct.number, "currency": ct.currency,
                         "payment_days": ct.payment_days, "penalty_rate_per_day": ct.penalty_rate_per_day},
            "invoices": [i.as_template() for i in self.invoices],
            "total_open": self.total_open,
            "as_of": self.run.as_of,
            "column": {"id": self.run.column_id, "title": self.column_title, "offset": self.column_offset},
        }
