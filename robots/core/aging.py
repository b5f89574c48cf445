"""The aging engine: which debts crossed which aging column on a given day (pure).

Input: a ledger snapshot, the aging policy, the crossings already recorded, the holds, and the day. Output: the
new crossings and the scenario runs they call for. Recording those (with a unique constraint) and running the
scenarios is the store's and the runner's job. This module never does I/O and never reads the clock.

The rules (the README states them for ops engineers):

* A debt *reaches* a column when its days past due are at least the column's offset.
* A debt *crosses* a column when it reaches it and has no recorded crossing at that column or above it
  (monotonic: a debt never goes back to a lower column, e.g. after its due date was extended). With
  ``rearm_on_due_date_change`` a new due date starts a new *epoch* in which every column is armed again.
* Catch-up: when one evaluation finds several new crossings for a debt, ``latest`` runs only the highest and
  records the others as skipped; ``all`` runs each, lowest first.
* Paid debts (open balance within the tolerance), credit notes and held debts (disputed, paused) never cross.
* One run per (contract, column, day): all invoices of a contract crossing the same column that day share one
  scenario run, so the customer gets one letter listing them.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from robots.core.balances import open_balances
from robots.core.domain import (
    ZERO,
    AgingPolicy,
    CatchUp,
    Column,
    CrossingStatus,
    GroupSchedule,
    Hold,
    Ledger,
)
from robots.core.errors import ConfigError, EvaluationOrderError
from robots.core.workdays import DaysPastDue, WorkCalendar

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


@dataclass(frozen=True, slots=True)
class Evaluation:
    as_of: date
    crossings: tuple[Crossing, ...]
    runs: tuple[PlannedRun, ...]
    #: Invoices whose open balance is within the tolerance: they are closed and never cross again.
    closed: tuple[str, ...]
    total_open: Decimal
    total_overdue: Decimal
    held: int = 0
    open_invoices: int = 0
    positions: dict[str, tuple[int, str | None]] = field(default_factory=dict)


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
) -> Evaluation:
    """Find the new crossings on ``as_of`` and group them into scenario runs."""
    holds = holds or {}
    schedules = _schedule_per_contract(ledger, policy)
    balances = open_balances(ledger, as_of)
    dpd = DaysPastDue(calendar, as_of)
    offsets = {name: [c.offset for c in g.columns] for name, g in policy.groups.items()}
    # Groups with a column counted in other days than the group ("7 working days" among calendar days).
    mixed = {name: tuple(c.days or g.days for c in g.columns) for name, g in policy.groups.items()
             if any(c.days not in (None, g.days) for c in g.columns)}
    tolerance = policy.tolerance
    catch_all = policy.catch_up is CatchUp.ALL
    rearm = policy.rearm_on_due_date_change
    RUN, SKIPPED = CrossingStatus.RUN, CrossingStatus.SKIPPED
    open_of, history_of = balances.open.get, history.get

    crossings: list[Crossing] = []
    add = crossings.append
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    columns_by_key: dict[tuple[str, str], Column] = {}
    closed: list[str] = []
    positions: dict[str, tuple[int, str | None]] = {}
    total_open = total_overdue = ZERO
    held = open_count = 0

    for inv in ledger.invoices:
        amount = open_of(inv.id)
        if amount is None:  # a credit note, or not issued yet on as_of
            continue
        if amount <= tolerance:
            closed.append(inv.id)
            continue
        schedule = schedules[inv.contract_id]
        days = dpd(inv.due_date, schedule.days)
        open_count += 1
        total_open += amount
        if days > 0:
            total_overdue += amount
        units = mixed.get(schedule.name) if mixed else None
        reached_flags: list[bool] | None = None
        if units is None:
            reached = bisect.bisect_right(offsets[schedule.name], days)  # columns [0, reached) are reached
        else:  # each column by its own count; the highest one reached decides, like the plain case
            count = {u: dpd(inv.due_date, u) for u in set(units)}
            reached_flags = [count[u] >= c.offset for u, c in zip(units, schedule.columns)]
            reached = max((i + 1 for i, ok in enumerate(reached_flags) if ok), default=0)
        if with_positions:
            positions[inv.id] = (days, schedule.columns[reached - 1].id if reached else None)
        if reached == 0:
            continue
        if holds:
            hold = holds.get(inv.id)
            if hold is not None and hold.active_on(as_of):
                held += 1
                continue
        epoch = inv.due_date.isoformat() if rearm else NO_EPOCH
        done = history_of((inv.id, epoch))
        new = schedule.columns[:reached]
        if reached_flags is not None:  # a column not reached in its own days is not crossed (yet)
            new = tuple(c for c, ok in zip(new, reached_flags) if ok)
        if done is not None:  # monotonic: only columns above the highest one recorded
            new = tuple(c for c in new if c.offset > done)
            if not new:
                continue
        last = len(new) - 1
        for i, col in enumerate(new):
            runs = catch_all or i == last
            add(Crossing(inv.id, inv.contract_id, col.id, col.offset, epoch, RUN if runs else SKIPPED, days, amount))
            if runs:
                key = (inv.contract_id, col.id)
                grouped[key].append(inv.id)
                columns_by_key[key] = col

    planned = []
    for (contract_id, column_id), ids in grouped.items():
        col = columns_by_key[(contract_id, column_id)]
        planned.append(PlannedRun(contract_id, col.id, col.offset, col.scenario, as_of, tuple(ids)))
    planned.sort(key=lambda r: (r.contract_id, r.offset))
    return Evaluation(
        as_of=as_of,
        crossings=tuple(crossings),
        runs=tuple(planned),
        closed=tuple(closed),
        total_open=total_open,
        total_overdue=total_overdue,
        held=held,
        open_invoices=open_count,
        positions=positions,
    )


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
