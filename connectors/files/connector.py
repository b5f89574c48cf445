"""The file connector: CSV or XLSX files in, raw ledger records out (and the demo's CSV writer).

The files are often exported by hand from Excel in a Russian locale, so each CSV file's encoding (UTF-8 with or
without BOM, else cp1251) and delimiter (``,`` or ``;``) are detected on their own, and every value accepts both
spellings (``2026-03-31`` / ``31.03.2026``, ``1234.56`` / ``1 234,56``). An XLSX workbook is read with openpyxl:
a folder may hold ``invoices.xlsx`` instead of ``invoices.csv``, or ``path`` may be one workbook with a sheet per
entity. The format is documented for ops engineers in ``docs/csv-format.md``; keep the two in step.

Nothing is validated here beyond the table's shape; :func:`connectors.records.build_ledger` checks the values of
all connectors together, all or nothing.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.base import ENTITIES, FIELDS, OPTIONAL_FIELDS, ConnectorUnavailable, Fetched, Problem, Record, \
    SyncRejected, Where, WriteBackUnsupported, WriteResult, records_of_contract
from connectors.records import build_ledger, parse_date, parse_money, parse_penalty_percent  # noqa: F401 (API)
from robots.core.domain import Ledger

COLUMNS: dict[str, tuple[str, ...]] = {f"{e}.csv": FIELDS[e] for e in ENTITIES}
FILES = tuple(COLUMNS)
DIALECTS = ("utf8", "excel-ru")


# Reading one table.
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


def _norm_header(name: Any) -> str:
    # Lenient on purpose: 'Due Date', ' due_date ' and '\ufeffdue-date' all mean due_date.
    return re.sub(r"[\s\-]+", "_", str(name if name is not None else "").replace("\ufeff", "").strip().lower())


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
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


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _xlsx_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    for n, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        if not all(_blank(c) for c in row):
            yield n, list(row)


def _cell(value: Any) -> Any:
    """XLSX cells come typed: text stripped, whole floats as ints (Excel stores 30 as 30.0), the rest as is."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _table(rows: Iterator[tuple[int, list[Any]]], entity: str, source: str, aliases: Mapping[str, str],
           problems: list[Problem], delimiter_hint: str = ",") -> list[Record] | None:
    """Rows with a header into Records; None (with a problem) when the header lacks a required column."""
    fields = FIELDS[entity]
    header_line, header = next(rows, (1, []))
    index = {_norm_header(h): i for i, h in reversed(list(enumerate(header)))}  # the first one wins
    where_of = {f: index.get(_norm_header(aliases.get(f, f))) for f in fields}
    missing = [aliases.get(f, f) for f in fields if where_of[f] is None and f not in OPTIONAL_FIELDS[entity]]
    if missing:
        found = ", ".join(str(h).strip() for h in header if h is not None) or "(nothing: the table is empty)"
        problems.append(Problem(source, f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                                        f"the header found is: {found}", header_line))
        return None
    records: list[Record] = []
    width = len(header)
    for line, cells in rows:
        if len(cells) > width and any(not _blank(c) for c in cells[width:]):
            # Usually an unquoted '1234,56' in a comma file: the values after it are shifted, trust none.
            problems.append(Problem(source, f"the row has {len(cells)} values but the header has {width} columns; "
                                            f"a value containing '{delimiter_hint}' must be in double quotes", line))
            continue
        values = {f: _cell(cells[i]) if i < len(cells) else "" for f, i in where_of.items() if i is not None}
        records.append(Record(Where(source, line=line), values))
    return records


def _csv_table(raw: bytes, entity: str, source: str, aliases: Mapping[str, str],
               problems: list[Problem]) -> list[Record] | None:
    try:
        text = _decode(raw)
        delimiter = _delimiter(text)
        return _table(_csv_rows(text, delimiter), entity, source, aliases, problems, delimiter)
    except _BadFile as e:
        problems.append(Problem(source, str(e), e.line))
        return None


def _open_workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise _BadFile(f"not a readable .xlsx workbook ({e}); save it from Excel as 'Excel Workbook (*.xlsx)'")


