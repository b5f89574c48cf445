"""Raw records in, one validated :class:`~robots.core.domain.Ledger` out: the checks every connector shares.

Connectors deliver :class:`~connectors.base.Record` s whose values are text (CSV and XLSX cells, HTML table
cells) or typed JSON values; this module converts and checks them all the same way, so a ledger reads the same
whichever way it came in. Validation is all or nothing: every problem in every record is collected, each naming
where it is (file and line, or source, page and record) and the field, and the caller refuses the whole snapshot
if there is any. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import OPTIONAL_FIELDS, Problem, Record, Where
from robots.core.discounts import parse_discounts
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment

CENT = Decimal("0.01")
_SPACES = " \u00a0\u202f\u2009"  # Excel-ru writes U+00A0 as its thousands separator; people type plain spaces
# re.ASCII: \d must not accept other scripts' digits, which Decimal() and int() would silently convert.
_MONEY_RE = re.compile(rf"\d{{1,3}}(?:[{_SPACES}]\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?", re.ASCII)
_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
# What JSON APIs send: 2026-03-31T00:00:00, with optional fraction and zone (1C sends none; the date part counts).
_ISO_TS_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?",
                        re.ASCII)
_RU_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", re.ASCII)
_MONEY_HINT = "write it as 1234.56 or 1 234,56"
_DATE_HINT = "write it as 2026-03-31 or 31.03.2026"
_MAX_WHOLE_DIGITS = 15
_MINUS_SIGNS = ("\u2212", "\u2013")  # beyond any real invoice, and beyond what Decimal's default precision keeps exact


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


#: What :class:`Checker` returns for a value that failed; its problem is already recorded.
INVALID: Any = _Invalid()


def valid(*values: Any) -> bool:
    """True when none of ``values`` is :data:`INVALID`."""
    return all(v is not INVALID for v in values)


class _Empty(ValueError):
    """The value is empty (None or blank text); optional fields turn this into their default."""


def _describe(v: Any) -> str:
    return f"'{v}'" if isinstance(v, str) else f"{v!r} ({type(v).__name__})"


# Value parsers: each takes what a connector delivered and returns the value or raises ValueError with the
# message the user will read. Text goes through the same rules as the CSV format (docs/csv-format.md).
def parse_text(v: Any) -> str:
    """Text, stripped. Whole JSON numbers become their digits (ids are often numbers in APIs)."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (bool, float)):
        raise ValueError(f"{_describe(v)} is not text")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal) and v == v.to_integral_value() and v.as_tuple().exponent >= 0:
        return str(int(v))
    raise ValueError(f"{_describe(v)} is not text")


def required(v: Any) -> str:
    text = parse_text(v)
    if not text:
        raise _Empty("is empty; this value is required")
    return text


def parse_money(v: Any) -> Decimal:
    """An amount, exactly: ``1234.56``, ``1 234,56``, ``-50`` or a JSON number; at most 2 decimals, never float."""
    if isinstance(v, bool) or v is None:
        if v is None:
            raise _Empty(f"the amount is empty; {_MONEY_HINT}")
        raise ValueError(f"{_describe(v)} is not an amount; {_MONEY_HINT}")
    if isinstance(v, float):  # a connector that did not read numbers as Decimal: the float may already be off
        v = Decimal(repr(v))
    if isinstance(v, int):
        v = Decimal(v)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f"{v} is not an amount; {_MONEY_HINT}")
        if v != v.quantize(CENT, rounding="ROUND_DOWN"):
            raise ValueError(f"{v} has more than 2 decimal places (amounts go down to kopecks)")
        if abs(v) >= Decimal(10) ** _MAX_WHOLE_DIGITS:
            raise ValueError(f"{v} is too large for an amount")
        return v.quantize(CENT)
    if not isinstance(v, str):
        raise ValueError(f"{_describe(v)} is not an amount; {_MONEY_HINT}")
    s = v.strip()
    if not s:
        raise _Empty(f"the amount is empty; {_MONEY_HINT}")
    if s.startswith(_MINUS_SIGNS):  # web pages print U+2212 (and sometimes en dash) for minus
        s = "-" + s[1:].lstrip()
    negative = s.startswith("-")
    body = s[1:] if negative else s
    if any(c.isalpha() for c in body):
        raise ValueError(f"'{s}' contains letters; write only the number (no currency, no exponent), {_MONEY_HINT}")
    if "," in body and "." in body:
        raise ValueError(f"'{s}' has both ',' and '.'; use one as the decimal separator and spaces for thousands, "
                         f"{_MONEY_HINT}")
    body = body.replace(",", ".")
    if not _MONEY_RE.fullmatch(body):
        raise ValueError(f"'{s}' is not a number; {_MONEY_HINT}")
    whole, _, frac = body.partition(".")
    whole = re.sub(f"[{_SPACES}]", "", whole)
    if len(whole) > _MAX_WHOLE_DIGITS:
        raise ValueError(f"'{s}' is too large for an amount; {_MONEY_HINT}")
    if len(frac) > 2:
        raise ValueError(f"'{s}' has more than 2 decimal places (amounts go down to kopecks); {_MONEY_HINT}")
    value = Decimal(f"{whole}.{frac or '0'}").quantize(CENT)
    return -value if negative else value


