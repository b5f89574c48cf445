"""What people tell the robots, checked: promises to pay, disputes and the contacts journal.

:class:`LedgerView` and the ``check_*`` functions validate what a person typed (or a CSV row) against the ledger in
the store and turn it into the records of :mod:`robots.store.people`; each problem names its field. What a promise
or a dispute means for the robots is decided in :mod:`robots.core.decisions` and :mod:`robots.engine.events`.
docs/people.md is the reference for ops engineers.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from robots.core.balances import allocate
from robots.core.decisions import ContactChannel, ContactOutcome
from robots.core.domain import ZERO
from robots.store.ledger import contract_numbers, invoice_contracts
from robots.store.people import NewContact, NewDispute, NewPromise

# --- validating what people enter -------------------------------------------------------------------------------

#: (field, message) pairs: the CLI shows them as --field, a CSV import as FILE:LINE column 'field'.
Problems = list[tuple[str, str]]


class LedgerView:
    """The ledger in the store, read once, for checking references and finding a debt's open invoices."""

    def __init__(self, store: Any, tolerance: Decimal):
        self.store, self.tolerance = store, tolerance
        self.contracts = contract_numbers(store)
        self.invoice_contract = invoice_contracts(store)
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


def _required_contract(view: LedgerView, contract: str | None, problems: Problems) -> str | None:
    """The contract's id, or None with the problem recorded (it is missing, unknown or ambiguous)."""
    if not contract:
        problems.append(("contract", "is required"))
        return None
    try:
        return view.contract(contract)
    except ValueError as e:
        problems.append(("contract", str(e)))
        return None


def check_promise(view: LedgerView, *, contract: str | None, invoice: str | None, amount: Decimal | None,
                  promised_on: date | None, by: str, note: str, day: date, grace_days: int,
                  source: str = "cli", ref: str | None = None) -> tuple[NewPromise | None, Problems]:
    """A promise ready to record, or the problems with it. ``day``: the business day it is recorded on."""
    problems: Problems = []
    invoice_id = None
    contract_id = _required_contract(view, contract, problems)
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
    contract_id = _required_contract(view, contract, problems)
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
