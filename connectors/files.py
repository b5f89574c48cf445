"""The folder connector: four CSV files in, one validated :class:`~robots.domain.Ledger` out (and back).

The files are often exported by hand from Excel in a Russian locale, so each file's encoding (UTF-8 with or
without BOM, else cp1251) and delimiter (``,`` or ``;``) are detected on their own, and every value accepts both
spellings (``2026-03-31`` / ``31.03.2026``, ``1234.56`` / ``1 234,56``). The format is documented for ops
engineers in ``docs/csv-format.md``; keep the two in step.

Validation is all or nothing: every problem in every file is collected first, then one :class:`SyncRejected`
lists them all. A half-read ledger would make robots send letters about debts that do not exist.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from connectors.base import INVALID, ConnectorUnavailable, Problem, RowChecker, SyncRejected, required, valid
from robots.domain import Contract, Counterparty, Invoice, Ledger, Payment

COLUMNS: dict[str, tuple[str, ...]] = {
    "counterparties.csv": ("id", "name", "inn", "email", "group"),
    "contracts.csv": ("id", "number", "counterparty_id", "payment_days", "currency", "penalty_rate_per_day"),
    "invoices.csv": ("id", "number", "contract_id", "date", "due_date", "amount"),
    "payments.csv": ("id", "contract_id", "invoice_id", "date", "amount"),
}
FILES = tuple(COLUMNS)
DIALECTS = ("utf8", "excel-ru")

CENT = Decimal("0.01")
_SPACES = " \u00a0\u202f\u2009"  # Excel-ru writes U+00A0 as its thousands separator; people type plain spaces
# re.ASCII: \d must not accept other scripts' digits, which Decimal() and int() would silently convert.
_MONEY_RE = re.compile(rf"\d{{1,3}}(?:[{_SPACES}]\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?", re.ASCII)
_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_RU_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", re.ASCII)
_MONEY_HINT = "write it as 1234.56 or 1 234,56"
_DATE_HINT = "write it as 2026-03-31 or 31.03.2026"


# Value parsers: each returns the value or raises ValueError with the message the user will read.
def parse_money(text: str) -> Decimal:
    """Parse an amount exactly: ``1234.56``, ``1 234,56``, ``-50``; at most 2 decimals, never via float."""
    s = text.strip()
    if not s:
        raise ValueError(f"the amount is empty; {_MONEY_HINT}")
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
    if len(whole) > 15:  # beyond any real invoice, and beyond what Decimal's default precision keeps exact
        raise ValueError(f"'{s}' is too large for an amount; {_MONEY_HINT}")
    if len(frac) > 2:
        raise ValueError(f"'{s}' has more than 2 decimal places (amounts go down to kopecks); {_MONEY_HINT}")
    value = Decimal(f"{whole}.{frac or '0'}").quantize(CENT)
    return -value if negative else value


def parse_date(text: str) -> date:
    """Parse ``2026-03-31`` or ``31.03.2026`` (any file, either dialect); anything else is refused."""
    s = text.strip()
    if not s:
        raise ValueError(f"the date is empty; {_DATE_HINT}")
    if m := _ISO_RE.fullmatch(s):
        y, mo, d = m.groups()
    elif m := _RU_RE.fullmatch(s):
        d, mo, y = m.groups()
    else:
        raise ValueError(f"'{s}' is not a date in an accepted form; {_DATE_HINT}")
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        raise ValueError(f"'{s}' is not a real calendar date; {_DATE_HINT}") from None


def parse_penalty_percent(text: str) -> Decimal | None:
    """Read a penalty written as in contracts (``0.1``, ``0,1``, ``0.1%`` = 0.1 % a day) as a fraction (0.001)."""
    s = text.strip()
    if not s:
        return None
    body = (s[:-1] if s.endswith("%") else s).strip().replace(",", ".")
    if not re.fullmatch(r"\d{1,2}(?:\.\d{1,20})?", body, re.ASCII):  # under 100 % a day, not absurdly precise
        raise ValueError(f"'{s}' is not a percent per day; write it as in the contract: 0.1, 0,1 or 0.1% "
                         "(empty means no penalty)")
    return Decimal(body) / 100


def _payment_days(s: str) -> int:
    if not s:
        return 0
    if not s.isascii() or not s.isdigit():
        raise ValueError(f"'{s}' is not a whole number of days; write e.g. 30 (empty means 0)")
    return int(s)


def _currency(s: str) -> str:
    if not s:
        return "RUB"
    if not (len(s) == 3 and s.isascii() and s.isalpha()):
        raise ValueError(f"'{s}' is not a currency code; write 3 latin letters such as RUB, USD, EUR (empty means RUB)")
    return s.upper()


# Reading one file.
class _BadFile(Exception):
    """The file exists but cannot be read as a table; the message becomes one Problem for the whole file."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _BadFile("the file is saved as UTF-16 ('Unicode text'); save it as 'CSV UTF-8' or 'CSV' instead")
    try:  # utf-8-sig also reads BOM-less UTF-8
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if raw.startswith(b"\xef\xbb\xbf"):
            raise _BadFile(f"the file starts with a UTF-8 BOM but byte {e.start} is not UTF-8") from None
    try:  # not UTF-8: what Excel in a Russian locale writes by default
        return raw.decode("cp1251")
    except UnicodeDecodeError:
        raise _BadFile("the file is neither UTF-8 nor Windows-1251 (cp1251) text") from None


