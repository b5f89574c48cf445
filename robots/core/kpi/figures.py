"""The figures of the readable report (pure): aging histogram and bands, top debtors, the cash-inflow plan.

Each is computed from a :class:`~robots.core.kpi.facts.KpiInputs` snapshot; a :class:`~robots.core.kpi.facts.Position`
already computed for the same snapshot can be passed in so the open balances are not computed again.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from robots.core.domain import ZERO, Ledger
from robots.core.kpi.facts import KpiInputs, Position, money, position


@dataclass(frozen=True)
class AgingBar:
    """Open debt whose days past due fall in ``[start, end)``."""

    start: int
    end: int
    amount: Decimal
    invoices: int


@dataclass(frozen=True)
class DebtorRow:
    counterparty_id: str
    name: str
    inn: str
    open: Decimal
    overdue: Decimal
    max_days_past_due: int
    invoices: int


@dataclass(frozen=True)
class CashWeek:
    """One week (Monday..Sunday) of the cash-inflow plan."""

    start: date
    due: Decimal  # invoices (not credit notes) falling due in the week: the contractual plan
    open: Decimal  # of those, still open on as_of: the expected inflow (or, for past weeks, the shortfall)
    received: Decimal | None  # payments dated in the week up to as_of; None for weeks after as_of
    #: open promises to pay dated in the week: what customers said they would pay then
    promised: Decimal = ZERO


def _group_of(ledger: Ledger) -> dict[str, str]:
    """contract id -> debtor group."""
    cp_group = {c.id: c.group for c in ledger.counterparties}
    return {c.id: cp_group.get(c.counterparty_id, "default") for c in ledger.contracts}


def aging_histogram(inputs: KpiInputs, width: int = 1, group: str | None = None, origin: int = 1,
                    pos: Position | None = None) -> tuple[AgingBar, ...]:
    """Open debt by days past due in bins ``[origin + k*width, origin + (k+1)*width)``, non-empty bins only,
    ascending. With the default origin 1 no bin mixes overdue debt with debt not yet overdue.

    ``group`` keeps only the debtors of one group (each group counts days its own way).
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    pos = pos or position(inputs)
    group_of = _group_of(inputs.ledger) if group is not None else {}
    amounts: dict[int, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[int, int] = defaultdict(int)
    for inv_id, amount in pos.open.items():
        if amount <= ZERO:
            continue
        if group is not None and group_of.get(pos.invoices[inv_id].contract_id, "default") != group:
            continue
        b = (pos.dpd[inv_id] - origin) // width
        amounts[b] += amount
        counts[b] += 1
    return tuple(AgingBar(origin + b * width, origin + (b + 1) * width, money(amounts[b]), counts[b])
                 for b in sorted(amounts))


@dataclass(frozen=True)
class AgingBand:
    """Open debt whose days past due are in ``[low, high)``; None = unbounded on that side."""

    low: int | None
    high: int | None
    amount: Decimal
    invoices: int


def aging_bands(inputs: KpiInputs, offsets: tuple[int, ...], group: str | None = None,
                pos: Position | None = None) -> tuple[AgingBand, ...]:
    """Open debt between consecutive aging column offsets: before the first column, then one band per column
    (from its offset up to the next one's). ``offsets`` must increase, as schedules.yaml guarantees."""
    if list(offsets) != sorted(set(offsets)):
        raise ValueError(f"offsets must strictly increase: {offsets}")
    pos = pos or position(inputs)
    group_of = _group_of(inputs.ledger) if group is not None else {}
    edges: list[int | None] = [None, *offsets, None]
    amounts = [ZERO] * (len(offsets) + 1)
    counts = [0] * (len(offsets) + 1)
    for inv_id, amount in pos.open.items():
        if amount <= ZERO:
            continue
        if group is not None and group_of.get(pos.invoices[inv_id].contract_id, "default") != group:
            continue
        b = bisect.bisect_right(offsets, pos.dpd[inv_id])
        amounts[b] += amount
        counts[b] += 1
    return tuple(AgingBand(edges[b], edges[b + 1], money(amounts[b]), counts[b]) for b in range(len(amounts)))


def top_debtors(inputs: KpiInputs, pos: Position | None = None) -> tuple[DebtorRow, ...]:
    """The ``inputs.top_debtors`` counterparties owing the most on ``as_of``, largest first."""
    pos = pos or position(inputs)
    ledger = inputs.ledger
    cp_of = {c.id: c.counterparty_id for c in ledger.contracts}
    open_: dict[str, Decimal] = defaultdict(lambda: ZERO)
    overdue: dict[str, Decimal] = defaultdict(lambda: ZERO)
    worst: dict[str, int] = {}
    count: dict[str, int] = defaultdict(int)
    for inv_id, amount in pos.open.items():
        if amount <= ZERO:
            continue
        cp = cp_of.get(pos.invoices[inv_id].contract_id, "")
        d = pos.dpd[inv_id]
        open_[cp] += amount
        count[cp] += 1
        if d > 0:
            overdue[cp] += amount
        worst[cp] = max(worst.get(cp, d), d)
    cps = {c.id: c for c in ledger.counterparties}
    rows = []
    for cp_id, amount in open_.items():
        party = cps.get(cp_id)
        rows.append(DebtorRow(cp_id, party.name if party else cp_id, party.inn if party else "", money(amount),
                              money(overdue[cp_id]), worst[cp_id], count[cp_id]))
    rows.sort(key=lambda r: (-r.open, r.name, r.counterparty_id))
    return tuple(rows[: inputs.top_debtors])


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def cash_plan(inputs: KpiInputs, weeks_back: int = 8, weeks_ahead: int = 8,
              pos: Position | None = None) -> tuple[CashWeek, ...]:
    """Weeks from ``weeks_back`` before the week of ``as_of`` to ``weeks_ahead`` after it.

    Per week: what falls due by contract, how much of that is still open on ``as_of`` (for coming weeks: the
    expected inflow), what was received (payments dated in the week, up to ``as_of``) and what open promises to
    pay fall in the week by their promised date (a promise dated before the first week is left out, like the
    debt already overdue before it, which is not spread over the weeks).
    """
    pos = pos or position(inputs)
    this = week_start(inputs.as_of)
    first = this - timedelta(weeks=weeks_back)
    weeks = [first + timedelta(weeks=k) for k in range(weeks_back + weeks_ahead + 1)]
    due: dict[date, Decimal] = defaultdict(lambda: ZERO)
    still: dict[date, Decimal] = defaultdict(lambda: ZERO)
    got: dict[date, Decimal] = defaultdict(lambda: ZERO)
    promised: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for pr in inputs.promises:
        promised[week_start(pr.promised_on)] += pr.amount
    for inv in inputs.ledger.invoices:
        if inv.is_credit_note or inv.date > inputs.as_of:
            continue
        w = week_start(inv.due_date)
        due[w] += inv.amount
        still[w] += pos.open.get(inv.id, ZERO)
    for p in inputs.ledger.payments:
        if p.date <= inputs.as_of:
            got[week_start(p.date)] += p.amount
    return tuple(CashWeek(w, money(due[w]), money(still[w]), money(got[w]) if w <= inputs.as_of else None,
                          money(promised[w])) for w in weeks)


def overdue_before(inputs: KpiInputs, day: date, pos: Position | None = None) -> Decimal:
    """Open debt on ``as_of`` of invoices due before ``day`` (the part of the overdue debt no week plans)."""
    pos = pos or position(inputs)
    return money(sum((a for i, a in pos.open.items() if pos.invoices[i].due_date < day), ZERO))