def _xlsx_table(wb: Any, sheet: str | None, entity: str, source: str, aliases: Mapping[str, str],
                problems: list[Problem]) -> list[Record] | None:
    if sheet is None:
        ws = wb.worksheets[0]
    else:
        names = {n.strip().lower(): n for n in wb.sheetnames}
        if sheet.lower() not in names:
            problems.append(Problem(source, f"the workbook has no sheet '{sheet}'; its sheets are: "
                                            f"{', '.join(wb.sheetnames)}"))
            return None
        ws = wb[names[sheet.lower()]]
    return _table(_xlsx_rows(ws), entity, source, aliases, problems)


# The connector.
class FileConnector:
    """Reads the ledger's entities from files: ``<entity>.csv`` or ``<entity>.xlsx`` in one folder, or one
    workbook with a sheet per entity (``path: ledger.xlsx``).

    ``entities`` limits what it delivers (a bank's payments file, say); ``files`` names a file per entity instead
    of the default ``<entity>.csv``/``.xlsx``; ``columns`` maps a ledger field to the file's header (``amount:
    Сумма``).
    """

    def __init__(self, id: str, path: Path, known_groups: frozenset[str] | None = None, *,
                 entities: tuple[str, ...] = ENTITIES, files: Mapping[str, str] | None = None,
                 columns: Mapping[str, Mapping[str, str]] | None = None, write_back: Any = None,
                 write_back_path: Path | None = None):
        self.id = id
        #: FileWriteBack (or None) and its journal's resolved path.
        self.write_back = write_back
        self.write_back_path = write_back_path
        self.path = Path(path)
        self.known_groups = known_groups
        self.entities = tuple(e for e in ENTITIES if e in entities)
        self.files = dict(files or {})
        self.columns = {e: dict(m) for e, m in (columns or {}).items()}

    def close(self) -> None:
        pass

    # -- write-back: a CSV journal (FileWriteBack in robots/config/models.py) ------------------------------------

    def block_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._journal("block_shipments", counterparty_id, contract_id, reason)

    def unblock_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._journal("unblock_shipments", counterparty_id, contract_id, reason)

    def post_note(self, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult:
        return self._journal("post_note", counterparty_id, contract_id, text)

    def _journal(self, action: str, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult:
        """Append one row (fsynced, under an exclusive lock) to the write-back journal."""
        import fcntl

        if self.write_back is None or not getattr(self.write_back, action, False):
            raise WriteBackUnsupported(f"connector '{self.id}' has no write_back.{action}: add write_back: "
                                       "{journal: <file>} to it in schedules.yaml")
        path = self.write_back_path
        row = io.StringIO()
        csv.writer(row, delimiter=";", lineterminator="\r\n").writerow(
            [action, counterparty_id, contract_id or "", " ".join(text.split())])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_size == 0:
                    os.write(fd, "\ufeffaction;counterparty_id;contract_id;text\r\n".encode("utf-8"))
                os.write(fd, row.getvalue().encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise ConnectorUnavailable(self.id, f"cannot write {path}: {e.strerror or e}") from None
        return WriteResult(self.id, action, True, f"journal {path.name}")

    def fetch(self) -> Fetched:
        """Read every table. Raises :class:`ConnectorUnavailable` when the folder or workbook cannot be read at
        all; problems with single files, headers and rows go into the result."""
        return self._fetch_only(self.entities)

    def _fetch_only(self, entities: tuple[str, ...]) -> Fetched:
        problems: list[Problem] = []
        tables: dict[str, list[Record] | None] = {}
        try:
            if self.path.suffix.lower() in (".xlsx", ".xlsm") and not self.path.is_dir():
                if not self.path.is_file():
                    raise ConnectorUnavailable(self.id, f"workbook {self.path} does not exist")
                try:
                    wb = _open_workbook(self.path)
                except _BadFile as e:
                    problems.append(Problem(self.path.name, str(e)))
                    return Fetched(self.id, {e: None for e in entities}, problems)
                try:
                    for entity in entities:
                        sheet = self.files.get(entity, entity)
                        tables[entity] = _xlsx_table(wb, sheet, entity, f"{self.path.name}[{sheet}]",
                                                     self.columns.get(entity, {}), problems)
                finally:
                    wb.close()
                return Fetched(self.id, tables, problems)
            if not self.path.is_dir():
                what = "is not a folder" if self.path.exists() else "does not exist"
                raise ConnectorUnavailable(self.id, f"folder {self.path} {what}")
            for entity in entities:
                tables[entity] = self._read(entity, problems)
        except OSError as e:  # permission denied, I/O error, a share gone: the environment's, retry later
            raise ConnectorUnavailable(self.id, f"cannot read {self.path}: {e.strerror or e}") from None
        return Fetched(self.id, tables, problems)

    def _read(self, entity: str, problems: list[Problem]) -> list[Record] | None:
        aliases = self.columns.get(entity, {})
        if entity in self.files:
            candidates = [self.files[entity]]
        else:
            candidates = [n for n in (f"{entity}.csv", f"{entity}.xlsx") if (self.path / n).exists()]
            if len(candidates) > 1:
                problems.append(Problem(candidates[0], f"both {entity}.csv and {entity}.xlsx exist; keep one"))
                return None
            if not candidates:
                problems.append(Problem(f"{entity}.csv", "the file is missing (or put the table in "
                                        f"{entity}.xlsx); expected columns: {', '.join(FIELDS[entity])}"))
                return None
        name = candidates[0]
        path = self.path / name
        if not path.exists():
            problems.append(Problem(name, f"the file is missing; expected columns: {', '.join(FIELDS[entity])}"))
            return None
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            try:
                wb = _open_workbook(path)
            except _BadFile as e:
                problems.append(Problem(name, str(e)))
                return None
            try:
                return _xlsx_table(wb, None, entity, name, aliases, problems)
            finally:
                wb.close()
        return _csv_table(path.read_bytes(), entity, name, aliases, problems)

    def payments_for(self, contract_id: str) -> Fetched:
        """One contract's payments, read from the file now (the ``reconcile`` step): the payments table filtered."""
        if "payments" not in self.entities:
            return Fetched(self.id, {}, [])
        fetched = self._fetch_only(("payments",))
        fetched.tables["payments"] = records_of_contract(fetched.tables.get("payments"), contract_id)
        return fetched

    def pull(self) -> Ledger:
        """Fetch and validate on its own (a connector that delivers all four entities): the Ledger, or
        :class:`SyncRejected` with every problem, file by file and line by line."""
        fetched = self.fetch()
        problems = list(fetched.problems)
        ledger = build_ledger(fetched.tables, problems, self.known_groups)
        if problems:
            order = {f"{e}.csv": i for i, e in enumerate(ENTITIES)}
            problems.sort(key=lambda p: (order.get(p.source, len(order)), p.line or 0))
            raise SyncRejected(self.id, tuple(problems))
        return ledger


# Writing.
def _percent(rate: Decimal | None, comma: bool) -> str:
    if rate is None:
        return ""
    text = format((rate * 100).normalize(), "f")  # 'f': never '1E+1'
    return text.replace(".", ",") if comma else text


def _discounts(tiers: tuple[tuple[Decimal, int], ...], comma: bool) -> str:
    from robots.core.discounts import format_discounts

    text = format_discounts(tiers) or ""
    return text.replace(".", ",") if comma else text


def _tables(ledger: Ledger, ru: bool) -> dict[str, list[list[str]]]:
    day = (lambda d: f"{d.day:02d}.{d.month:02d}.{d.year:04d}") if ru else date.isoformat
    # Excel-ru's own thousands separator is the no-break space; a plain one would make Excel see text.
    money = (lambda x: f"{x:,.2f}".replace(",", "\u00a0").replace(".", ",")) if ru else (lambda x: f"{x:.2f}")
    return {
        "counterparties.csv": [[c.id, c.name, c.inn, c.email, c.group] for c in ledger.counterparties],
        "contracts.csv": [[c.id, c.number, c.counterparty_id, str(c.payment_days), c.currency,
                           _percent(c.penalty_rate_per_day, ru), _discounts(c.discounts, ru)]
                          for c in ledger.contracts],
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