def parse_date(v: Any) -> date:
    """``2026-03-31``, ``31.03.2026``, an ISO timestamp (its date part) or a date a connector already parsed."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if v is None:
        raise _Empty(f"the date is empty; {_DATE_HINT}")
    if not isinstance(v, str):
        raise ValueError(f"{_describe(v)} is not a date; {_DATE_HINT}")
    s = v.strip()
    if not s:
        raise _Empty(f"the date is empty; {_DATE_HINT}")
    if m := _ISO_RE.fullmatch(s) or _ISO_TS_RE.fullmatch(s):
        y, mo, d = m.groups()
    elif m := _RU_RE.fullmatch(s):
        d, mo, y = m.groups()
    else:
        raise ValueError(f"'{s}' is not a date in an accepted form; {_DATE_HINT}")
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        raise ValueError(f"'{s}' is not a real calendar date; {_DATE_HINT}") from None


def parse_penalty_percent(v: Any) -> Decimal | None:
    """A penalty written as in contracts (``0.1``, ``0,1``, ``0.1%``, a JSON 0.1 = 0.1 % a day) as a fraction."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    hint = "write it as in the contract: 0.1, 0,1 or 0.1% (empty means no penalty)"
    if isinstance(v, bool) or not isinstance(v, (str, int, Decimal, float)):
        raise ValueError(f"{_describe(v)} is not a percent per day; {hint}")
    s = v.strip() if isinstance(v, str) else format(Decimal(repr(v)) if isinstance(v, float) else Decimal(v), "f")
    body = (s[:-1] if s.endswith("%") else s).strip().replace(",", ".")
    if not re.fullmatch(r"\d{1,2}(?:\.\d{1,20})?", body, re.ASCII):  # under 100 % a day, not absurdly precise
        raise ValueError(f"'{s}' is not a percent per day; {hint}")
    value = Decimal(body) / 100
    return None if value == 0 and isinstance(v, (int, Decimal, float)) else value


def parse_payment_days(v: Any) -> int:
    if v is None or (isinstance(v, str) and not v.strip()):
        return 0
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif isinstance(v, Decimal) and v == v.to_integral_value():
        n = int(v)
    elif isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        n = int(v.strip())
    else:
        raise ValueError(f"{_describe(v)} is not a whole number of days; write e.g. 30 (empty means 0)")
    if not 0 <= n <= 3650:
        raise ValueError(f"{n} days is not a payment term (0 to 3650 days)")
    return n


def parse_currency(v: Any) -> str:
    s = parse_text(v)
    if not s:
        return "RUB"
    if not (len(s) == 3 and s.isascii() and s.isalpha()):
        raise ValueError(f"'{s}' is not a currency code; write 3 latin letters such as RUB, USD, EUR "
                         "(empty means RUB)")
    return s.upper()


def parse_decimal(v: Any) -> Decimal:
    """A plain number (for mappings that compute): JSON number or text with '.' or ','."""
    if isinstance(v, Decimal):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return Decimal(v)
    if isinstance(v, str):
        try:
            return Decimal(v.strip().replace(",", "."))
        except InvalidOperation:
            pass
    raise ValueError(f"{_describe(v)} is not a number")


class Checker:
    """Parses the records of one entity, recording a Problem per bad value instead of stopping."""

    def __init__(self, entity: str, problems: list[Problem]):
        self.entity, self.problems = entity, problems
        #: Every id seen so far and where first, including records with other problems: a reference to them
        #: must not cascade into "unknown id" problems.
        self.first: dict[str, Where] = {}

    def add(self, where: Where, field: str | None, message: str) -> Any:
        self.problems.append(Problem.at(where, message, field))
        return INVALID

    def cell(self, rec: Record, field: str, parse: Callable[[Any], Any]) -> Any:
        """``parse(value)``; an empty optional field gives parse's own default; INVALID with a problem else."""
        try:
            return parse(rec.values.get(field))
        except _Empty as e:
            if field in OPTIONAL_FIELDS[self.entity]:
                return parse(None) if parse not in (parse_date, parse_money) else None
            return self.add(rec.where, field, str(e))
        except ValueError as e:
            return self.add(rec.where, field, str(e))

    def new_id(self, rec: Record) -> Any:
        rid = self.cell(rec, "id", required)
        if rid is not INVALID:
            if rid in self.first:
                return self.add(rec.where, "id", f"duplicate id '{rid}': already used at {self.first[rid]}")
            self.first[rid] = rec.where
        return rid

    def ref(self, rec: Record, field: str, known: Mapping[str, Any] | None, entity: str) -> Any:
        """A required reference to an id in ``known``; unchecked when ``known`` is None (that source is unusable
        and its own problem says so)."""
        value = self.cell(rec, field, required)
        if value is not INVALID and known is not None and value not in known:
            return self.add(rec.where, field, f"unknown {field.removesuffix('_id')} '{value}': no {entity} record "
                                              "has this id")
        return value


