"""Small builders for ledgers in core tests (pure values, fixed dates)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from robots.core.domain import (
    AgingPolicy,
    CatchUp,
    Column,
    Contract,
    Counterparty,
    DayCount,
    GroupSchedule,
    Invoice,
    Ledger,
    Payment,
)
from robots.core.workdays import WorkCalendar

D = Decimal
DUE = date(2026, 3, 10)  # a Tuesday

COLUMNS = (
    Column("before_due_3", -3, "reminder"),
    Column("overdue_1", 1, "request"),
    Column("overdue_2", 2, "demand"),
    Column("overdue_10", 10, "legal"),
)


def policy(catch_up: CatchUp = CatchUp.LATEST, days: DayCount = DayCount.CALENDAR, **kw) -> AgingPolicy:
    groups = {"default": GroupSchedule("default", days, COLUMNS)}
    return AgingPolicy(groups=groups, tolerance=D("1.00"), catch_up=catch_up, **kw)


def weekdays() -> WorkCalendar:
    return WorkCalendar(lambda d: d.weekday() < 5)


def inv(id: str, amount: str, due: date = DUE, contract: str = "C1", issued: date | None = None,
        number: str | None = None) -> Invoice:
    return Invoice(id, number or id, contract, issued or due - timedelta(days=30), due, D(amount))


def pay(id: str, amount: str, on: date, contract: str = "C1", invoice: str | None = None) -> Payment:
    return Payment(id, contract, on, D(amount), invoice)


def ledger(invoices=(), payments=(), contracts=("C1",), group: str = "default") -> Ledger:
    return Ledger(
        counterparties=(Counterparty("P1", "ООО «Ромашка»", "7701234567", "a@b.ru", group),),
        contracts=tuple(Contract(c, f"№{c}", "P1", 30) for c in contracts),
        invoices=tuple(invoices),
        payments=tuple(payments),
    )
