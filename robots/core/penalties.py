"""Contractual penalty (неустойка) accrued on overdue invoices (pure: no I/O, no clock).

The rules:

* A penalty accrues for every calendar day from the day after the due date through the day of payment, inclusive.
* The base of a day is the invoice's open balance at the end of the day before, so the day of a payment still
  accrues on the pre-payment base, and a partial payment (or a credit note) reduces the base from the next day.
* Open balances come from the ledger's allocation rules (:mod:`robots.core.balances`: payments naming the invoice,
  then the contract's pool, oldest due first). A balance can only change on a day when something of its contract
  is dated (an invoice, a credit note, a payment), so the base timeline is computed on those days only.
* The amount of each period (a run of days with one base and one rate) is ``base × rate × days``, rounded to
  kopecks half up; the total is the sum of the rounded periods.

The rate is a :class:`RateSchedule`: it splits the accrual days into spans of one rate and computes a span's
amount. :class:`ContractualRate` is the contract's fixed rate per day. :class:`StatutoryRate` is statutory
interest (ГК РФ ст. 395) at the Bank of Russia key rate from a dated table: its spans break at key-rate changes and
at year ends, and each span's amount is ``base × annual rate × days / days in that year`` (365, or 366 in a leap
year). :func:`cap` limits an :class:`Accrual` afterwards (at most a share of the invoice amount), and
:func:`shifted_due_date` moves a due date off a non-working day (ГК РФ ст. 193). :func:`penalty_for` puts the
rules together as ``schedules.yaml`` ``penalties:`` configures them; docs/penalties.md is the reference.
"""

from __future__ import annotations

import bisect
import calendar
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import NamedTuple, Protocol

from robots.core.balances import allocate
from robots.core.domain import ZERO, Invoice, Ledger, Payment

CENT = Decimal("0.01")
_ONE_DAY = timedelta(days=1)
#: Wide enough that base × rate × days is exact before the one rounding to kopecks.
_EXACT = Context(prec=60, rounding=ROUND_HALF_UP)


class KeyRateEntry(Protocol):
    """One row of the key-rate table: the rate (annual, as a fraction) from ``since`` on."""

    @property
    def since(self) -> date: ...
    @property
    def rate(self) -> Decimal: ...


class PenaltyPolicy(Protocol):
    """How penalties are computed (schedules.yaml's ``penalties:``, robots/config/penalty_config.py)."""

    @property
    def basis(self) -> str: ...
    @property
    def key_rates(self) -> Sequence[KeyRateEntry]: ...
    @property
    def cap_share(self) -> Decimal | None: ...
    @property
    def shift_due_date(self) -> bool: ...


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
    #: Per day, as a fraction (0.001 = 0.1 % a day), like :attr:`robots.core.domain.Contract.penalty_rate_per_day`;
    #: per year (0.21 = 21 % a year) when ``year_days`` is set.
    rate: Decimal
    #: ``base × rate × days`` (divided by ``year_days`` for an annual rate) rounded to kopecks, half up.
    amount: Decimal
    #: 0: ``rate`` is per day; 365 or 366: ``rate`` is annual and a day is this share of the year.
    year_days: int = 0
    #: True for the period where the cap was reached: its amount is cut to what was left under the cap.
    capped: bool = False


class Accrual(NamedTuple):
    """The penalty of one invoice, period by period."""

    periods: tuple[PenaltyPeriod, ...]
    #: True when :func:`cap` cut the accrual (the last period is reduced, any later ones are dropped).
    capped: bool = False
    #: What was computed: "contractual", "statutory" or "none" (nothing applies), as :func:`penalty_for` decides.
    basis: str = ""

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
    #: 0: ``rate`` is per day; otherwise ``rate`` is annual over this many days (one span never crosses a year end).
    year_days: int = 0


class RateSchedule(Protocol):
    """How a penalty is priced: the rate of each day, and the amount of a span of days."""

    def spans(self, start: date, end: date) -> Iterable[RateSpan]:
        """Consecutive spans covering ``start`` .. ``end`` (inclusive), each with one rate."""
        ...

    def amount(self, base: Decimal, rate: Decimal, days: int) -> Decimal:
        """The unrounded ``base × rate × days`` (exact); :func:`accrue` divides it by the span's ``year_days``
        when the rate is annual."""
        ...


@dataclass(frozen=True, slots=True)
class ContractualRate:
    """The contract's own penalty: a fixed fraction of the overdue amount per calendar day."""

    per_day: Decimal

    def spans(self, start: date, end: date) -> Iterable[RateSpan]:
        return (RateSpan(start, end, self.per_day),)

    def amount(self, base: Decimal, rate: Decimal, days: int) -> Decimal:
        return _EXACT.multiply(base, rate * days)  # rate × days is exact: few digits times an int


class PenaltyError(ValueError):
    """The penalty cannot be computed from the configuration (e.g. no key rate for a day); says how to fix it."""


