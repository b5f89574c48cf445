"""Promises to pay, disputes and the contacts journal: what people tell the robots, and what it means for them.

* A promise pauses the scenarios of its debt (holds of kind ``promise`` until its date plus
  ``promises.grace_days``). :func:`decide_promise` (pure) says when it was kept or broken; :func:`promise_events`
  saves that decision each tick and asks for the ``events.promise_broken`` scenario once per broken promise.
* A dispute excludes its debt (holds of kind ``dispute``, no end) until a person closes it.
* The contacts journal records call outcomes; an outcome ``promised`` records a promise as well.

:class:`LedgerView` and the ``check_*`` functions validate what a person typed (or a CSV row) against the ledger in
the store and turn it into the records of :mod:`robots.store.people`; each problem names its field.
docs/people.md is the reference for ops engineers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from robots.core.balances import allocate, open_balances
from robots.core.domain import ZERO, Invoice, Ledger, Payment
from robots.store.people import NewContact, NewDispute, NewPromise


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


def promise_events(services: Any, ledger: Ledger, as_of: date) -> list:
    """Decide the open promises on ``as_of``, save the decisions, and ask for the ``events.promise_broken``
    scenario for each promise found broken on ``as_of`` (run key ``<contract>|promise_broken:<id>|<day>``).

    Decide, save, then act: the status is saved first; the runs are returned for every promise whose saved
    decision is dated ``as_of``, so a tick that crashed before recording them returns them again on a re-run of
    the same day, and the unique run key keeps them single. A later day never asks again: the promise is decided.
    """
    from robots.engine.events import EventRun
    from robots.store import people as db
    from robots.core.workdays import DaysPastDue

    store, settings = services.store, services.config.settings
    grace, tolerance = settings.promises.grace_days, settings.aging.tolerance
    open_ = [_promise(r) for r in db.promise_rows(store, status=PromiseStatus.OPEN)]
    if open_:
        db.record_outcomes(store, decide_promises(open_, ledger, as_of, grace, tolerance))
    scenario = settings.events.promise_broken
    if scenario is None:
        return []
    broken = db.promise_rows(store, status=PromiseStatus.BROKEN, closed_on=as_of)
    if not broken:
        return []
    balances = open_balances(ledger, as_of).open
    groups = services.config.policy().groups
    group_of = {cp.id: cp.group for cp in ledger.counterparties}
    contract = {c.id: c for c in ledger.contracts}
    dpd = DaysPastDue(services.calendar, as_of)
    runs = []
    for row in broken:
        ct = contract.get(row.contract_id)
        if ct is None:
            continue
        schedule = groups.get(group_of.get(ct.counterparty_id, "default"))
        invoices = tuple(
            {"id": i.id, "open_amount": str(balances[i.id]),
             "days_past_due": dpd(i.due_date, schedule.days) if schedule else (as_of - i.due_date).days}
            for i in ledger.invoices if i.contract_id == ct.id and balances.get(i.id, ZERO) > tolerance)
        runs.append(EventRun(ct.id, f"promise_broken:{row.id}", scenario, as_of, invoices))
    return runs


def _promise(row: Any) -> Promise:
    return Promise(row.id, row.contract_id, row.invoice_id, row.amount, row.promised_on, row.recorded_on)


# --- validating what people enter -------------------------------------------------------------------------------

#: (field, message) pairs: the CLI shows them as --field, a CSV import as FILE:LINE column 'field'.
Problems = list[tuple[str, str]]


class LedgerView:
    """The ledger in the store, read once, for checking references and finding a debt's open invoices."""

    def __init__(self, store: Any, tolerance: Decimal):
        from sqlalchemy import select

        from robots.store import schema as t

        self.store, self.tolerance = store, tolerance
        self.contracts = {r.id: r.number for r in store.rows(select(t.contracts.c.id, t.contracts.c.number))}
        self.invoice_contract = {r.id: r.contract_id for r in store.rows(
            select(t.invoices.c.id, t.invoices.c.contract_id))}
        self._open: dict[tuple[str, date], dict[str, Decimal]] = {}

    def contract(self, text: str) -> str:
        """A contract by id, or by number when exactly one contract has it."""
        text = text.strip()
        if text in self.contracts:
            return text
        by_number = [i for i, n in self.contracts.items() if n == text]
        if len(by_number) == 1:
            return by_number[0]
        if by_number:
            raise ValueError(f"contract number {text!r} is ambiguous ({', '.join(sorted(by_number))}); give the id")
        raise ValueError(f"no contract {text!r} in the ledger (last sync); check the id or number")

    def invoice(self, text: str) -> str:
        text = text.strip()
        if text not in self.invoice_contract:
            raise ValueError(f"no invoice {text!r} in the ledger (last sync); check the invoice id")
        return text

    def open_invoices(self, contract_id: str, day: date) -> dict[str, Decimal]:
        """The contract's invoices issued by ``day`` with more than the tolerance open on ``day``."""
        key = (contract_id, day)
        if key not in self._open:
            invoices, payments = self.store.contract_entries(contract_id, day)
            self._open[key] = {i: a for i, a in allocate(invoices, payments).open.items() if a > self.tolerance}
        return self._open[key]


