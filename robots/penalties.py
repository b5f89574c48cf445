"""Contractual penalty (неустойка) accrued on overdue invoices (pure: no I/O, no clock).

The rules:

* A penalty accrues for every calendar day from the day after the due date through the day of payment, inclusive.
* The base of a day is the invoice's open balance at the end of the day before, so the day of a payment still
  accrues on the pre-payment base, and a partial payment (or a credit note) reduces the base from the next day.
* Open balances come from the ledger's allocation rules (:mod:`robots.balances`: payments naming the invoice,
  then the contract's pool, oldest due first). A balance can only change on a day when something of its contract
  is dated (an invoice, a credit note, a payment), so the base timeline is computed on those days only.
* The amount of each period (a run of days with one base and one rate) is ``base × rate × days``, rounded to
  kopecks half up; the total is the sum of the rounded periods.

The rate is a :class:`RateSchedule`: it splits the accrual days into spans of one rate and computes a span's
amount. :class:`ContractualRate` is the contract's fixed rate per day. Statutory interest (ГК РФ ст. 395: the key
rate, per day as rate / 365 or / 366) is another schedule: its spans break at key-rate changes and at year ends,
and its ``amount`` divides by the days of the year; a cap (e.g. at most 10 % of the debt) applies to an
:class:`Accrual`'s periods afterwards. Neither is implemented yet.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import NamedTuple, Protocol

from robots.balances import allocate
from robots.domain import ZERO, Invoice, Ledger, Payment

CENT = Decimal("0.01")
_ONE_DAY = timedelta(days=1)
#: Wide enough that base × rate × days is exact before the one rounding to kopecks.
_EXACT = Context(prec=60, rounding=ROUND_HALF_UP)


class Change(NamedTuple):
    """From the end of ``day`` on (until the next change), the invoice's open balance is ``open``."""

    day: date
    open: Decimal


#: An invoice's open balance over time: its changes in date order, the first on its issue date.
Timeline = tuple[Change, ...]


class PenaltyPeriod(NamedTuple):
    """Days ``start`` .. ``end`` (inclusive) accruing on one base at one rate.

    A NamedTuple, not a dataclass: an export of a large ledger builds one per overdue invoice and more.
    """

    start: date
    end: date
    base: Decimal
    days: int
    #: Per day, as a fraction (0.001 = 0.1 % a day), like :attr:`robots.domain.Contract.penalty_rate_per_day`.
    rate: Decimal
    #: ``base × rate × days`` rounded to kopecks, half up.
    amount: Decimal


class Accrual(NamedTuple):
    """The penalty of one invoice, period by period."""

    periods: tuple[PenaltyPeriod, ...]

    @property
    def total(self) -> Decimal:
        return sum((p.amount for p in self.periods), ZERO)

    @property
    def days(self) -> int:
        return sum(p.days for p in self.periods)


class RateSpan(NamedTuple):
    start: date
    end: date
    rate: Decimal


class RateSchedule(Protocol):
    """How a penalty is priced: the rate of each day, and the amount of a span of days."""

    def spans(self, start: date, end: date) -> Iterable[RateSpan]:
        """Consecutive spans covering ``start`` .. ``end`` (inclusive), each with one rate."""
        ...

    def amount(self, base: Decimal, rate: Decimal, days: int) -> Decimal:
        """The unrounded amount of ``days`` days on ``base`` at ``rate``."""
        ...


@dataclass(frozen=True, slots=True)
class ContractualRate:
    """The contract's own penalty: a fixed fraction of the overdue amount per calendar day."""

    per_day: Decimal

    def spans(self, start: date, end: date) -> Iterable[RateSpan]:
        return (RateSpan(start, end, self.per_day),)

    def amount(self, base: Decimal, rate: Decimal, days: int) -> Decimal:
        return _EXACT.multiply(base, rate * days)  # rate × days is exact: few digits times an int


