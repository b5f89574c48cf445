"""``promise import``, ``dispute import``, ``contact import``: a CSV file, every row recorded or none.

Each row is checked against the ledger as the commands check their flags; if any row is bad nothing is
imported and every problem is reported as ``FILE:LINE column 'x': problem`` (docs/people.md lists the columns).
A row imported before (the same ``ref``, or without one the same natural key) is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robots.cli.command import EXIT_OK
from robots.core.errors import UsageError

if TYPE_CHECKING:
    from robots.engine.people_input import LedgerView, Problems


class CsvImport:
    """One import into the store, at ``now``; promises (also those of contacts) pause for ``grace_days``."""

    def __init__(self, store: Any, view: LedgerView, grace_days: int, now: datetime):
        self.store, self.view, self.grace_days, self.now = store, view, grace_days, now

    def run(self, what: str, path: Path, day: date) -> int:
        """Import ``path`` (``what``: promises, disputes or contacts) on the business day ``day``."""
        from robots.store import people as db

        columns, check, table = {"promises": (PROMISE_COLUMNS, self._promise_row, db.promises),
                                 "disputes": (DISPUTE_COLUMNS, self._dispute_row, db.disputes),
                                 "contacts": (CONTACT_COLUMNS, self._contact_row, db.contacts)}[what]
        rows = read_csv(path, columns)
        refs = db.known_refs(self.store, table)
        natural = _natural_keys(self.store, what)
        items, errors, skipped = [], [], 0
        seen: dict[str, int] = {}
        for line, cells in rows:
            key = f"ref:{cells['ref']}" if cells.get("ref") else _row_key(what, cells, day, self.view)
            if key in seen:
                errors.append(f"{path}:{line} column '{'ref' if cells.get('ref') else 'contract'}': the same "
                              f"{what[:-1]} as line {seen[key]}" + ("" if cells.get("ref") else
                                                                     "; give each row its own ref if both are meant"))
                continue
            seen[key] = line
            if (cells.get("ref") and cells["ref"] in refs) or (not cells.get("ref") and key in natural):
                skipped += 1
                continue
            problems = [(c, "is empty") for c in columns.required if not cells.get(c)]
            item, more = check(cells, day)
            problems += [p for p in more if p[0] not in {f for f, _ in problems}]
            if item is None and not problems:
                problems.append(("contract", "not recorded"))
            errors += [f"{path}:{line} column '{f}': {m}" for f, m in problems]
            if item is not None and not problems:
                items.append(item)
        if errors:
            raise UsageError(f"{path}: nothing imported, {len(errors)} problem(s):\n  " + "\n  ".join(errors))
        done = db.record(self.store, items, self.now)
        print(f"{path}: imported {len(items)} {what}" + (f" (with {len(done.promises)} promises)"
                                                         if what == "contacts" and done.promises else "")
              + (f"; {skipped} already imported, skipped" if skipped else ""))
        return EXIT_OK

    def _promise_row(self, cells: dict[str, str], day: date) -> tuple[Any, Problems]:
        from robots.engine.people_input import check_promise

        values, problems = _parse(cells, amount="amount", date="date", recorded_on="recorded_on")
        recorded_on = values.get("recorded_on") or day
        promise, more = check_promise(
            self.view, contract=cells.get("contract"), invoice=cells.get("invoice") or None,
            amount=values.get("amount"), promised_on=values.get("date"), by=cells.get("by", ""),
            note=cells.get("note", ""), day=recorded_on, grace_days=self.grace_days,
            source="import", ref=cells.get("ref") or None)
        return promise, problems + [p for p in more if p[0] not in {f for f, _ in problems}]

    def _dispute_row(self, cells: dict[str, str], day: date) -> tuple[Any, Problems]:
        from robots.engine.people_input import check_dispute

        values, problems = _parse(cells, amount="amount", date="date")
        dispute, more = check_dispute(
            self.view, contract=cells.get("contract") or None, invoice=cells.get("invoice") or None,
            amount=values.get("amount"), reason=cells.get("reason", ""), by=cells.get("by", ""),
            day=values.get("date") or day, source="import", ref=cells.get("ref") or None)
        return dispute, problems + [p for p in more if p[0] not in {f for f, _ in problems}]

    def _contact_row(self, cells: dict[str, str], day: date) -> tuple[Any, Problems]:
        from robots.engine.people_input import check_contact

        values, problems = _parse(cells, promised_amount="promised_amount", date="date",
                                  promised_date="promised_date")
        contact, more = check_contact(
            self.view, contract=cells.get("contract"), outcome=cells.get("outcome") or None,
            channel=cells.get("channel") or None, note=cells.get("note", ""), by=cells.get("by", ""),
            day=values.get("date") or day, promised_on=values.get("promised_date"),
            promised_amount=values.get("promised_amount"), grace_days=self.grace_days,
            source="import", ref=cells.get("ref") or None)
        return contact, problems + [p for p in more if p[0] not in {f for f, _ in problems}]


# --- CSV ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    aliases: dict[str, str]


_COMMON_ALIASES = {"id": "ref", "external_id": "ref", "contract_id": "contract", "invoice_id": "invoice"}
PROMISE_COLUMNS = Columns(("contract", "amount", "date", "by"), ("invoice", "note", "ref", "recorded_on"),
                          {**_COMMON_ALIASES, "promised_date": "date", "promised_amount": "amount"})
DISPUTE_COLUMNS = Columns(("reason", "by"), ("contract", "invoice", "amount", "date", "ref"), _COMMON_ALIASES)
CONTACT_COLUMNS = Columns(("contract", "outcome", "by"),
                          ("channel", "note", "date", "promised_date", "promised_amount", "ref"), _COMMON_ALIASES)


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.replace("\ufeff", "").strip().lower())


def read_csv(path: Path, columns: Columns) -> list[tuple[int, dict[str, str]]]:
    """(line, {column: text}) of every non-blank row; the file's shape problems are a UsageError."""
    from connectors.files.tables import BadFile, csv_delimiter, csv_rows, decode_csv

    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read the file ({e.strerror})") from None
    try:
        text = decode_csv(raw)
        if not any(line.strip() for line in text.splitlines()):
            raise UsageError(f"{path}: the file is empty; the first line must name the columns")
        delimiter = csv_delimiter(text)
        records = list(csv_rows(text, delimiter))
    except BadFile as e:
        raise UsageError(f"{path}:{e.line}: {e}" if e.line else f"{path}: {e}") from None
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    problems: list[str] = []
    for start, cells in records:
        if header is None:
            header = [columns.aliases.get(_norm(c), _norm(c)) for c in cells]
            known = set(columns.required) | set(columns.optional)
            for name, raw_name in zip(header, cells):
                if name not in known:
                    problems.append(f"{path}:{start} column '{raw_name.strip()}': unknown column; the columns are "
                                    f"{', '.join(columns.required)} (required) and {', '.join(columns.optional)}")
            problems += [f"{path}:{start} column '{c}': missing (a required column)"
                         for c in columns.required if c not in header]
            problems += [f"{path}:{start} column '{c}': given twice" for c in set(header) if header.count(c) > 1]
            if problems:
                raise UsageError(f"{path}: nothing imported, {len(problems)} problem(s):\n  " + "\n  ".join(problems))
            continue
        if len(cells) > len(header):
            problems.append(f"{path}:{start} column '{len(header) + 1}': {len(cells)} values but {len(header)} "
                            f"columns; a value holding '{delimiter}' must be in double quotes")
            continue
        rows.append((start, {h: c.strip() for h, c in zip(header, cells)}))
    if problems:
        raise UsageError(f"{path}: nothing imported, {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    if not rows:
        raise UsageError(f"{path}: no rows under the header; nothing to import")
    return rows


def _parse(cells: dict[str, str], **fields: str) -> tuple[dict[str, Any], Problems]:
    """Parse the named cells (amounts: ``amount``-ish names, else dates); empty cells stay absent."""
    from connectors.records import parse_date, parse_money

    values: dict[str, Any] = {}
    problems: Problems = []
    for name in fields:
        text = cells.get(name, "")
        if not text:
            continue
        try:
            values[name] = parse_money(text) if "amount" in name else parse_date(text)
        except ValueError as e:
            problems.append((name, str(e)))
    return values, problems


def _row_key(what: str, cells: dict[str, str], day: date, view: LedgerView) -> str:
    """The natural key of a row without a ref (as :func:`_natural_keys` builds it from the store)."""
    from connectors.records import parse_date, parse_money

    def contract() -> str:
        try:
            return view.contract(cells.get("contract", ""))
        except ValueError:
            return cells.get("contract", "")

    def amount(name: str) -> str:
        try:
            return str(parse_money(cells.get(name, "")))
        except ValueError:
            return cells.get(name, "")

    def when(name: str, default: date | None = None) -> str:
        try:
            return parse_date(cells[name]).isoformat() if cells.get(name) else (default.isoformat() if default else "")
        except ValueError:
            return cells.get(name, "")

    if what == "promises":
        return "|".join((contract(), cells.get("invoice", ""), when("date"), amount("amount"),
                         cells.get("by", "")))
    if what == "disputes":
        return "|".join(("" if cells.get("invoice") else contract(), cells.get("invoice", ""), cells.get("reason", ""),
                         cells.get("by", "")))
    return "|".join((contract(), when("date", day), cells.get("outcome", ""),
                     cells.get("channel", ""), cells.get("by", ""), cells.get("note", "")))


def _natural_keys(store: Any, what: str) -> set[str]:
    """Natural keys of every promise, dispute and contact the store holds (whatever became of them since)."""
    from robots.store import people as db

    if what == "promises":
        return {"|".join((r.contract_id, r.invoice_id or "", r.promised_on.isoformat(), str(r.amount), r.recorded_by))
                for r in db.promise_rows(store)}
    if what == "disputes":
        return {"|".join(("" if r.invoice_id else r.contract_id, r.invoice_id or "", r.reason, r.opened_by))
                for r in db.dispute_rows(store)}
    return {"|".join((r.contract_id, r.contacted_on.isoformat(), r.outcome, r.channel or "", r.recorded_by, r.note))
            for r in db.contact_rows(store)}