def _delimiter(text: str) -> str:
    header = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if header.count(";") > header.count(",") else ","


def _norm_header(name: str) -> str:
    # Lenient on purpose: 'Due Date', ' due_date ' and '\ufeffdue-date' all mean due_date.
    return re.sub(r"[\s\-]+", "_", name.replace("\ufeff", "").strip().lower())


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first physical line, cells) for every non-blank record; quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise _BadFile(f"broken quoting ({e}), the rest of the file cannot be read; a value with quotes must "
                           'be fully enclosed in double quotes, with inner quotes doubled ("")', start) from None
        if any(cell.strip() for cell in row):
            yield start, row


Rows = list[tuple[int, dict[str, str]]]


def read_table(folder: Path, name: str, problems: list[Problem]) -> Rows | None:
    """Read one CSV file into (line, {column: stripped value}) rows; None if the file as a whole is unusable.

    Problems go to ``problems``; an OSError other than a missing file propagates (the caller makes it
    :class:`ConnectorUnavailable`).
    """
    try:
        raw = (folder / name).read_bytes()
    except FileNotFoundError:
        problems.append(Problem(name, f"the file is missing; expected columns: {', '.join(COLUMNS[name])}"))
        return None
    try:
        text = _decode(raw)
        delimiter = _delimiter(text)
        records = _records(text, delimiter)
        header_line, header = next(records, (1, []))
        index = {_norm_header(h): i for i, h in reversed(list(enumerate(header)))}  # first one wins
        missing = [c for c in COLUMNS[name] if c not in index]
        if missing:
            found = ", ".join(h.strip() for h in header) or "(nothing: the file is empty)"
            problems.append(Problem(name, f"missing column{'s' if len(missing) > 1 else ''} "
                                          f"{', '.join(missing)}; the header found is: {found}", header_line))
            return None
        rows: Rows = []
        for line, cells in records:
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
                # Usually an unquoted '1234,56' in a comma file: the values after it are shifted, trust none.
                problems.append(Problem(name, f"the row has {len(cells)} values but the header has {len(header)} "
                                              f"columns; a value containing '{delimiter}' must be in double quotes",
                                        line))
                continue
            cells += [""] * (len(header) - len(cells))
            rows.append((line, {c: cells[index[c]].strip() for c in COLUMNS[name]}))
        return rows
    except _BadFile as e:
        problems.append(Problem(name, str(e), e.line))
        return None