def accrue(timeline: Timeline, due_date: date, through: date, rate: RateSchedule) -> Accrual:
    """The penalty accrued on an invoice with this open-balance ``timeline`` from ``due_date`` to ``through``."""
    first = due_date + _ONE_DAY
    periods: list[PenaltyPeriod] = []
    last = len(timeline) - 1
    for k, (day, base) in enumerate(timeline):
        # the balance at the end of `day` is the base of the days after it, up to and including the next change
        start = max(day + _ONE_DAY, first)
        end = timeline[k + 1].day if k < last and timeline[k + 1].day < through else through
        if base <= ZERO or start > end:
            continue
        for span in rate.spans(start, end):
            days = (span.end - span.start).days + 1
            amount = rate.amount(base, span.rate, days).quantize(CENT, context=_EXACT)
            periods.append(PenaltyPeriod(span.start, span.end, base, days, span.rate, amount))
    return Accrual(tuple(periods))


def open_on(timeline: Timeline, day: date) -> Decimal:
    """The open balance at the end of ``day`` (zero before the invoice is issued)."""
    if timeline[-1].day <= day:
        return timeline[-1].open
    k = bisect.bisect_right(timeline, day, key=_day_of)
    return timeline[k - 1].open if k else ZERO


def _day_of(change: Change) -> date:
    return change.day


def open_timelines(ledger: Ledger, through: date, contracts: Container[str] | None = None) -> dict[str, Timeline]:
    """The open-balance timeline of every invoice issued by ``through`` (credit notes have none), or only of
    the invoices of ``contracts``.

    On every day up to ``through``, :func:`open_on` of these timelines gives what
    :func:`robots.balances.open_balances` gives for that day.
    """
    invoices: dict[str, list[Invoice]] = defaultdict(list)
    payments: dict[str, list[Payment]] = defaultdict(list)
    for inv in ledger.invoices:
        if inv.date <= through and (contracts is None or inv.contract_id in contracts):
            invoices[inv.contract_id].append(inv)
    for pay in ledger.payments:
        if pay.date <= through and (contracts is None or pay.contract_id in contracts):
            payments[pay.contract_id].append(pay)
    result: dict[str, Timeline] = {}
    for contract_id, invs in invoices.items():
        result.update(contract_timelines(invs, payments.get(contract_id, ())))
    return result


def contract_timelines(invoices: Sequence[Invoice], payments: Sequence[Payment]) -> dict[str, Timeline]:
    """The timelines of one contract's invoices, given all of its invoices, credit notes and payments."""
    notes = [i.date for i in invoices if i.amount < ZERO]
    if not payments and not notes:  # nothing ever paid: every invoice stays whole from its issue date
        return {i.id: (Change(i.date, i.amount),) for i in invoices}
    first_money = min([p.date for p in payments] + notes)
    by_date = sorted(invoices, key=_issue_date)
    pays = sorted(payments, key=_payment_date)
    inv_days = [i.date for i in by_date]
    pay_days = [p.date for p in pays]
    changes: dict[str, list[Change]] = {}
    last: dict[str, Decimal | None] = {}
    # Before the first payment or credit note every invoice is whole; from then on, allocate on each dated day.
    for inv in by_date:
        if inv.amount >= ZERO:
            whole = inv.date < first_money
            changes[inv.id] = [Change(inv.date, inv.amount)] if whole else []
            last[inv.id] = inv.amount if whole else None
    for day in sorted({d for d in inv_days if d >= first_money}.union(pay_days)):
        balances = allocate(by_date[:bisect.bisect_right(inv_days, day)], pays[:bisect.bisect_right(pay_days, day)])
        for inv_id, amount in balances.open.items():
            if last[inv_id] != amount:
                changes[inv_id].append(Change(day, amount))
                last[inv_id] = amount
    return {inv_id: tuple(c) for inv_id, c in changes.items() if c}


def _issue_date(inv: Invoice) -> date:
    return inv.date


def _payment_date(pay: Payment) -> date:
    return pay.date


__all__ = [
    "Accrual", "Change", "ContractualRate", "PenaltyPeriod", "RateSchedule", "RateSpan", "Timeline", "accrue",
    "contract_timelines", "open_on", "open_timelines",
]
