"""``promise``, ``dispute`` and ``contact``: people's input, typed in or imported from CSV (docs/people.md).

Every command checks what it is given against the ledger in the store and records it in one transaction; an
import records every row or, if any row is bad, none (each bad row reported as ``FILE:LINE column 'x': problem``).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connectors.records import parse_date, parse_money
from robots.core.errors import UsageError
from robots.core.decisions import ContactChannel, ContactOutcome
from robots.engine.people_input import (
    LedgerView,
    Problems,
    check_contact,
    check_dispute,
    check_promise,
)
from robots.store import people as db

COMMANDS: tuple[str, ...] = ("promise", "dispute", "contact")


def _day(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _amount(text: str) -> Decimal:
    try:
        return parse_money(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parsers(sub: Any) -> None:
    """Add this feature's sub-commands to the top-level subparsers."""
    as_of = {"type": _day, "metavar": "DAY",
             "help": "the business day it is recorded on (default: today, or the last evaluated day if later)"}
    p = sub.add_parser("promise", help="promises to pay: add, list, cancel, import")
    ps = p.add_subparsers(dest="people_command", required=True, metavar="ACTION")
    pa = ps.add_parser("add", help="record a promise to pay; it pauses the scenarios until its date + grace days")
    pa.add_argument("--contract", required=True, help="contract id or number")
    pa.add_argument("--invoice", help="only this invoice (default: the contract's open debt)")
    pa.add_argument("--amount", required=True, type=_amount, help="e.g. 15000.00 or '15 000,00'")
    pa.add_argument("--date", required=True, type=_day, help="the promised payment date, YYYY-MM-DD or DD.MM.YYYY")
    pa.add_argument("--by", required=True, help="who took the promise")
    pa.add_argument("--note", default="")
    pa.add_argument("--as-of", **as_of)
    pl = ps.add_parser("list", help="promises with their status (open, kept, broken, cancelled)")
    pl.add_argument("--contract", help="contract id or number")
    pl.add_argument("--open", action="store_true", help="only open promises")
    pc = ps.add_parser("cancel", help="withdraw an open promise; its pause ends at once")
    pc.add_argument("id", type=int)
    pc.add_argument("--by", required=True)
    pc.add_argument("--as-of", **as_of)
    _import_parser(ps, as_of)

    d = sub.add_parser("dispute", help="disputes: open, close, list, import")
    ds = d.add_subparsers(dest="people_command", required=True, metavar="ACTION")
    do = ds.add_parser("open", help="exclude a disputed debt from the robots until the dispute is closed")
    g = do.add_mutually_exclusive_group(required=True)
    g.add_argument("--invoice", help="the disputed invoice")
    g.add_argument("--contract", help="the whole open debt of this contract (id or number)")
    do.add_argument("--reason", required=True)
    do.add_argument("--by", required=True)
    do.add_argument("--amount", type=_amount, help="the disputed part (for the record; the invoice is held whole)")
    do.add_argument("--as-of", **as_of)
    dc = ds.add_parser("close", help="close a dispute; the robots take the debt up again at its current column")
    dc.add_argument("id", type=int)
    dc.add_argument("--by", required=True)
    dc.add_argument("--resolution", required=True)
    dl = ds.add_parser("list", help="disputes with their reason and resolution")
    dl.add_argument("--contract", help="contract id or number")
    dl.add_argument("--open", action="store_true", help="only open disputes")
    _import_parser(ds, as_of)

    c = sub.add_parser("contact", help="the contacts journal: add, list, import")
    cs = c.add_subparsers(dest="people_command", required=True, metavar="ACTION")
    ca = cs.add_parser("add", help="record a contact with the customer; 'promised' records a promise too")
    ca.add_argument("--contract", required=True, help="contract id or number")
    ca.add_argument("--outcome", required=True, choices=[o.value for o in ContactOutcome])
    ca.add_argument("--by", required=True)
    ca.add_argument("--channel", choices=[ch.value for ch in ContactChannel])
    ca.add_argument("--note", default="")
    ca.add_argument("--promised-date", type=_day, help="with --outcome promised")
    ca.add_argument("--promised-amount", type=_amount, help="with --outcome promised")
    ca.add_argument("--as-of", **as_of)
    cl = cs.add_parser("list", help="the journal, oldest first")
    cl.add_argument("--contract", help="contract id or number")
    _import_parser(cs, as_of)


