"""The ledger: counterparties, contracts, invoices and payments as plain, frozen values.

This is the language every part of arbots speaks. Connectors build a :class:`Ledger`, the aging engine reads
it, the store persists it. Money is always :class:`~decimal.Decimal`; dates are :class:`~datetime.date`.
Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

ZERO = Decimal("0")


@dataclass(frozen=True, slots=True)
class Counterparty:
    id: str
    name: str
    inn: str = ""
    email: str = ""
    group: str = "default"


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    number: str
    counterparty_id: str
    payment_days: int = 0
    currency: str = "RUB"
    #: Contractual penalty, a fraction per day (0.001 = 0.1 % a day); None when the contract has none.
    penalty_rate_per_day: Decimal | None = None
    #: Early-payment discount tiers: (fraction, days after the invoice date), e.g. ((0.03, 7), (0.02, 14)).
    discounts: tuple[tuple[Decimal, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Invoice:
    """One receivable: an invoice, or one installment of it (one row per installment).

    A negative ``amount`` is a credit note: it reduces the contract's debt like an undirected payment.
    """

    id: str
    number: str
    contract_id: str
    date: dt.date
    due_date: dt.date
    amount: Decimal

    @property
    def is_credit_note(self) -> bool:
        return self.amount < ZERO


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    contract_id: str
    date: date
    amount: Decimal
    #: The invoice the payer named, if any; otherwise the payment goes to the oldest due debt.
    invoice_id: str | None = None


@dataclass(frozen=True, slots=True)
class Ledger:
    """A whole snapshot of the receivables ledger as one or more connectors delivered it."""

    counterparties: tuple[Counterparty, ...] = ()
    contracts: tuple[Contract, ...] = ()
    invoices: tuple[Invoice, ...] = ()
    payments: tuple[Payment, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "counterparties": len(self.counterparties),
            "contracts": len(self.contracts),
            "invoices": len(self.invoices),
            "payments": len(self.payments),
        }


class DayCount(enum.StrEnum):
    """How days past due are counted for a debtor group."""

    CALENDAR = "calendar"
    WORKING = "working"


class CatchUp(enum.StrEnum):
    """What happens when a debt crossed several columns since the last evaluation."""

    LATEST = "latest"  # run only the highest column; record the others as skipped
    ALL = "all"  # run every crossed column's scenario, in column order


class CrossingStatus(enum.StrEnum):
    RUN = "run"  # the column's scenario runs for this crossing
    SKIPPED = "skipped"  # crossed during a catch-up, superseded by a higher column


class HoldKind(enum.StrEnum):
    """Why a debt is held back from crossing columns."""

    DISPUTE = "dispute"
    PAUSE = "pause"
    PROMISE = "promise"  # a promise to pay: until its date plus promises.grace_days (robots/people.py)


@dataclass(frozen=True, slots=True)
class Hold:
    invoice_id: str
    kind: HoldKind
    reason: str = ""
    #: Last day the hold applies (inclusive); None means until it is released.
    until: date | None = None

    def active_on(self, day: date) -> bool:
        return self.until is None or day <= self.until


@dataclass(frozen=True, slots=True)
class Column:
    """An aging column: where a debt stands against its due date (negative offset = before due)."""

    id: str
    offset: int
    scenario: str
    title: str = ""
    #: How this column's offset is counted; None = as its group counts (a column may differ from its group).
    days: DayCount | None = None


@dataclass(frozen=True, slots=True)
class GroupSchedule:
    """The aging columns of one debtor group, ordered by strictly increasing offset."""

    name: str
    days: DayCount
    columns: tuple[Column, ...]

    def rank(self, column_id: str) -> int:
        for i, c in enumerate(self.columns):
            if c.id == column_id:
                return i
        raise KeyError(column_id)


@dataclass(frozen=True, slots=True)
class AgingPolicy:
    """Everything the pure aging engine needs besides the ledger and the history."""

    groups: dict[str, GroupSchedule] = field(default_factory=dict)
    tolerance: Decimal = Decimal("0.00")
    catch_up: CatchUp = CatchUp.LATEST
    #: When True, a changed due date re-arms every column for that invoice (letters may repeat for the new term).
    rearm_on_due_date_change: bool = False


class PadesLevel(enum.StrEnum):
    """How much a signature carries with it (ETSI EN 319 142-1)."""

    B_B = "B-B"      # the signer's signature and certificate
    B_T = "B-T"      # plus a trusted timestamp proving when it was signed
    B_LT = "B-LT"    # plus the revocation information needed to validate it later, offline
    B_LTA = "B-LTA"  # plus a document timestamp over all of it, renewable before the algorithms age
