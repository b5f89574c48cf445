"""The pure deciders of the collection workflow beyond aging columns: promises to pay, and paid-up episodes.

* A promise pauses the scenarios of its debt until its date plus ``promises.grace_days``; :func:`decide_promise`
  says when it was kept or broken.
* A *collection episode* of a contract starts with the robots' first overdue letter (a run of a column with a
  positive offset) or shipment block after its last ``paid`` event, and ends when the contract has no overdue open
  debt left; :func:`decide_paid` finds the episodes that end now.

No I/O and no clock: the engine (robots/engine/events/) reads the store and the ledger and saves the decisions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from robots.core.balances import allocate, open_balances
from robots.core.domain import ZERO, Invoice, Ledger, Payment


class PromiseStatus(enum.StrEnum):
    OPEN = "open"  # waiting for its date plus the grace period
    KEPT = "kept"  # the promised amount arrived in time, or the debt was closed
    BROKEN = "broken"  # its date plus the grace period passed without that
    CANCELLED = "cancelled"  # a person withdrew it (promise cancel)


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ContactOutcome(enum.StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    PROMISED = "promised"  # with a promised date and amount: records a promise as well
    REFUSED = "refused"
    DISPUTED = "disputed"
    WRONG_CONTACT = "wrong_contact"


class ContactChannel(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    MEETING = "meeting"


# --- deciding promises (pure) ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Promise:
    id: int
    contract_id: str
    invoice_id: str | None  # None: the contract's debt
    amount: Decimal
    promised_on: date
    recorded_on: date

    def deadline(self, grace_days: int) -> date:
        """The last day the promise may still be kept (its pause ends with it)."""
        return self.promised_on + timedelta(days=grace_days)


@dataclass(frozen=True, slots=True)
class PromiseOutcome:
    promise_id: int
    status: PromiseStatus  # KEPT or BROKEN
    day: date  # the evaluation day that found it
    paid: Decimal  # what counted towards the promise


def decide_promise(promise: Promise, invoices: Sequence[Invoice], payments: Sequence[Payment], as_of: date,
                   grace_days: int, tolerance: Decimal) -> PromiseOutcome | None:
    """Kept, broken, or still open (None) on ``as_of``. ``invoices``/``payments``: the promise's contract.

    Counted towards the promise: the contract's payments dated from the day it was recorded through its deadline
    (and ``as_of``); for a promise on one invoice, the payments naming that invoice or naming none (those pay
    the contract's oldest debt, which the customer may well have meant). Kept when they reach the amount (less
    the aging tolerance) or when the promised debt is closed by then: the invoice, or for a contract-level
    promise every invoice of the contract issued by the day it was recorded. Broken once ``as_of`` is past the
    deadline without that. A payment after the deadline does not keep a promise.
    """
    deadline = promise.deadline(grace_days)
    end = min(as_of, deadline)
    paid = sum((p.amount for p in payments
                if promise.recorded_on <= p.date <= end
                and (promise.invoice_id is None or p.invoice_id in (None, promise.invoice_id))), ZERO)
    if paid >= promise.amount - tolerance:
        return PromiseOutcome(promise.id, PromiseStatus.KEPT, as_of, paid)
    balances = allocate([i for i in invoices if i.date <= end], [p for p in payments if p.date <= end]).open
    if promise.invoice_id is not None:
        covered = [promise.invoice_id]
    else:
        covered = [i.id for i in invoices if i.date <= promise.recorded_on and not i.is_credit_note]
    if covered and all(balances.get(i, ZERO) <= tolerance for i in covered):
        return PromiseOutcome(promise.id, PromiseStatus.KEPT, as_of, paid)
    if as_of > deadline:
        return PromiseOutcome(promise.id, PromiseStatus.BROKEN, as_of, paid)
    return None


def decide_promises(promises: Iterable[Promise], ledger: Ledger, as_of: date, grace_days: int,
                    tolerance: Decimal) -> list[PromiseOutcome]:
    """:func:`decide_promise` for each open promise; a promise whose contract left the ledger stays open."""
    promises = list(promises)
    wanted = {p.contract_id for p in promises}
    invoices: dict[str, list[Invoice]] = {c: [] for c in wanted}
    payments: dict[str, list[Payment]] = {c: [] for c in wanted}
    for inv in ledger.invoices:
        if inv.contract_id in wanted:
            invoices[inv.contract_id].append(inv)
    for pay in ledger.payments:
        if pay.contract_id in wanted:
            payments[pay.contract_id].append(pay)
    known = {c.id for c in ledger.contracts}
    outcomes = []
    for p in promises:
        if p.contract_id not in known:
            continue
        o = decide_promise(p, invoices[p.contract_id], payments[p.contract_id], as_of, grace_days, tolerance)
        if o is not None:
            outcomes.append(o)
    return outcomes



# --- paid-up episodes (pure) -------------------------------------------------------------------------------------

def decide_paid(overdue: Mapping[str, Decimal], blocks: Mapping[str, date], letters: Mapping[str, date],
                paid: Mapping[str, date], tolerance: Decimal) -> list[str]:
    """The contracts whose collection episode ends now, in id order (pure).

    ``overdue``: contract -> its overdue open balance now (contracts that left the ledger are absent: no event);
    ``blocks``: contract -> day of the run that placed the robots' oldest active block;
    ``letters``: contract -> day of its latest overdue-letter run; ``paid``: contract -> day of its latest paid
    event. An episode is open when a block or a letter is newer than the last paid event (or there was none).
    """
    done = []
    for contract_id in sorted(set(blocks) | set(letters)):
        if contract_id not in overdue or overdue[contract_id] > tolerance:
            continue
        last_paid = paid.get(contract_id)
        started = max(d for d in (blocks.get(contract_id), letters.get(contract_id)) if d is not None)
        if last_paid is None or started > last_paid:
            done.append(contract_id)
    return done


def overdue_balances(ledger: Ledger, contract_ids: Iterable[str], as_of: date) -> dict[str, Decimal]:
    """contract -> open balance of its invoices due before ``as_of``, for these contracts still in the ledger."""
    wanted = set(contract_ids) & {c.id for c in ledger.contracts}
    part = Ledger(invoices=tuple(i for i in ledger.invoices if i.contract_id in wanted),
                  payments=tuple(p for p in ledger.payments if p.contract_id in wanted))
    left = open_balances(part, as_of).open
    out = dict.fromkeys(wanted, ZERO)
    for inv in part.invoices:
        if inv.due_date < as_of and inv.id in left:
            out[inv.contract_id] += left[inv.id]
    return out
