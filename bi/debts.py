"""The debt snapshot and the penalties of a BI export, computed over the invoices as columns.

Open balances are the ledger's own. An invoice of a contract with no payment and no credit note by the as-of day
is whole from its issue date: its timeline is ``(issue date, amount)`` (what
:func:`robots.core.penalties.open_timelines` gives for it), so its open amounts and its penalty (one period,
``amount × rate × days``) are computed for all such invoices at once, in integer kopecks. The other contracts'
invoices take their timelines from :func:`robots.core.penalties.open_timelines` (:func:`robots.core.balances.allocate`
on each day a balance can change) and their penalties from :func:`robots.core.penalties.accrue`. Days past due and
aging columns are the aging engine's (:class:`robots.core.workdays.DaysPastDue`, the highest column whose offset is
at most the days past due).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bi import arrays
from bi.schema import BY_NAME, RATE
from robots.core.domain import ZERO, DayCount, GroupSchedule, Invoice, Ledger
from robots.core.errors import UsageError
from robots.core.penalties import (
    Change,
    ContractualRate,
    Timeline,
    accrue,
    open_on,
    open_timelines,
)
from robots.core.workdays import DaysPastDue, WorkCalendar

_EPOCH = date(1970, 1, 1).toordinal()


@dataclass
class Debts:
    """The invoices issued by the as-of day (credit notes aside), in ledger order, as columns."""

    as_of: date
    ledger: Ledger
    positions: np.ndarray  # of each debt in ledger.invoices
    ids: pa.Array
    contracts: pa.Array
    counterparties: pa.Array
    issued: np.ndarray  # date ordinals
    due: np.ndarray
    amount: np.ndarray  # kopecks
    group: np.ndarray  # index into ``schedules``
    schedules: list[GroupSchedule]
    rate: np.ndarray  # index into ``rates`` (-1: the contract has no penalty)
    rates: list[Decimal]
    #: Debt number -> timeline, for the invoices of contracts with payments or credit notes by the as-of day.
    timelines: dict[int, Timeline]
    open_now: np.ndarray  # kopecks open at the end of the as-of day

    def __len__(self) -> int:
        return len(self.positions)

    def invoice(self, k: int) -> Invoice:
        return self.ledger.invoices[self.positions[k]]


def debts(ledger: Ledger, invoices: pa.Table, schedule_of: dict[str, GroupSchedule], as_of: date) -> Debts:
    """The debts on ``as_of`` of ``ledger``, whose invoices ``invoices`` holds as columns (:func:`invoice_columns`)."""
    issued = _ordinals(invoices["issued_on"])
    mine = (issued <= as_of.toordinal()) & ~invoices["is_credit_note"].to_numpy(zero_copy_only=False)
    positions = np.nonzero(mine)[0]
    take = pa.array(positions)
    contracts = invoices["contract_id"].take(take)
    moved = {p.contract_id for p in ledger.payments if p.date <= as_of}
    moved.update(i.contract_id for i in ledger.invoices if i.is_credit_note and i.date <= as_of)
    by_id = open_timelines(ledger, as_of, moved)
    moving = np.nonzero(pc.is_in(contracts, value_set=pa.array(sorted(moved), pa.string())).to_numpy(
        zero_copy_only=False))[0]
    listed, at = ledger.invoices, positions.tolist()
    timelines = {k: by_id[listed[at[k]].id] for k in moving.tolist()}

    schedules = list({s.name: s for s in schedule_of.values()}.values())
    group_no = {s.name: g for g, s in enumerate(schedules)}
    rates = sorted({c.penalty_rate_per_day for c in ledger.contracts
                    if c.penalty_rate_per_day is not None and c.penalty_rate_per_day > ZERO})
    rate_no = {r: k for k, r in enumerate(rates)}
    contract_index = pc.index_in(contracts, value_set=pa.array([c.id for c in ledger.contracts], pa.string()))
    if contract_index.null_count:
        unknown = contracts.filter(pc.is_null(contract_index))[0].as_py()
        raise UsageError(f"the ledger has invoices of contract {unknown!r}, which it does not list")
    per_contract = {
        "group": [group_no[schedule_of[c.id].name] for c in ledger.contracts],
        "rate": [rate_no.get(c.penalty_rate_per_day, -1) for c in ledger.contracts],
    }
    group, rate = (pa.array(per_contract[n], pa.int64()).take(contract_index).to_numpy(zero_copy_only=False)
                   for n in ("group", "rate"))
    amount = arrays.kopecks_of(invoices["amount"].take(take).combine_chunks())
    open_now = amount.copy()
    for k, timeline in timelines.items():  # timelines end on or before the as-of day
        open_now[k] = arrays.kopecks(timeline[-1].open)
    return Debts(
        as_of=as_of, ledger=ledger, positions=positions, ids=invoices["invoice_id"].take(take).combine_chunks(),
        contracts=contracts.combine_chunks(),
        counterparties=invoices["counterparty_id"].take(take).combine_chunks(),
        issued=issued[positions], due=_ordinals(invoices["due_date"])[positions],
        amount=amount, open_now=open_now,
        group=group, schedules=schedules, rate=rate, rates=rates, timelines=timelines)


def _ordinals(days: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """date32 values as date ordinals."""
    return days.cast(pa.int32()).to_numpy().astype(np.int64) + _EPOCH


# -- the snapshot -------------------------------------------------------------------------------------------------


def fact_debt_snapshot(d: Debts, calendar: WorkCalendar, days: Sequence[date], tolerance: Decimal) -> pa.Table:
    """Every invoice open at the end of each of ``days``, with its days past due and aging column."""
    definition = BY_NAME["fact_debt_snapshot"]
    first_column = np.cumsum([0] + [len(s.columns) for s in d.schedules])
    column_ids = pa.array([c.id for s in d.schedules for c in s.columns], pa.string())
    column_keys = pa.array([f"{s.name}/{c.id}" for s in d.schedules for c in s.columns], pa.string())
    static = {
        "invoice_id": d.ids, "contract_id": d.contracts, "counterparty_id": d.counterparties,
        "debtor_group": pa.array([s.name for s in d.schedules], pa.string()).take(pa.array(d.group)),
        "due_date": _dates(d.due),
    }
    moved = np.fromiter(d.timelines, np.int64, len(d.timelines))
    lines = list(d.timelines.values())
    moved_last_day = np.fromiter((t[-1].day.toordinal() for t in lines), np.int64, len(lines))
    tolerance_kop = arrays.kopecks(tolerance)
    parts = []
    for day in days:
        ordinal = day.toordinal()
        opens = np.where(d.issued <= ordinal, d.open_now, 0)
        for k in np.nonzero(moved_last_day > ordinal)[0]:  # a balance that changed after this day (--from)
            opens[moved[k]] = arrays.kopecks(open_on(lines[k], day))
        dpd = _days_past_due(day, d, calendar)
        column = np.full(len(d), -1, np.int64)
        for g, s in enumerate(d.schedules):
            mine = d.group == g
            units = [c.days or s.days for c in s.columns]
            if all(u is s.days for u in units):
                reached = np.searchsorted(np.array([c.offset for c in s.columns]), dpd[mine], side="right")
            else:  # a column counted in other days ("7 working days" in a calendar group): the highest one reached
                counts = {u: _count_of(day, d.due[mine], calendar, u) for u in set(units)}
                reached = np.zeros(int(mine.sum()), np.int64)
                for i, (c, u) in enumerate(zip(s.columns, units)):
                    reached = np.where(counts[u] >= c.offset, i + 1, reached)
            column[mine] = np.where(reached > 0, first_column[g] + reached - 1, -1)
        rows = np.nonzero(opens > 0)[0]
        take = pa.array(rows)
        position = pa.array(column[rows], mask=column[rows] < 0)
        part = {name: values.take(take) for name, values in static.items()}
        part.update({
            "snapshot_date": _dates(np.full(len(rows), ordinal)),
            "date_key": np.full(len(rows), arrays.day_key(day), np.int32),
            "column_id": column_ids.take(position), "column_key": column_keys.take(position),
            "days_past_due": dpd[rows].astype(np.int32), "open_amount": arrays.money_from_kopecks(opens[rows]),
            "is_overdue": dpd[rows] > 0, "within_tolerance": opens[rows] <= tolerance_kop})
        parts.append(arrays.table(definition, part))
    return pa.concat_tables(parts) if parts else definition.schema.empty_table()


def _days_past_due(day: date, d: Debts, calendar: WorkCalendar) -> np.ndarray:
    """Days past due on ``day`` of each debt, counted as its group counts."""
    result = day.toordinal() - d.due
    count = DaysPastDue(calendar, day)
    for g, s in enumerate(d.schedules):
        if s.days is DayCount.CALENDAR:
            continue
        mine = d.group == g
        unique, inverse = np.unique(d.due[mine], return_inverse=True)  # few distinct due dates
        if len(unique):
            result[mine] = np.array([count(date.fromordinal(int(u)), s.days) for u in unique], np.int64)[inverse]
    return result


def _count_of(day: date, due: np.ndarray, calendar: WorkCalendar, unit: DayCount) -> np.ndarray:
    """Days past due on ``day`` of debts due on ``due`` (ordinals), counted in ``unit``."""
    if unit is DayCount.CALENDAR:
        return day.toordinal() - due
    count = DaysPastDue(calendar, day)
    unique, inverse = np.unique(due, return_inverse=True)
    return np.array([count(date.fromordinal(int(u)), unit) for u in unique], np.int64)[inverse] if len(unique) \
        else np.zeros(0, np.int64)


def _dates(ordinals: np.ndarray) -> pa.Array:
    return pa.array((ordinals - _EPOCH).astype(np.int32), pa.date32())


# -- penalties ----------------------------------------------------------------------------------------------------


def penalty_kopecks(base: np.ndarray, rate: Decimal, days: np.ndarray) -> np.ndarray | None:
    """``base × rate × days`` rounded half up, in kopecks, exactly (integers); None if it might not fit in int64.

    ``base`` (kopecks) and ``days`` are not negative, so half up is ``q + (2r >= 10^scale)``.
    """
    _, digits, exponent = rate.as_tuple()
    numerator = int("".join(map(str, digits)))
    scale = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if scale == 0:
        numerator *= 10 ** int(exponent)
    if not len(base):
        return np.zeros(0, np.int64)
    if scale > 18 or int(base.max()) * numerator * int(days.max()) >= 2 ** 62:
        return None
    quotient, remainder = np.divmod(base * numerator * days, 10 ** scale)
    return quotient + (2 * remainder >= 10 ** scale)


def fact_penalties(d: Debts) -> tuple[pa.Table, pa.Table]:
    """The contractual penalty of every invoice that accrued one by the as-of day, and its periods."""
    as_of = d.as_of.toordinal()
    rated = (d.rate >= 0) & (d.due < as_of)
    moved = np.zeros(len(d), bool)
    moved[np.fromiter(d.timelines, np.int64, len(d.timelines))] = True
    start = np.maximum(d.due, d.issued) + 1  # a whole invoice accrues from the day after its due date and issue
    whole = np.nonzero(rated & ~moved & (d.amount > 0) & (start <= as_of))[0]
    days = as_of - start[whole] + 1
    amount = np.zeros(len(whole), np.int64)
    slow: list[int] = []  # whole invoices whose arithmetic might overflow int64: the pure module computes them
    for r, rate in enumerate(d.rates):
        mine = d.rate[whole] == r
        exact = penalty_kopecks(d.amount[whole][mine], rate, days[mine])
        if exact is None:
            slow.extend(whole[mine].tolist())
        else:
            amount[mine] = exact
    keep = ~np.isin(whole, slow)
    whole, days, amount = whole[keep], days[keep], amount[keep]

    # every period: (position, period number, start, end, days, base, amount), the whole invoices' first
    cols: list[list] = [[] for _ in range(7)]
    c_pos, c_number, c_start, c_end, c_days, c_base, c_amount = cols
    schedules = [ContractualRate(r) for r in d.rates]
    rate_of = d.rate.tolist()
    kopecks = arrays.kopecks
    for k in sorted(slow + [k for k in d.timelines if rated[k]]):
        invoice = d.invoice(k)
        timeline = d.timelines.get(k) or (Change(invoice.date, invoice.amount),)
        for n, p in enumerate(accrue(timeline, invoice.due_date, d.as_of, schedules[rate_of[k]]).periods, 1):
            c_pos.append(k)
            c_number.append(n)
            c_start.append(p.start.toordinal())
            c_end.append(p.end.toordinal())
            c_days.append(p.days)
            c_base.append(kopecks(p.base))
            c_amount.append(kopecks(p.amount))
    pos, number, p_start, p_end, p_days, p_base, p_amount = (
        np.concatenate([first, np.array(rest, np.int64)]) for first, rest in zip(
            (whole, np.ones(len(whole), np.int64), start[whole], np.full(len(whole), as_of), days,
             d.amount[whole], amount), cols))
    order = np.lexsort((number, pos))
    pos, number, p_start, p_end, p_days, p_base, p_amount = (
        a[order] for a in (pos, number, p_start, p_end, p_days, p_base, p_amount))
    periods = _periods_table(d, pos, number, p_start, p_end, p_days, p_base, p_amount)
    return _penalties_table(d, pos, number, p_start, p_end, p_days, p_amount), periods


def _rate_array(d: Debts, positions: np.ndarray) -> pa.Array:
    return pa.array(d.rates, RATE).take(pa.array(d.rate[positions]))


def _periods_table(d: Debts, pos, number, start, end, days, base, amount) -> pa.Table:
    take = pa.array(pos)
    n = len(pos)
    return arrays.table(BY_NAME["fact_penalty_periods"], {
        "as_of": _dates(np.full(n, d.as_of.toordinal())), "invoice_id": d.ids.take(take), "period": number,
        "contract_id": d.contracts.take(take), "counterparty_id": d.counterparties.take(take),
        "start_date": _dates(start), "end_date": _dates(end), "days": days,
        "base": arrays.money_from_kopecks(base), "rate_per_day": _rate_array(d, pos),
        "amount": arrays.money_from_kopecks(amount)})


def _penalties_table(d: Debts, pos, number, start, end, days, amount) -> pa.Table:
    """One row per invoice: its periods summed (``pos`` is sorted, so each invoice's periods are adjacent)."""
    first = np.nonzero(np.r_[True, pos[1:] != pos[:-1]])[0] if len(pos) else np.zeros(0, np.int64)
    invoice = pos[first]
    last = np.r_[first[1:], len(pos)] - 1
    take = pa.array(invoice)
    open_now = d.open_now[invoice]
    n = len(invoice)
    return arrays.table(BY_NAME["fact_penalties"], {
        "as_of": _dates(np.full(n, d.as_of.toordinal())), "date_key": np.full(n, arrays.day_key(d.as_of), np.int32),
        "invoice_id": d.ids.take(take), "contract_id": d.contracts.take(take),
        "counterparty_id": d.counterparties.take(take), "due_date": _dates(d.due[invoice]),
        "rate_per_day": _rate_array(d, invoice), "first_day": _dates(start[first]), "last_day": _dates(end[last]),
        "days": np.add.reduceat(days, first) if n else days[:0], "periods": number[last],
        "open_amount": arrays.money_from_kopecks(open_now), "is_open": open_now > 0,
        "penalty_amount": arrays.money_from_kopecks(np.add.reduceat(amount, first) if n else amount[:0])})
