"""The aging engine: which debts crossed which aging column on a given day (pure).

Input: a ledger snapshot, the aging policy, the crossings already recorded, the holds, and the day. Output: the
new crossings and the scenario runs they call for. Recording those (with a unique constraint) and running the
scenarios is the store's and the runner's job. This module never does I/O and never reads the clock.

With ``with_state`` the evaluation also says, per open invoice, when it could next change without a change in
the ledger (:class:`InvoiceState`: the day it reaches its next column, the day it falls overdue) and, per
contract, the first day an entry dated after ``as_of`` takes effect: the store keeps that, so that a daily tick
evaluates only what changed or falls due (``open_amounts`` gives the open balance of an invoice evaluated without
its contract's other entries). The store chooses which invoices to evaluate; this module only decides.

The rules (the README states them for ops engineers):

* A debt *reaches* a column when its days past due are at least the column's offset.
* A debt *crosses* a column when it reaches it and has no recorded crossing at that column or above it
  (monotonic: a debt never goes back to a lower column, e.g. after its due date was extended). With
  ``rearm_on_due_date_change`` a new due date starts a new *epoch* in which every column is armed again.
* Catch-up: when one evaluation finds several new crossings for a debt, ``latest`` runs only the highest and
  records the others as skipped, inside the crossing that passed them (``Crossing.skipped``: one crossing per
  invoice and newly reached column that runs; :attr:`Evaluation.crossings` lists every column, skipped ones
  included, as one crossing each); ``all`` runs each, lowest first.
* Paid debts (open balance within the tolerance), credit notes and held debts (disputed, paused) never cross.
* One run per (contract, column, day): all invoices of a contract crossing the same column that day share one
  scenario run, so the customer gets one letter listing them.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from robots.core.balances import open_balances
from robots.core.domain import (
    ZERO,
    AgingPolicy,
    CatchUp,
    Column,
    CrossingStatus,
    DayCount,
    GroupSchedule,
    Hold,
    Ledger,
)
from robots.core.errors import ConfigError, EvaluationOrderError
from robots.core.workdays import WorkCalendar

_ONE = timedelta(days=1)
_YEAR = timedelta(days=366)

#: Epoch of every crossing when due-date changes do not re-arm columns.
NO_EPOCH = ""

#: (invoice id, epoch) -> the highest column offset recorded for it.
History = Mapping[tuple[str, str], int]


class Crossing(NamedTuple):
    """A debt entering a column. A NamedTuple, not a dataclass: a first evaluation builds millions of them."""

    invoice_id: str
    contract_id: str
    column_id: str
    offset: int
    epoch: str
    status: CrossingStatus
    days_past_due: int
    open_amount: Decimal
    #: The columns (id, offset) this crossing passed in a catch-up, lowest first: recorded with it, never run.
    skipped: tuple[tuple[str, int], ...] = ()

    def expanded(self) -> tuple[Crossing, ...]:
        """The skipped columns as crossings of their own (status skipped), then this one without them."""
        if not self.skipped:
            return (self,)
        SKIPPED = CrossingStatus.SKIPPED
        return (*(Crossing(self.invoice_id, self.contract_id, cid, off, self.epoch, SKIPPED, self.days_past_due,
                           self.open_amount) for cid, off in self.skipped), self._replace(skipped=()))


class InvoiceState(NamedTuple):
    """An open invoice after an evaluation: what the store keeps to know when to look at it again."""

    contract_id: str
    open_amount: Decimal
    #: The first day after ``as_of`` it reaches a column it has not reached yet (None: it has reached them all),
    #: or the next day when it is held (a hold may end any day).
    next_on: date | None
    #: The first day its days past due are above zero (the overdue total counts it from then on).
    overdue_from: date


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A scenario to run for one contract because its invoices crossed one column on one day."""

    contract_id: str
    column_id: str
    offset: int
    scenario: str
    as_of: date
    invoice_ids: tuple[str, ...]

    @property
    def key(self) -> str:
        """Stable identity of the run; the store keeps it unique."""
        return f"{self.contract_id}|{self.column_id}|{self.as_of.isoformat()}"


