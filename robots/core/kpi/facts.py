"""What a KPI computation takes (pure): the facts the store holds, the snapshot of open debt, and the rounding.

A :class:`KpiInputs` is everything the KPIs, the step effectiveness and the report figures are computed from: the
ledger, the evaluation day and the facts the store holds (tasks, scenario runs, open promises). :func:`position`
turns it into the open debt on that day, which several figures share.

Shares and ratios are quantized to 4 decimals, days to 1 decimal, money to 0.01, all ROUND_HALF_UP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from robots.core.balances import Balances, open_balances
from robots.core.domain import ZERO, Invoice, Ledger

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class TaskFact:
    task_id: int
    role: str
    due_on: date
    status: str  # "open" / "done"


@dataclass(frozen=True)
class RunFact:
    """A scenario run as decided: the invoices it was about and their open amounts on its day."""

    run_id: int
    scenario: str
    column_id: str
    as_of: date
    invoices: tuple[tuple[str, Decimal], ...]  # (invoice_id, open amount at the run)


@dataclass(frozen=True)
class PromiseFact:
    """A promise to pay open on ``as_of`` (robots/people.py): an expected inflow at its date."""

    promise_id: int
    contract_id: str
    amount: Decimal
    promised_on: date


@dataclass(frozen=True)
class KpiInputs:
    ledger: Ledger
    as_of: date
    period_days: int
    problem_debt_days: int
    working_capital: Decimal | None
    #: invoice id -> days past due on ``as_of`` by the debtor group's calendar (negative = not yet due).
    #: An invoice missing here counts in calendar days.
    days_past_due: Mapping[str, int]
    tasks: tuple[TaskFact, ...] = ()
    runs: tuple[RunFact, ...] = ()
    #: Unknown until connectors report shipments.
    shipments_while_blocked: int | None = None
    top_debtors: int = 10
    #: Promises to pay open on ``as_of`` (promise add, contacts with the outcome "promised", imports).
    promises: tuple[PromiseFact, ...] = ()


# --- rounding -----------------------------------------------------------------------------------------------

def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def share(x: Decimal) -> Decimal:
    return x.quantize(SHARE, rounding=ROUND_HALF_UP)


def days(x: Decimal) -> Decimal:
    return x.quantize(TENTH, rounding=ROUND_HALF_UP)


def ratio(num: Decimal, den: Decimal) -> Decimal | None:
    """``num / den`` as a share; None when there is nothing to divide by."""
    return None if den == ZERO else share(num / den)


# --- the snapshot on as_of ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Position:
    """Open debt on ``as_of``: per invoice its open amount and days past due."""

    open: dict[str, Decimal]
    dpd: dict[str, int]
    invoices: dict[str, Invoice]

    @property
    def total(self) -> Decimal:
        return sum(self.open.values(), ZERO)

    def overdue_over(self, threshold: int) -> Decimal:
        return sum((a for i, a in self.open.items() if self.dpd[i] > threshold), ZERO)


def position(inputs: KpiInputs, balances: Balances | None = None) -> Position:
    """Each open invoice's amount and days past due on ``inputs.as_of`` (one :func:`open_balances` call)."""
    balances = balances or open_balances(inputs.ledger, inputs.as_of)
    by_id = {i.id: i for i in inputs.ledger.invoices}
    dpd: dict[str, int] = {}
    for inv_id in balances.open:
        known = inputs.days_past_due.get(inv_id)
        dpd[inv_id] = known if known is not None else (inputs.as_of - by_id[inv_id].due_date).days
    return Position(balances.open, dpd, by_id)