def _import_parser(sub: Any, as_of: dict[str, Any]) -> None:
    im = sub.add_parser("import", help="import a CSV file: every row or none (docs/people.md lists the columns)")
    im.add_argument("file", type=Path, metavar="FILE.csv")
    im.add_argument("--as-of", **as_of)


def run(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    cli = _Cli(config, store, now)
    handler: Callable[[argparse.Namespace], int] = getattr(cli, f"{args.command}_{args.people_command}")
    return handler(args)


def _flag_problems(problems: Problems) -> str:
    return "; ".join(f"--{f.replace('_', '-')}: {m}" for f, m in problems)


class _Cli:
    def __init__(self, config: Any, store: Any, now: datetime):
        self.config, self.store, self.now = config, store, now
        self.settings = config.settings
        self._view: LedgerView | None = None

    @property
    def view(self) -> LedgerView:
        if self._view is None:
            self._view = LedgerView(self.store, self.settings.aging.tolerance)
        return self._view

    def day(self, as_of: date | None) -> date:
        """The business day: --as-of, else today in the daemon's timezone, or the last evaluated day if later."""
        if as_of is not None:
            return as_of
        today = self.now.astimezone(ZoneInfo(self.settings.daemon.timezone)).date()
        last = self.store.last_as_of()
        return max(today, last) if last else today

    def _contract_filter(self, text: str | None) -> str | None:
        if text is None:
            return None
        try:
            return self.view.contract(text)
        except ValueError as e:
            raise UsageError(f"--contract: {e}") from None

    # -- promises ------------------------------------------------------------------------------------------------

    def promise_add(self, args: argparse.Namespace) -> int:
        day = self.day(args.as_of)
        promise, problems = check_promise(
            self.view, contract=args.contract, invoice=args.invoice, amount=args.amount, promised_on=args.date,
            by=args.by, note=args.note, day=day, grace_days=self.settings.promises.grace_days)
        if promise is None:
            raise UsageError(f"promise not recorded: {_flag_problems(problems)}")
        same = _same_promise(self.store, promise)
        if same is not None:
            raise UsageError(f"the same promise is recorded already as #{same}; cancel it first to record it again")
        pid = db.record(self.store, [promise], self.now).promises[0]
        print(f"promise #{pid}: {promise.amount} by {promise.promised_on.isoformat()} on contract "
              f"{promise.contract_id}" + (f" invoice {promise.invoice_id}" if promise.invoice_id else "")
              + f"; {len(promise.hold_invoices)} invoice(s) paused until {promise.hold_until.isoformat()}")
        return 0

    def promise_list(self, args: argparse.Namespace) -> int:
        rows = db.promise_rows(self.store, contract_id=self._contract_filter(args.contract),
                               status="open" if args.open else None)
        grace = self.settings.promises.grace_days
        if not rows:
            print("no promises")
        for r in rows:
            until = (r.promised_on + timedelta(days=grace)).isoformat()
            decided = f" on {r.closed_on.isoformat()}" if r.closed_on else ""
            paid = f", paid {r.paid}" if r.paid is not None else ""
            cancelled = f" by {r.closed_by}" if r.closed_by else ""
            print(f"#{r.id} {r.status}{decided}{cancelled}{paid}: contract {r.contract_id}"
                  + (f" invoice {r.invoice_id}" if r.invoice_id else "")
                  + f", {r.amount} by {r.promised_on.isoformat()} (paused until {until}); taken by {r.recorded_by} "
                  f"on {r.recorded_on.isoformat()}" + (f"; {r.note}" if r.note else ""))
        return 0

    def promise_cancel(self, args: argparse.Namespace) -> int:
        row = db.promise_row(self.store, args.id)
        if row is None:
            raise UsageError(f"no promise #{args.id} (promise list shows them)")
        if not db.cancel_promise(self.store, args.id, args.by, self.day(args.as_of), self.now):
            raise UsageError(f"promise #{args.id} is {row.status}, not open: only an open promise can be cancelled")
        print(f"promise #{args.id} cancelled; its pause is lifted")
        return 0

    def promise_import(self, args: argparse.Namespace) -> int:
        return self._import(args, PROMISE_COLUMNS, self._promise_row, db.promises, "promises")

    def _promise_row(self, cells: dict[str, str], day: date) -> tuple[Any, Problems]:
        values, problems = _parse(cells, amount="amount", date="date", recorded_on="recorded_on")
        recorded_on = values.get("recorded_on") or day
        promise, more = check_promise(
            self.view, contract=cells.get("contract"), invoice=cells.get("invoice") or None,
            amount=values.get("amount"), promised_on=values.get("date"), by=cells.get("by", ""),
            note=cells.get("note", ""), day=recorded_on, grace_days=self.settings.promises.grace_days,
            source="import", ref=cells.get("ref") or None)
        return promise, problems + [p for p in more if p[0] not in {f for f, _ in problems}]

    # -- disputes ------------------------------------------------------------------------------------------------

    def dispute_open(self, args: argparse.Namespace) -> int:
        dispute, problems = check_dispute(self.view, contract=args.contract, invoice=args.invoice, amount=args.amount,
                                          reason=args.reason, by=args.by, day=self.day(args.as_of))
        if dispute is None:
            raise UsageError(f"dispute not opened: {_flag_problems(problems)}")
        same = _same_dispute(self.store, dispute)
        if same is not None:
            raise UsageError(f"the same dispute is open already as #{same}")
        did = db.record(self.store, [dispute], self.now).disputes[0]
        print(f"dispute #{did} opened on contract {dispute.contract_id}"
              + (f" invoice {dispute.invoice_id}" if dispute.invoice_id else "")
              + f"; {len(dispute.hold_invoices)} invoice(s) excluded until it is closed")
        return 0

    def dispute_close(self, args: argparse.Namespace) -> int:
        row = db.dispute_row(self.store, args.id)
        if row is None:
            raise UsageError(f"no dispute #{args.id} (dispute list shows them)")
        if not args.resolution.strip():
            raise UsageError("--resolution: say how the dispute was resolved")
        if not db.close_dispute(self.store, args.id, args.by, args.resolution.strip(), self.now):
            raise UsageError(f"dispute #{args.id} is closed already")
        print(f"dispute #{args.id} closed; the robots take its debt up again")
        return 0

    def dispute_list(self, args: argparse.Namespace) -> int:
        rows = db.dispute_rows(self.store, contract_id=self._contract_filter(args.contract), open_only=args.open)
        if not rows:
            print("no disputes")
        for r in rows:
            closed = (f"; closed {r.closed_at:%Y-%m-%d %H:%M} by {r.closed_by}: {r.resolution}"
                      if r.status == "closed" else "")
            print(f"#{r.id} {r.status}: contract {r.contract_id}" + (f" invoice {r.invoice_id}" if r.invoice_id else "")
                  + (f", disputed {r.amount}" if r.amount is not None else "")
                  + f"; {r.reason} (opened {r.opened_on.isoformat()} by {r.opened_by}){closed}")
        return 0

    def dispute_import(self, args: argparse.Namespace) -> int:
        return self._import(args, DISPUTE_COLUMNS, self._dispute_row, db.disputes, "disputes")

    def _dispute_row(self, cells: dict[str, str], day: date) -> tuple[Any, Problems]:
        values, problems = _parse(cells, amount="amount", date="date")
        dispute, more = check_dispute(
            self.view, contract=cells.get("contract") or None, invoice=cells.get("invoice") or None,
            amount=values.get("amount"), reason=cells.get("reason", ""), by=cells.get("by", ""),
            day=values.get("date") or day, source="import", ref=cells.get("ref") or None)
        return dispute, problems + [p for p in more if p[0] not in {f for f, _ in problems}]

    # -- contacts ------------------------------------------------------------------------------------------------

    def contact_add(self, args: argparse.Namespace) -> int:
        contact, problems = check_contact(
            self.view, contract=args.contract, outcome=args.outcome, channel=args.channel, note=args.note,
            by=args.by, day=self.day(args.as_of), promised_on=args.promised_date,
            promised_amount=args.promised_amount, grace_days=self.settings.promises.grace_days)
        if contact is None:
            raise UsageError(f"contact not recorded: {_flag_problems(problems)}")
        done = db.record(self.store, [contact], self.now)
        print(f"contact #{done.contacts[0]} recorded on contract {contact.contract_id}: {contact.outcome}"
              + (f"; promise #{done.promises[0]}: {contact.promise.amount} by "
                 f"{contact.promise.promised_on.isoformat()}" if contact.promise else ""))
        return 0

    def contact_list(self, args: argparse.Namespace) -> int:
        rows = db.contact_rows(self.store, contract_id=self._contract_filter(args.contract))
        if not rows:
            print("no contacts")
        for r in rows:
            print(f"#{r.id} {r.contacted_on.isoformat()} contract {r.contract_id}: {r.outcome}"
                  + (f" ({r.channel})" if r.channel else "") + f" by {r.recorded_by}"
                  + (f", promise #{r.promise_id}" if r.promise_id else "") + (f"; {r.note}" if r.note else ""))
        return 0

    def contact_import(self, args: argparse.Namespace) -> int:
        return self._import(args, CONTACT_COLUMNS, self._contact_row, db.contacts, "contacts")

    def _contact_row(self, cells: dict[str, str], day: date) -> tuple[Any, Problems]:
        values, problems = _parse(cells, promised_amount="promised_amount", date="date",
                                  promised_date="promised_date")
        contact, more = check_contact(
            self.view, contract=cells.get("contract"), outcome=cells.get("outcome") or None,
            channel=cells.get("channel") or None, note=cells.get("note", ""), by=cells.get("by", ""),
            day=values.get("date") or day, promised_on=values.get("promised_date"),
            promised_amount=values.get("promised_amount"), grace_days=self.settings.promises.grace_days,
            source="import", ref=cells.get("ref") or None)
        return contact, problems + [p for p in more if p[0] not in {f for f, _ in problems}]

    # -- the import --------------------------------------------------------------------------------------------

    def _import(self, args: argparse.Namespace, columns: Columns, check: Callable[..., tuple[Any, Problems]],
                table: Any, what: str) -> int:
        path: Path = args.file
        day = self.day(args.as_of)
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
        return 0


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
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read the file ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: byte {e.start} is not UTF-8; save the file as 'CSV UTF-8'") from None
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first:
        raise UsageError(f"{path}: the file is empty; the first line must name the columns")
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;").delimiter
    except csv.Error:
        delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    problems: list[str] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise UsageError(f"{path}:{start}: broken quoting ({e}); enclose a value with quotes or the delimiter "
                             'in double quotes and double its inner quotes ("")') from None
        if not any(c.strip() for c in cells):
            continue
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
    if what == "promises":
        return {"|".join((r.contract_id, r.invoice_id or "", r.promised_on.isoformat(), str(r.amount), r.recorded_by))
                for r in db.promise_rows(store)}
    if what == "disputes":
        return {"|".join(("" if r.invoice_id else r.contract_id, r.invoice_id or "", r.reason, r.opened_by))
                for r in db.dispute_rows(store)}
    return {"|".join((r.contract_id, r.contacted_on.isoformat(), r.outcome, r.channel or "", r.recorded_by, r.note))
            for r in db.contact_rows(store)}


def _same_promise(store: Any, p: Any) -> int | None:
    for r in db.promise_rows(store, contract_id=p.contract_id, status="open"):
        if (r.invoice_id, r.promised_on, r.amount, r.recorded_by) == (p.invoice_id, p.promised_on, p.amount,
                                                                       p.recorded_by):
            return r.id
    return None


def _same_dispute(store: Any, d: Any) -> int | None:
    for r in db.dispute_rows(store, contract_id=d.contract_id, open_only=True):
        if (r.invoice_id, r.reason, r.opened_by) == (d.invoice_id, d.reason, d.opened_by):
            return r.id
    return None