@dataclass(frozen=True)
class Evaluation:
    as_of: date
    #: One crossing per invoice and newly reached column that runs or, with ``catch_up: all``, per column; a
    #: catch-up's skipped columns are inside the crossing that passed them (``Crossing.skipped``).
    decided: tuple[Crossing, ...]
    runs: tuple[PlannedRun, ...]
    #: Invoices whose open balance is within the tolerance: they are closed and never cross again.
    closed: tuple[str, ...]
    total_open: Decimal
    total_overdue: Decimal
    held: int = 0
    open_invoices: int = 0
    positions: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    #: With ``with_state``: every open invoice's state, and per contract of the ledger the first day after
    #: ``as_of`` one of its entries (an invoice, a payment) takes effect (None: none is dated later).
    states: dict[str, InvoiceState] = field(default_factory=dict)
    contracts_next: dict[str, date | None] = field(default_factory=dict)

    @property
    def crossings(self) -> tuple[Crossing, ...]:
        """Every (invoice, column) crossed, one crossing each, skipped columns included, lowest first."""
        found = self.__dict__.get("_expanded")
        if found is None:
            found = tuple(y for x in self.decided for y in x.expanded()) if any(
                x.skipped for x in self.decided) else self.decided
            self.__dict__["_expanded"] = found
        return found

    @property
    def crossing_count(self) -> int:
        """How many (invoice, column) were crossed, skipped ones included, without listing them."""
        return sum(1 + len(x.skipped) for x in self.decided)


def check_order(as_of: date, last: date | None) -> None:
    """Refuse an evaluation dated before the last one: time only moves forward for the robots."""
    if last is not None and as_of < last:
        raise EvaluationOrderError(
            f"evaluation as of {as_of.isoformat()} is before the last evaluation ({last.isoformat()}); "
            f"the robots never go back in time. Use --as-of {last.isoformat()} or later."
        )


