"""Open balance of every invoice on a given day (pure).

The allocation rules, in the order they apply:

1. Only invoices and payments dated on or before ``as_of`` exist on that day.
2. A payment that names an invoice of the same contract goes to that invoice, up to its amount. Whatever exceeds
   it joins the contract's credit pool.
3. Undirected payments and credit notes (negative invoices) join the credit pool.
4. The pool pays the contract's debts oldest due date first (ties by issue date, then id).
5. What is left of the pool stays as contract credit; it pays later invoices automatically the next day they exist.

Because the pool is applied as a whole, the result does not depend on the order payments arrived in.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from robots.core.domain import ZERO, Invoice, Ledger, Payment


@dataclass(frozen=True, slots=True)
class Balances:
    """Open amount per invoice (credit notes excluded) and unused credit per contract."""

    open: dict[str, Decimal]
    credit: dict[str, Decimal]

    def total_open(self) -> Decimal:
        return sum(self.open.values(), ZERO)


def _debt_order(inv: Invoice) -> tuple[date, date, str]:
    return (inv.due_date, inv.date, inv.id)


def open_balances(ledger: Ledger, as_of: date) -> Balances:
    """Allocate the payments of ``ledger`` known on ``as_of`` to its invoices."""
    return allocate(
        (i for i in ledger.invoices if i.date <= as_of),
        (p for p in ledger.payments if p.date <= as_of),
    )


def allocate(invoices: Iterable[Invoice], payments: Iterable[Payment]) -> Balances:
    """Allocate ``payments`` to ``invoices`` by the module's rules, ignoring dates."""
    debts: dict[str, list[Invoice]] = defaultdict(list)
    remaining: dict[str, Decimal] = {}
    pool: dict[str, Decimal] = defaultdict(lambda: ZERO)
    contract_of: dict[str, str] = {}

    for inv in invoices:
        if inv.is_credit_note:
            pool[inv.contract_id] -= inv.amount
        else:
            debts[inv.contract_id].append(inv)
            remaining[inv.id] = inv.amount
            contract_of[inv.id] = inv.contract_id

    for pay in payments:
        target = pay.invoice_id
        if target is not None and contract_of.get(target) == pay.contract_id:
            applied = min(pay.amount, remaining[target])
            remaining[target] -= applied
            pool[pay.contract_id] += pay.amount - applied
        else:
            pool[pay.contract_id] += pay.amount

    credit: dict[str, Decimal] = {}
    for contract_id, amount in pool.items():
        for inv in sorted(debts.get(contract_id, ()), key=_debt_order):
            if amount <= ZERO:
                break
            applied = min(amount, remaining[inv.id])
            remaining[inv.id] -= applied
            amount -= applied
        if amount > ZERO:
            credit[contract_id] = amount
    return Balances(open=remaining, credit=credit)


def total_open_on(ledger: Ledger, days: Sequence[date]) -> dict[date, Decimal]:
    """``open_balances(ledger, day).total_open()`` for each day, without allocating invoice by invoice.

    Whatever the order of allocation, a contract's payments and credit notes pay its debts up to their total:
    a directed payment pays its invoice and its excess joins the pool, which pays the rest. So a contract's open
    total on a day is ``max(0, debts - payments - credit notes)`` of what exists that day, and the sum over
    contracts is the receivables. Exact (Decimal), and one pass over the ledger for any number of days.
    """
    debts: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    paid: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for inv in ledger.invoices:
        if inv.is_credit_note:
            paid[inv.contract_id].append((inv.date, -inv.amount))
        else:
            debts[inv.contract_id].append((inv.date, inv.amount))
    for pay in ledger.payments:
        paid[pay.contract_id].append((pay.date, pay.amount))
    totals = dict.fromkeys(days, ZERO)
    for contract_id, items in debts.items():
        d_dates, d_sums = _cumulative(items)
        p_dates, p_sums = _cumulative(paid.get(contract_id, ()))
        for day in totals:
            i = bisect.bisect_right(d_dates, day)
            if not i:
                continue
            j = bisect.bisect_right(p_dates, day)
            left = d_sums[i - 1] - (p_sums[j - 1] if j else ZERO)
            if left > ZERO:
                totals[day] += left
    return totals


def _cumulative(items: Iterable[tuple[date, Decimal]]) -> tuple[list[date], list[Decimal]]:
    """Dates in order and the running sum of the amounts up to each date (inclusive)."""
    dates: list[date] = []
    sums: list[Decimal] = []
    running = ZERO
    for day, amount in sorted(items, key=lambda x: x[0]):
        running += amount
        if dates and dates[-1] == day:
            sums[-1] = running
        else:
            dates.append(day)
            sums.append(running)
    return dates, sums
