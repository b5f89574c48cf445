"""Builders of pure values for every test folder: ledgers, payments, aging policies, all on fixed dates.

``inv``/``pay``/``ledger`` build small hand-made ledgers (one customer P1, contracts C1...); ``simple_ledger``
builds the ledger of ``contracts`` customers the world tests write as CSV files. Worlds (a config on disk, a store,
services) live in tests/worlds.py."""

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
#: The due date of every invoice the builders make unless told otherwise.
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


def simple_ledger(contracts: int = 3, due: date = DUE, paid: dict[str, str] | None = None) -> Ledger:
    """``contracts`` customers with one contract each; contract 0 has two invoices, the others one.

    C000 owes 1000.00 + 250.50 = 1250.50, C00n owes 1000.00 + n; ``paid`` maps an invoice id to an amount paid
    ten days before ``due``."""
    cps, cts, invs = [], [], []
    for n in range(contracts):
        cps.append(Counterparty(f"P{n:03d}", f"ООО «Клиент {n}»", f"77{n:08d}", f"c{n}@example.ru", "default"))
        cts.append(Contract(f"C{n:03d}", f"{n}/2026-Б", f"P{n:03d}", 30, "RUB", D("0.001")))
        invs.append(Invoice(f"I{n:03d}", f"{100 + n}", f"C{n:03d}", due - timedelta(days=30), due,
                            D("1000.00") + n))
    invs.append(Invoice("I-extra", "999", "C000", due - timedelta(days=30), due, D("250.50")))
    pays = tuple(Payment(f"PAY-{i}", next(x.contract_id for x in invs if x.id == i), due - timedelta(days=10),
                         D(a), i) for i, a in (paid or {}).items())
    return Ledger(tuple(cps), tuple(cts), tuple(invs), pays)