def check_promise(view: LedgerView, *, contract: str | None, invoice: str | None, amount: Decimal | None,
                  promised_on: date | None, by: str, note: str, day: date, grace_days: int,
                  source: str = "cli", ref: str | None = None) -> tuple[NewPromise | None, Problems]:
    """A promise ready to record, or the problems with it. ``day``: the business day it is recorded on."""
    problems: Problems = []
    contract_id = invoice_id = None
    if not contract:
        problems.append(("contract", "is required"))
    else:
        try:
            contract_id = view.contract(contract)
        except ValueError as e:
            problems.append(("contract", str(e)))
    if invoice:
        try:
            invoice_id = view.invoice(invoice)
        except ValueError as e:
            problems.append(("invoice", str(e)))
        if contract_id and invoice_id and view.invoice_contract[invoice_id] != contract_id:
            problems.append(("invoice", f"invoice {invoice_id!r} belongs to contract "
                                        f"{view.invoice_contract[invoice_id]!r}, not to {contract_id!r}"))
            invoice_id = None
    if amount is not None and amount <= ZERO:
        problems.append(("amount", f"{amount} is not a positive amount"))
    if promised_on is not None and promised_on < day:
        problems.append(("date", f"{promised_on.isoformat()} is in the past (the promise is recorded on "
                                 f"{day.isoformat()}); a promise to pay is for that day or later"))
    if not by.strip():
        problems.append(("by", "is required: who took the promise"))
    held = _held(view, contract_id, invoice_id, day, "promise", problems) if contract_id and not problems else ()
    if problems or amount is None or promised_on is None or contract_id is None:
        return None, problems
    return NewPromise(contract_id, invoice_id, amount, promised_on, day, by.strip(), note, source, ref, held,
                      promised_on + timedelta(days=grace_days)), problems


def _held(view: LedgerView, contract_id: str, invoice_id: str | None, day: date, verb: str,
          problems: Problems) -> tuple[str, ...]:
    """The invoices a promise or dispute holds back: the one invoice, or the contract's open ones on ``day``."""
    open_ = view.open_invoices(contract_id, day)
    held = tuple(sorted(open_)) if invoice_id is None else ((invoice_id,) if invoice_id in open_ else ())
    if not held:
        what = f"invoice {invoice_id!r}" if invoice_id else f"contract {contract_id!r}"
        problems.append(("invoice" if invoice_id else "contract",
                         f"{what} has no open debt on {day.isoformat()}: nothing to {verb}"))
    return held


def check_dispute(view: LedgerView, *, contract: str | None, invoice: str | None, amount: Decimal | None,
                  reason: str, by: str, day: date, source: str = "cli",
                  ref: str | None = None) -> tuple[NewDispute | None, Problems]:
    problems: Problems = []
    contract_id = invoice_id = None
    if bool(contract) == bool(invoice):
        problems.append(("invoice", "give either an invoice or a contract (the whole contract's open debt)"))
    elif invoice:
        try:
            invoice_id = view.invoice(invoice)
            contract_id = view.invoice_contract[invoice_id]
        except ValueError as e:
            problems.append(("invoice", str(e)))
    else:
        try:
            contract_id = view.contract(contract or "")
        except ValueError as e:
            problems.append(("contract", str(e)))
    if amount is not None and amount <= ZERO:
        problems.append(("amount", f"{amount} is not a positive amount"))
    if not reason.strip():
        problems.append(("reason", "is required: why the customer disputes the debt"))
    if not by.strip():
        problems.append(("by", "is required: who records the dispute"))
    held = _held(view, contract_id, invoice_id, day, "dispute", problems) if contract_id and not problems else ()
    if problems or contract_id is None:
        return None, problems
    return NewDispute(contract_id, invoice_id, amount, reason.strip(), day, by.strip(), source, ref, held), problems


def check_contact(view: LedgerView, *, contract: str | None, outcome: str | None, channel: str | None, note: str,
                  by: str, day: date, promised_on: date | None, promised_amount: Decimal | None, grace_days: int,
                  source: str = "cli", ref: str | None = None) -> tuple[NewContact | None, Problems]:
    problems: Problems = []
    contract_id = None
    if not contract:
        problems.append(("contract", "is required"))
    else:
        try:
            contract_id = view.contract(contract)
        except ValueError as e:
            problems.append(("contract", str(e)))
    outcomes = ", ".join(o.value for o in ContactOutcome)
    if outcome not in set(ContactOutcome):
        problems.append(("outcome", f"{outcome!r} is not an outcome; use one of: {outcomes}"
                         if outcome else f"is required; one of: {outcomes}"))
    if channel and channel not in set(ContactChannel):
        problems.append(("channel", f"{channel!r} is not a channel; use one of: "
                                    f"{', '.join(c.value for c in ContactChannel)}"))
    if not by.strip():
        problems.append(("by", "is required: who made the contact"))
    promised = (promised_on, promised_amount)
    if outcome == ContactOutcome.PROMISED and None in promised:
        missing = "promised_date" if promised_on is None else "promised_amount"
        problems.append((missing, "an outcome 'promised' needs both the promised date and the promised amount"))
    elif outcome in set(ContactOutcome) and outcome != ContactOutcome.PROMISED and promised != (None, None):
        problems.append(("outcome", f"a promised date or amount goes with the outcome 'promised', not {outcome!r}"))
    promise = None
    if outcome == ContactOutcome.PROMISED and contract_id and None not in promised and not problems:
        promise, more = check_promise(view, contract=contract_id, invoice=None, amount=promised_amount,
                                      promised_on=promised_on, by=by, note=note, day=day, grace_days=grace_days,
                                      source="contact", ref=None)
        problems += [({"amount": "promised_amount", "date": "promised_date"}.get(f, f), m) for f, m in more]
    if problems or contract_id is None or outcome is None:
        return None, problems
    return NewContact(contract_id, day, by.strip(), outcome, channel or None, note, source, ref, promise), problems