def evaluate(
    ledger: Ledger,
    policy: AgingPolicy,
    calendar: WorkCalendar,
    as_of: date,
    history: History,
    holds: Mapping[str, Hold] | None = None,
    *,
    with_positions: bool = False,
    with_state: bool = False,
    open_amounts: Mapping[str, Decimal] | None = None,
) -> Evaluation:
    """Find the new crossings on ``as_of`` and group them into scenario runs.

    ``open_amounts`` gives the open balance of invoices whose contract's other entries are not in ``ledger`` (the
    balance they had at the last evaluation, when none of the contract's entries changed since); every other
    invoice's balance is allocated from ``ledger``. ``with_state`` fills :attr:`Evaluation.states` and
    :attr:`Evaluation.contracts_next`.
    """
    holds = holds or {}
    schedules = _schedule_per_contract(ledger, policy)
    balances = open_balances(ledger, as_of)
    dpd = _DaysPastDue(calendar, as_of)
    offsets = {name: [c.offset for c in g.columns] for name, g in policy.groups.items()}
    # Groups with a column counted in other days than the group ("7 working days" among calendar days).
    mixed = {name: tuple(c.days or g.days for c in g.columns) for name, g in policy.groups.items()
             if any(c.days not in (None, g.days) for c in g.columns)}
    tolerance = policy.tolerance
    catch_all = policy.catch_up is CatchUp.ALL
    rearm = policy.rearm_on_due_date_change
    RUN = CrossingStatus.RUN
    open_of, history_of = balances.open.get, history.get
    given = open_amounts or {}
    reach_on = _ReachDays(calendar, as_of)
    # Where a debt stands depends only on its due date and its group: computed once per pair (few distinct).
    where: dict[tuple[date, str], _Where] = {}
    # What a debt at a place crosses, given the highest column recorded for it: once per place and history.
    # (the columns crossed, and with catch-up "latest" the (id, offset) of those it passes, shared by its crossings)
    decisions: dict[tuple[date, str, int | None], tuple[tuple[Column, ...], tuple[tuple[str, int], ...]]] = {}
    states: dict[str, InvoiceState] = {}
    contracts_next: dict[str, date | None] = {}
    if with_state:
        contracts_next = dict.fromkeys((c.id for c in ledger.contracts), None)
        for p in ledger.payments:
            if p.date > as_of:
                _earliest(contracts_next, p.contract_id, p.date)

    def place(due: date, schedule: GroupSchedule) -> _Where:
        days = dpd(due, schedule.days)
        units = mixed.get(schedule.name) if mixed else None
        if units is None:
            reached = bisect.bisect_right(offsets[schedule.name], days)  # columns [0, reached) are reached
            crossable = schedule.columns[:reached]
            next_on = reach_on(due, schedule, reached)
        else:  # each column by its own count; the highest one reached decides, like the plain case
            count = {u: dpd(due, u) for u in set(units)}
            flags = [count[u] >= c.offset for u, c in zip(units, schedule.columns)]
            reached = max((i + 1 for i, ok in enumerate(flags) if ok), default=0)
            # a column not reached in its own days is not crossed (yet)
            crossable = tuple(c for c, ok in zip(schedule.columns[:reached], flags) if ok)
            next_on = reach_on.mixed(due, schedule, units, flags)
        return _Where(days, schedule.columns[reached - 1].id if reached else None, crossable, next_on,
                      reach_on.overdue_from(due, schedule.days))

    crossings: list[Crossing] = []
    add = crossings.append
    grouped: dict[tuple[str, str], list[str]] = {}
    columns_by_key: dict[tuple[str, str], Column] = {}
    closed: list[str] = []
    positions: dict[str, tuple[int, str | None]] = {}
    total_open = total_overdue = ZERO
    held = open_count = 0
    tomorrow = as_of + _ONE
    new_tuple = tuple.__new__  # a NamedTuple built without its Python-level __new__: millions are built here

    for inv in ledger.invoices:
        amount = given.get(inv.id) if given else None
        if amount is None:
            amount = open_of(inv.id)
        if amount is None:  # a credit note, or not issued yet on as_of
            if with_state and inv.date > as_of:
                _earliest(contracts_next, inv.contract_id, inv.date)
            continue
        if amount <= tolerance:
            closed.append(inv.id)
            continue
        schedule = schedules[inv.contract_id]
        due = inv.due_date
        at = where.get((due, schedule.name))
        if at is None:
            at = where[(due, schedule.name)] = place(due, schedule)
        days = at.days
        open_count += 1
        total_open += amount
        if days > 0:
            total_overdue += amount
        if with_positions:
            positions[inv.id] = (days, at.column_id)
        hold = holds.get(inv.id) if holds else None
        if hold is not None and not hold.active_on(as_of):
            hold = None
        if with_state:  # held: looked at again tomorrow (a hold may end any day)
            states[inv.id] = new_tuple(InvoiceState, (inv.contract_id, amount,
                                                       at.next_on if hold is None else tomorrow, at.overdue_from))
        if not at.crossable:
            continue
        if hold is not None:
            held += 1
            continue
        epoch = due.isoformat() if rearm else NO_EPOCH
        done = history_of((inv.id, epoch))
        decision = decisions.get((due, schedule.name, done))
        if decision is None:  # monotonic: only columns above the highest one recorded
            cols = at.crossable if done is None else tuple(c for c in at.crossable if c.offset > done)
            decision = decisions[(due, schedule.name, done)] = (cols, tuple((c.id, c.offset) for c in cols[:-1]))
        new, skipped = decision
        if not new:
            continue
        # catch_up all: every new column runs; latest: the highest runs and carries the ones it passed
        for col, passed in (((c, ()) for c in new) if catch_all else ((new[-1], skipped),)):
            add(new_tuple(Crossing, (inv.id, inv.contract_id, col.id, col.offset, epoch, RUN, days, amount, passed)))
            key = (inv.contract_id, col.id)
            ids = grouped.get(key)
            if ids is None:
                grouped[key], columns_by_key[key] = [inv.id], col
            else:
                ids.append(inv.id)

    planned = []
    for (contract_id, column_id), ids in grouped.items():
        col = columns_by_key[(contract_id, column_id)]
        planned.append(PlannedRun(contract_id, col.id, col.offset, col.scenario, as_of, tuple(ids)))
    planned.sort(key=lambda r: (r.contract_id, r.offset))
    return Evaluation(
        as_of=as_of,
        decided=tuple(crossings),
        runs=tuple(planned),
        closed=tuple(closed),
        total_open=total_open,
        total_overdue=total_overdue,
        held=held,
        open_invoices=open_count,
        positions=positions,
        states=states,
        contracts_next=contracts_next,
    )


def state_key(policy: AgingPolicy, calendar: WorkCalendar, as_of: date) -> str:
    """What a saved aging state holds for: a hash of the policy and of the working days from two years before
    ``as_of``'s year to the end of the next one (a changed policy or calendar makes the next evaluation whole;
    so does, once a year, the window moving on)."""
    h = hashlib.sha256(repr(policy).encode())
    day, end = date(as_of.year - 2, 1, 1), date(as_of.year + 1, 12, 31)
    working = bytearray()
    while day <= end:
        working.append(calendar.is_working(day))
        day += _ONE
    h.update(bytes(working))
    return h.hexdigest()[:32]


class _Where(NamedTuple):
    """Where a debt due on a day stands in its group on ``as_of``."""

    days: int
    column_id: str | None  # the highest column reached
    crossable: tuple[Column, ...]  # the columns reached, lowest first
    next_on: date | None
    overdue_from: date


def _earliest(days: dict[str, date | None], key: str, day: date) -> None:
    known = days.get(key)
    if known is None or day < known:
        days[key] = day