# The connector.
class FileConnector:
    """Reads ``counterparties.csv``, ``contracts.csv``, ``invoices.csv`` and ``payments.csv`` from one folder."""

    def __init__(self, id: str, path: Path, known_groups: frozenset[str] | None = None):
        self.id = id
        self.path = Path(path)
        self.known_groups = known_groups

    def pull(self) -> Ledger:
        """Read and validate the whole folder; return the Ledger only if every file is valid.

        Raises :class:`ConnectorUnavailable` when the folder cannot be read at all, :class:`SyncRejected`
        with every problem found otherwise.
        """
        try:
            if not self.path.is_dir():
                what = "is not a folder" if self.path.exists() else "does not exist"
                raise ConnectorUnavailable(self.id, f"folder {self.path} {what}")
            problems: list[Problem] = []
            tables = {name: read_table(self.path, name, problems) for name in FILES}
        except OSError as e:  # permission denied, I/O error, a share gone: the environment's, retry later
            raise ConnectorUnavailable(self.id, f"cannot read {self.path}: {e.strerror or e}") from None
        ledger = self._build(tables, problems)
        if problems:
            # Ordered by file, then line, so the report reads top to bottom like the files themselves.
            problems.sort(key=lambda p: (FILES.index(p.source) if p.source in FILES else len(FILES), p.line or 0))
            raise SyncRejected(self.id, tuple(problems))
        return ledger

    def _group(self, s: str) -> str:
        group = s or "default"
        if self.known_groups is not None and group not in self.known_groups:
            raise ValueError(f"unknown group '{group}'; known groups: {', '.join(sorted(self.known_groups))}")
        return group

    def _build(self, tables: dict[str, Rows | None], problems: list[Problem]) -> Ledger:
        empty: Rows = []
        # Ids are registered even for rows with other problems, so one bad cell does not cascade into
        # "unknown contract" problems on every row that refers to it.
        chk = RowChecker("counterparties.csv", problems)
        counterparties = []
        for line, r in tables["counterparties.csv"] or empty:
            v = (chk.new_id(line, r), chk.cell(line, r, "name", required), r["inn"], r["email"],
                 chk.cell(line, r, "group", self._group))
            if valid(*v):
                counterparties.append(Counterparty(*v))
        cp_ids = None if tables["counterparties.csv"] is None else chk.first_line

        chk = RowChecker("contracts.csv", problems)
        contracts, payment_days = [], {}
        for line, r in tables["contracts.csv"] or empty:
            v = (chk.new_id(line, r), chk.cell(line, r, "number", required),
                 chk.ref(line, r, "counterparty_id", cp_ids, "counterparties.csv"),
                 chk.cell(line, r, "payment_days", _payment_days), chk.cell(line, r, "currency", _currency),
                 chk.cell(line, r, "penalty_rate_per_day", parse_penalty_percent))
            if v[0] is not INVALID:
                payment_days[v[0]] = v[3]
            if valid(*v):
                contracts.append(Contract(*v))
        ct_ids = None if tables["contracts.csv"] is None else payment_days

        chk = RowChecker("invoices.csv", problems)
        invoices, invoice_contract = [], {}
        for line, r in tables["invoices.csv"] or empty:
            iid, number = chk.new_id(line, r), chk.cell(line, r, "number", required)
            contract_id = chk.ref(line, r, "contract_id", ct_ids, "contracts.csv")
            issued, amount = chk.cell(line, r, "date", parse_date), chk.cell(line, r, "amount", parse_money)
            if iid is not INVALID:
                invoice_contract[iid] = contract_id
            if amount is not INVALID and amount == 0:
                amount = chk.add(line, "amount", "the amount is 0; a credit note is negative, e.g. -1500.00")
            if r["due_date"]:
                due = chk.cell(line, r, "due_date", parse_date)
                if valid(due, issued) and due < issued:
                    due = chk.add(line, "due_date", f"due date {due.isoformat()} is before the invoice date "
                                                    f"{issued.isoformat()}")
            elif valid(issued, contract_id) and payment_days.get(contract_id, INVALID) is not INVALID:
                due = issued + timedelta(days=payment_days[contract_id])  # the contract's payment term
            else:
                due = INVALID  # cannot compute; the date or contract problem is already reported
            v = (iid, number, contract_id, issued, due, amount)
            if valid(*v):
                invoices.append(Invoice(*v))
        inv_ids = None if tables["invoices.csv"] is None else invoice_contract

        chk = RowChecker("payments.csv", problems)
        payments = []
        for line, r in tables["payments.csv"] or empty:
            pid, contract_id = chk.new_id(line, r), chk.ref(line, r, "contract_id", ct_ids, "contracts.csv")
            paid, amount = chk.cell(line, r, "date", parse_date), chk.cell(line, r, "amount", parse_money)
            if amount is not INVALID and amount <= 0:
                amount = chk.add(line, "amount", f"'{r['amount']}' is not greater than 0; a payment is positive")
            invoice_id = r["invoice_id"] or None
            if invoice_id is not None and inv_ids is not None:
                owner = inv_ids.get(invoice_id, INVALID)
                if invoice_id not in inv_ids:
                    invoice_id = chk.add(line, "invoice_id", f"unknown invoice '{invoice_id}': no row with this id "
                                                             "in invoices.csv")
                elif valid(owner, contract_id) and owner != contract_id:
                    invoice_id = chk.add(line, "invoice_id", f"invoice '{invoice_id}' belongs to contract "
                                                             f"'{owner}', not to '{contract_id}'")
            v = (pid, contract_id, paid, amount, invoice_id)
            if valid(*v):
                payments.append(Payment(*v))
        return Ledger(tuple(counterparties), tuple(contracts), tuple(invoices), tuple(payments))