def build_ledger(tables: Mapping[str, Sequence[Record] | None], problems: list[Problem],
                 known_groups: Iterable[str] | None = None) -> Ledger:
    """Check and convert every record; every problem goes to ``problems`` (the caller refuses the snapshot if
    there is any). ``tables[entity]`` None: that source is unusable; references into it are not checked."""
    groups = None if known_groups is None else frozenset(known_groups)

    def group(v: Any) -> str:
        g = parse_text(v) or "default"
        if groups is not None and g not in groups:
            raise ValueError(f"unknown group '{g}'; known groups: {', '.join(sorted(groups))}")
        return g

    def rows(entity: str) -> Sequence[Record]:
        return tables.get(entity) or ()

    chk = Checker("counterparties", problems)
    counterparties = []
    for r in rows("counterparties"):
        v = (chk.new_id(r), chk.cell(r, "name", required), chk.cell(r, "inn", parse_text),
             chk.cell(r, "email", parse_text), chk.cell(r, "group", group))
        if valid(*v):
            counterparties.append(Counterparty(*v))
    cp_ids = None if tables.get("counterparties") is None else chk.first

    chk = Checker("contracts", problems)
    contracts, payment_days = [], {}
    for r in rows("contracts"):
        v = (chk.new_id(r), chk.cell(r, "number", required),
             chk.ref(r, "counterparty_id", cp_ids, "counterparty"),
             chk.cell(r, "payment_days", parse_payment_days), chk.cell(r, "currency", parse_currency),
             chk.cell(r, "penalty_rate_per_day", parse_penalty_percent), chk.cell(r, "discounts", parse_discounts))
        if v[0] is not INVALID:
            payment_days[v[0]] = v[3]
        if valid(*v):
            contracts.append(Contract(*v))
    ct_ids = None if tables.get("contracts") is None else payment_days

    chk = Checker("invoices", problems)
    invoices, invoice_contract = [], {}
    for r in rows("invoices"):
        iid, number = chk.new_id(r), chk.cell(r, "number", required)
        contract_id = chk.ref(r, "contract_id", ct_ids, "contract")
        issued, amount = chk.cell(r, "date", parse_date), chk.cell(r, "amount", parse_money)
        if iid is not INVALID:
            invoice_contract[iid] = contract_id
        if amount is not INVALID and amount == 0:
            amount = chk.add(r.where, "amount", "the amount is 0; a credit note is negative, e.g. -1500.00")
        due = chk.cell(r, "due_date", parse_date)
        if due is None:  # not given: the contract's payment term
            term = payment_days.get(contract_id, INVALID) if contract_id is not INVALID else INVALID
            due = issued + timedelta(days=term) if valid(issued, term) else INVALID
        elif valid(due, issued) and due < issued:
            due = chk.add(r.where, "due_date", f"due date {due.isoformat()} is before the invoice date "
                                               f"{issued.isoformat()}")
        v = (iid, number, contract_id, issued, due, amount)
        if valid(*v):
            invoices.append(Invoice(*v))
    inv_ids = None if tables.get("invoices") is None else invoice_contract

    chk = Checker("payments", problems)
    payments = []
    for r in rows("payments"):
        pid, contract_id = chk.new_id(r), chk.ref(r, "contract_id", ct_ids, "contract")
        paid, amount = chk.cell(r, "date", parse_date), chk.cell(r, "amount", parse_money)
        if amount is not INVALID and amount <= 0:
            amount = chk.add(r.where, "amount", f"{amount} is not greater than 0; a payment is positive")
        invoice_id = chk.cell(r, "invoice_id", parse_text) or None
        if invoice_id is not None and inv_ids is not None:
            owner = inv_ids.get(invoice_id, INVALID)
            if invoice_id not in inv_ids:
                invoice_id = chk.add(r.where, "invoice_id", f"unknown invoice '{invoice_id}': no invoice record "
                                                            "has this id")
            elif valid(owner, contract_id) and owner != contract_id:
                invoice_id = chk.add(r.where, "invoice_id", f"invoice '{invoice_id}' belongs to contract "
                                                            f"'{owner}', not to '{contract_id}'")
        v = (pid, contract_id, paid, amount, invoice_id)
        if valid(*v):
            payments.append(Payment(*v))
    return Ledger(tuple(counterparties), tuple(contracts), tuple(invoices), tuple(payments))


__all__ = ["Checker", "build_ledger", "parse_currency", "parse_date", "parse_decimal", "parse_money",
           "parse_payment_days", "parse_penalty_percent", "parse_text", "required"]