def _year_days(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


@dataclass(frozen=True, slots=True)
class StatutoryRate:
    """Interest under ГК РФ ст. 395: the key rate in force each day (``table``: (since, annual rate) in date order),
    per day as rate / 365, or / 366 in a leap year."""

    table: tuple[tuple[date, Decimal], ...]

    def __post_init__(self) -> None:
        if not self.table:
            raise PenaltyError("statutory interest needs the key-rate table: set penalties.key_rates in "
                               "schedules.yaml, e.g. [{since: 2025-10-27, rate: \"0.165\"}]")
        days = [since for since, _ in self.table]
        if days != sorted(set(days)):
            raise PenaltyError("penalties.key_rates must be in date order, one rate per date")

    def rate_on(self, day: date) -> Decimal:
        k = bisect.bisect_right(self.table, day, key=_since)
        if k == 0:
            first = self.table[0][0]
            raise PenaltyError(f"no key rate for {day.isoformat()}: penalties.key_rates starts on "
                               f"{first.isoformat()}; add the rate in force on that day (cbr.ru, "
                               "«Ключевая ставка Банка России») to penalties.key_rates in schedules.yaml")
        return self.table[k - 1][1]

    def spans(self, start: date, end: date) -> Iterable[RateSpan]:
        out = []
        day = start
        while day <= end:
            rate = self.rate_on(day)
            k = bisect.bisect_right(self.table, day, key=_since)
            stop = end
            if k < len(self.table):
                stop = min(stop, self.table[k][0] - _ONE_DAY)  # the day before the next rate
            stop = min(stop, date(day.year, 12, 31))
            out.append(RateSpan(day, stop, rate, _year_days(day.year)))
            day = stop + _ONE_DAY
        return out

    def amount(self, base: Decimal, rate: Decimal, days: int) -> Decimal:
        return _EXACT.multiply(base, rate * days)


def _since(entry: tuple[date, Decimal]) -> date:
    return entry[0]


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
            exact = rate.amount(base, span.rate, days)
            if span.year_days:
                exact = _EXACT.divide(exact, span.year_days)
            amount = exact.quantize(CENT, context=_EXACT)
            periods.append(PenaltyPeriod(span.start, span.end, base, days, span.rate, amount, span.year_days))
    return Accrual(tuple(periods))


def cap(accrual: Accrual, limit: Decimal) -> Accrual:
    """At most ``limit`` (rounded to kopecks, half up) in all: the period where the running total reaches it is
    cut to what was left (and marked), later periods are dropped. An accrual within the limit is returned as is."""
    limit = limit.quantize(CENT, context=_EXACT)
    running = ZERO
    for k, period in enumerate(accrual.periods):
        if running + period.amount > limit or (running + period.amount == limit and k < len(accrual.periods) - 1):
            cut = period._replace(amount=limit - running, capped=True)
            return accrual._replace(periods=(*accrual.periods[:k], cut), capped=True)
        running += period.amount
    return accrual


def shifted_due_date(due: date, is_working: Callable[[date], bool]) -> date:
    """ГК РФ ст. 193: a due date on a non-working day moves to the next working day."""
    day = due
    for _ in range(366):
        if is_working(day):
            return day
        day += _ONE_DAY
    raise PenaltyError(f"no working day within a year after the due date {due.isoformat()}: check the calendar")


def penalty_for(timeline: Timeline, due_date: date, through: date, *, principal: Decimal,
                contract_rate: Decimal | None, config: PenaltyPolicy, is_working: Callable[[date], bool],
                basis: str | None = None) -> Accrual:
    """The penalty of one invoice through ``through`` inclusive, as ``penalties:`` configures it.

    ``timeline``: the invoice's open balances (:func:`contract_timelines`); ``principal``: the invoice amount (the
    cap is ``penalties.cap_share × principal``); ``contract_rate``: the contract's penalty per day (None: none);
    ``basis``: overrides ``penalties.basis``. Contractual basis uses the contract's rate, or statutory interest
    when the contract has none and key rates are configured, else nothing (basis "none"). Statutory basis is
    always ст. 395 interest. Raises :class:`PenaltyError` when the key-rate table does not cover a day.
    """
    basis = basis or config.basis
    schedule: RateSchedule
    if basis == "contractual" and contract_rate:
        schedule, used = ContractualRate(contract_rate), "contractual"
    elif basis == "statutory" or config.key_rates:
        schedule, used = StatutoryRate(tuple((k.since, k.rate) for k in config.key_rates)), "statutory"
    else:
        return Accrual((), basis="none")
    if config.shift_due_date:
        due_date = shifted_due_date(due_date, is_working)
    accrual = accrue(timeline, due_date, through, schedule)._replace(basis=used)
    if config.cap_share is not None:
        accrual = cap(accrual, _EXACT.multiply(principal, config.cap_share))
    return accrual


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
    :func:`robots.core.balances.open_balances` gives for that day.
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
    "Accrual", "Change", "ContractualRate", "PenaltyError", "PenaltyPeriod", "RateSchedule", "RateSpan",
    "StatutoryRate", "Timeline", "accrue", "cap", "contract_timelines", "open_on", "open_timelines", "penalty_for",
    "shifted_due_date",
]