class _DaysPastDue:
    """Days past due on ``as_of`` as :meth:`WorkCalendar.days_past_due` counts them, from a running count of
    working days (a ledger of old debts has due dates years apart: counting day by day for each would be slow)."""

    def __init__(self, calendar: WorkCalendar, as_of: date):
        self._calendar, self._as_of = calendar, as_of
        self._start = self._end = as_of  # the running count covers [start, end)
        self._count: list[int] = [0]  # _count[k]: working days in [start, start + k)
        self._memo: dict[date, int] = {}

    def __call__(self, due: date, days: DayCount) -> int:
        if days is DayCount.CALENDAR:
            return (self._as_of - due).days
        found = self._memo.get(due)
        if found is None:
            as_of = self._as_of
            if as_of >= due:  # the working days in (due, as_of]
                found = self._between(due + _ONE, as_of + _ONE)
            else:  # minus the working days in [as_of, due)
                found = -self._between(as_of, due)
            self._memo[due] = found
        return found

    def _between(self, start: date, end: date) -> int:
        """Working days in [start, end)."""
        if start < self._start or end > self._end:  # a year more than needed: few extensions, each a pass
            self._cover(min(start - _YEAR, self._start), max(end + _YEAR, self._end))
        base = self._start
        return self._count[(end - base).days] - self._count[(start - base).days]

    def _cover(self, start: date, end: date) -> None:
        working = self._calendar.is_working
        count, n, day = [0], 0, start
        while day < end:
            n += working(day)
            count.append(n)
            day += _ONE
        self._start, self._end, self._count = start, end, count


class _ReachDays:
    """The first day after ``as_of`` on which a debt due on a day reaches a count of days past due, memoised
    (there are few distinct due dates, groups and columns)."""

    def __init__(self, calendar: WorkCalendar, as_of: date):
        self._calendar, self._as_of = calendar, as_of
        self._memo: dict[tuple[date, DayCount, int], date] = {}
        self._next: dict[tuple[date, str, int], date | None] = {}

    def __call__(self, due: date, schedule: GroupSchedule, reached: int) -> date | None:
        """When the lowest column not reached yet is reached (columns [0, reached) are); None: all are."""
        key = (due, schedule.name, reached)
        try:
            return self._next[key]
        except KeyError:
            pass
        cols = schedule.columns
        found = None if reached >= len(cols) else self.day(due, cols[reached].days or schedule.days,
                                                           cols[reached].offset)
        self._next[key] = found
        return found

    def mixed(self, due: date, schedule: GroupSchedule, units: tuple[DayCount, ...],
              flags: list[bool]) -> date | None:
        """When the first column not reached in its own days is reached."""
        days = [self.day(due, u, c.offset) for u, c, ok in zip(units, schedule.columns, flags) if not ok]
        return min(days) if days else None

    def overdue_from(self, due: date, units: DayCount) -> date:
        """The first day with days past due above zero (any day, before or after ``as_of``)."""
        return self.first(due, units, 1)

    def day(self, due: date, units: DayCount, count: int) -> date:
        """The first day after ``as_of`` with ``count`` days past due or more."""
        return max(self.first(due, units, count), self._as_of + _ONE)

    def first(self, due: date, units: DayCount, count: int) -> date:
        """The first day with ``count`` days past due or more."""
        key = (due, units, count)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._first_day(due, units, count)
        return found

    def _first_day(self, due: date, units: DayCount, count: int) -> date:
        if units is DayCount.CALENDAR:
            return due + timedelta(days=count)
        working = self._calendar.is_working
        if count >= 1:  # the count-th working day after the due date
            d, n = due, 0
            while n < count:
                d += _ONE
                n += working(d)
            return d
        # before the due date: at most -count working days left in [day, due); the day after the (1-count)-th
        # working day before the due date
        d, n = due, 0
        while n < 1 - count:
            d -= _ONE
            n += working(d)
        return d + _ONE


def _schedule_per_contract(ledger: Ledger, policy: AgingPolicy) -> dict[str, GroupSchedule]:
    group_of = {cp.id: cp.group for cp in ledger.counterparties}
    result: dict[str, GroupSchedule] = {}
    for contract in ledger.contracts:
        group = group_of.get(contract.counterparty_id, "default")
        schedule = policy.groups.get(group)
        if schedule is None:
            raise ConfigError(
                f"counterparty {contract.counterparty_id!r} is in debtor group {group!r}, which schedules.yaml "
                f"does not define (groups: {', '.join(sorted(policy.groups))})"
            )
        result[contract.id] = schedule
    return result
