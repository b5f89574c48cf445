"""Reading one table of a file connector: a CSV file's bytes or a workbook's sheet into raw records.

The files are often exported by hand from Excel in a Russian locale, so each CSV file's encoding (UTF-8 with or
without BOM, else cp1251) and delimiter (``,`` or ``;``) are detected on their own; headers are matched leniently
(``Due Date`` is ``due_date``), and ``columns`` may map a ledger field to another header. XLSX cells come typed and
are read with openpyxl. The values themselves are checked later, by :func:`connectors.records.build_ledger`.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from connectors.base import FIELDS, OPTIONAL_FIELDS, Problem, Record, Where


class BadFile(Exception):
    """The file exists but cannot be read as a table; the message becomes one Problem for the whole file."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def decode_csv(raw: bytes) -> str:
    """A CSV file's text: UTF-8 with or without BOM, else cp1251 (what Excel in a Russian locale writes)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadFile("the file is saved as UTF-16 ('Unicode text'); save it as 'CSV UTF-8' or 'CSV' instead")
    try:  # utf-8-sig also reads BOM-less UTF-8
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if raw.startswith(b"\xef\xbb\xbf"):
            raise BadFile(f"the file starts with a UTF-8 BOM but byte {e.start} is not UTF-8") from None
    try:  # not UTF-8: what Excel in a Russian locale writes by default
        return raw.decode("cp1251")
    except UnicodeDecodeError:
        raise BadFile("the file is neither UTF-8 nor Windows-1251 (cp1251) text") from None


def csv_delimiter(text: str) -> str:
    """``;`` or ``,``: whichever the header line (the first non-blank one) has more of."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    return ";" if header.count(";") > header.count(",") else ","


def _norm_header(name: Any) -> str:
    # Lenient on purpose: 'Due Date', ' due_date ' and '\ufeffdue-date' all mean due_date.
    return re.sub(r"[\s\-]+", "_", str(name if name is not None else "").replace("\ufeff", "").strip().lower())


def csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    """Yield (first physical line, cells) for every non-blank record; quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise BadFile(f"broken quoting ({e}), the rest of the file cannot be read; a value with quotes must "
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


def csv_table(raw: bytes, entity: str, source: str, aliases: Mapping[str, str],
              problems: list[Problem]) -> list[Record] | None:
    """The records of a CSV file's bytes, its encoding and delimiter detected; None (with a problem) when the file
    cannot be read as a table or its header lacks a required column."""
    try:
        text = decode_csv(raw)
        delimiter = csv_delimiter(text)
        return _table(csv_rows(text, delimiter), entity, source, aliases, problems, delimiter)
    except BadFile as e:
        problems.append(Problem(source, str(e), e.line))
        return None


def open_workbook(path: Path) -> Any:
    """The workbook at ``path``, read-only with cached values; BadFile when it is no readable .xlsx."""
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise BadFile(f"not a readable .xlsx workbook ({e}); save it from Excel as 'Excel Workbook (*.xlsx)'") from None


def xlsx_table(wb: Any, sheet: str | None, entity: str, source: str, aliases: Mapping[str, str],
               problems: list[Problem]) -> list[Record] | None:
    """The records of the sheet ``sheet`` (None: the first one) of ``wb``; None (with a problem) when the sheet is
    missing or its header lacks a required column."""
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