# Writing.
def _percent(rate: Decimal | None, comma: bool) -> str:
    if rate is None:
        return ""
    text = format((rate * 100).normalize(), "f")  # 'f': never '1E+1'
    return text.replace(".", ",") if comma else text


def _tables(ledger: Ledger, ru: bool) -> dict[str, list[list[str]]]:
    day = (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year:04d}") if ru else date.isoformat
    # Excel-ru's own thousands separator is the no-break space; a plain one would make Excel see text.
    money = (lambda x: f"{x:,.2f}".replace(",", "\u00a0").replace(".", ",")) if ru else (lambda x: f"{x:.2f}")
    return {
        "counterparties.csv": [[c.id, c.name, c.inn, c.email, c.group] for c in ledger.counterparties],
        "contracts.csv": [[c.id, c.number, c.counterparty_id, str(c.payment_days), c.currency,
                           _percent(c.penalty_rate_per_day, ru)] for c in ledger.contracts],
        "invoices.csv": [[i.id, i.number, i.contract_id, day(i.date), day(i.due_date), money(i.amount)]
                         for i in ledger.invoices],
        "payments.csv": [[p.id, p.contract_id, p.invoice_id or "", day(p.date), money(p.amount)]
                         for p in ledger.payments],
    }


def write_ledger_csv(ledger: Ledger, folder: Path, dialect: str = "utf8") -> None:
    """Write ``ledger`` as the four CSV files :class:`FileConnector` reads, in ``dialect`` "utf8" or "excel-ru".

    "utf8": UTF-8 with BOM, ``,``, ISO dates, ``.`` decimals. "excel-ru": cp1251, ``;``, dd.mm.yyyy, comma
    decimals with no-break-space thousands (what Excel in a Russian locale writes and opens). Each file is written
    to a temporary file in ``folder`` and renamed over the old one, so a reader never sees a half-written file.
    Raises ValueError for an unknown dialect or a text that cp1251 cannot encode (nothing is written then).
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect '{dialect}'; use one of: {', '.join(DIALECTS)}")
    ru = dialect == "excel-ru"
    encoding, delimiter = ("cp1251", ";") if ru else ("utf-8-sig", ",")
    payloads: dict[str, bytes] = {}
    for name, rows in _tables(ledger, ru).items():
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow(COLUMNS[name])
        writer.writerows(rows)
        try:  # encode everything before touching the folder: all four files are written or none
            payloads[name] = buf.getvalue().encode(encoding)
        except UnicodeEncodeError as e:
            raise ValueError(f"{name}: {e.object[e.start:e.end]!r} cannot be written in {encoding}; "
                             "use dialect 'utf8'") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    temps: list[tuple[str, str]] = []
    try:
        for name, data in payloads.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
            temps.append((tmp, name))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        # Renames last and back to back: the window where files of two versions coexist is as short as it gets.
        for tmp, name in temps:
            os.replace(tmp, folder / name)
    finally:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
