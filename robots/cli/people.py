"""``promise``, ``dispute`` and ``contact``: people's input, typed in or imported from CSV (docs/people.md).

Every command checks what it is given against the ledger in the store and records it in one transaction; the
imports are :mod:`robots.cli.people_import`'s.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from robots.cli.args import amount, day
from robots.cli.command import EXIT_OK, Context, Handler, add_actions, add_command
from robots.cli.people_import import CsvImport
from robots.core.decisions import ContactChannel, ContactOutcome
from robots.core.errors import UsageError

if TYPE_CHECKING:
    from robots.engine.people_input import LedgerView, Problems

_AS_OF = {"type": day, "metavar": "DAY",
          "help": "the business day it is recorded on, 2026-03-10 or 10.03.2026 (default: today, or the last "
                  "evaluated day if later)"}


def add(sub: Any) -> None:
    """Add ``promise``, ``dispute`` and ``contact`` with their actions."""
    _add_promise(sub)
    _add_dispute(sub)
    _add_contact(sub)


def _add_promise(sub: Any) -> None:
    p = add_command(sub, "promise", summary="promises to pay: add, list, cancel, import",
                    description="Promises to pay. A promise pauses the scenarios of its debt until its date plus "
                                "promises.grace_days; unpaid by then it is broken and events.promise_broken runs.",
                    example="run_robots.py promise add --contract C-12 --amount '15 000,00' --date 20.03.2026 "
                            "--by 'Кузнецов А. П.'\nrun_robots.py promise list --open")
    ps = add_actions(p, "people_command")
    pa = add_command(ps, "add", summary="record a promise to pay; it pauses the scenarios until its date + grace "
                                        "days",
                     description="Record a promise to pay a contract's open debt (or one invoice) by a date. It "
                                 "pauses the scenarios of that debt until the date plus promises.grace_days.",
                     example="run_robots.py promise add --contract C-12 --amount 15000 --date 2026-03-20 "
                             "--by 'Кузнецов А. П.' --note 'звонок'",
                     handler=_on(_Desk.promise_add))
    pa.add_argument("--contract", required=True, help="contract id or number")
    pa.add_argument("--invoice", help="only this invoice (default: the contract's open debt)")
    pa.add_argument("--amount", required=True, type=amount, help="e.g. 15000.00 or '15 000,00'")
    pa.add_argument("--date", required=True, type=day, metavar="DAY",
                    help="the promised payment date, 2026-03-20 or 20.03.2026")
    pa.add_argument("--by", required=True, metavar="NAME", help="who took the promise")
    pa.add_argument("--note", default="", help="what was said (free text)")
    pa.add_argument("--as-of", **_AS_OF)
    pl = add_command(ps, "list", summary="promises with their status (open, kept, broken, cancelled)",
                     description="Promises with their status (open, kept, broken, cancelled), the pause, what was "
                                 "paid towards a decided one, who took it and when.",
                     example="run_robots.py promise list --contract C-12 --open", handler=_on(_Desk.promise_list))
    pl.add_argument("--contract", help="contract id or number")
    pl.add_argument("--open", action="store_true", help="only open promises")
    pc = add_command(ps, "cancel", summary="withdraw an open promise; its pause ends at once",
                     description="Withdraw an open promise; its pause ends at once. A decided (kept or broken) "
                                 "promise cannot be cancelled.",
                     example="run_robots.py promise cancel 3 --by 'Орлова М. С.'", handler=_on(_Desk.promise_cancel))
    pc.add_argument("id", type=int, help="the promise's number (promise list shows it)")
    pc.add_argument("--by", required=True, metavar="NAME", help="who withdraws it")
    pc.add_argument("--as-of", **_AS_OF)
    _add_import(ps, "promises", "run_robots.py promise import crm-promises.csv")


def _add_dispute(sub: Any) -> None:
    d = add_command(sub, "dispute", summary="disputes: open, close, list, import",
                    description="Disputes. An open dispute excludes its debt from the robots, with its reason on "
                                "record, until it is closed with a resolution.",
                    example="run_robots.py dispute open --invoice I-2041 --reason 'недопоставка' --by 'Беляев И. Н.'"
                            "\nrun_robots.py dispute close 1 --by 'Беляев И. Н.' --resolution 'допоставили'")
    ds = add_actions(d, "people_command")
    do = add_command(ds, "open", summary="exclude a disputed debt from the robots until the dispute is closed",
                     description="Open a dispute on an invoice, or on the whole open debt of a contract: its "
                                 "invoices cross no aging column until the dispute is closed.",
                     example="run_robots.py dispute open --contract C-12 --reason 'недопоставка по УПД 101' "
                             "--by 'Беляев И. Н.' --amount 300",
                     handler=_on(_Desk.dispute_open))
    g = do.add_mutually_exclusive_group(required=True)
    g.add_argument("--invoice", help="the disputed invoice")
    g.add_argument("--contract", help="the whole open debt of this contract (id or number)")
    do.add_argument("--reason", required=True, help="why the customer disputes the debt")
    do.add_argument("--by", required=True, metavar="NAME", help="who records the dispute")
    do.add_argument("--amount", type=amount, help="the disputed part (for the record; the invoice is held whole)")
    do.add_argument("--as-of", **_AS_OF)
    dc = add_command(ds, "close", summary="close a dispute; the robots take the debt up again at its current column",
                     description="Close a dispute with its resolution; the robots take the debt up again at the "
                                 "highest column it reached.",
                     example="run_robots.py dispute close 1 --by 'Беляев И. Н.' --resolution 'допоставили'",
                     handler=_on(_Desk.dispute_close))
    dc.add_argument("id", type=int, help="the dispute's number (dispute list shows it)")
    dc.add_argument("--by", required=True, metavar="NAME", help="who closes it")
    dc.add_argument("--resolution", required=True, help="how the dispute was resolved")
    dl = add_command(ds, "list", summary="disputes with their reason and resolution",
                     description="Disputes with their reason, disputed amount, who opened them and when, and the "
                                 "resolution of closed ones.",
                     example="run_robots.py dispute list --open", handler=_on(_Desk.dispute_list))
    dl.add_argument("--contract", help="contract id or number")
    dl.add_argument("--open", action="store_true", help="only open disputes")
    _add_import(ds, "disputes", "run_robots.py dispute import disputes.csv --as-of 2026-03-10")


def _add_contact(sub: Any) -> None:
    c = add_command(sub, "contact", summary="the contacts journal: add, list, import",
                    description="The contacts journal: every call, letter or meeting with a customer and its "
                                "outcome. The outcome 'promised' records a promise to pay as well.",
                    example="run_robots.py contact add --contract C-12 --outcome no_answer --by 'Кузнецов А. П.'"
                            "\nrun_robots.py contact list --contract C-12")
    cs = add_actions(c, "people_command")
    ca = add_command(cs, "add", summary="record a contact with the customer; 'promised' records a promise too",
                     description="Record a contact with the customer. The outcome 'promised' needs the promised "
                                 "date and amount and records that promise too.",
                     example="run_robots.py contact add --contract C-12 --outcome promised --by 'Кузнецов А. П.' "
                             "--channel phone --promised-date 20.03.2026 --promised-amount 15000",
                     handler=_on(_Desk.contact_add))
    ca.add_argument("--contract", required=True, help="contract id or number")
    ca.add_argument("--outcome", required=True, choices=[o.value for o in ContactOutcome],
                    help="what came of it")
    ca.add_argument("--by", required=True, metavar="NAME", help="who made the contact")
    ca.add_argument("--channel", choices=[ch.value for ch in ContactChannel], help="how")
    ca.add_argument("--note", default="", help="what was said (free text)")
    ca.add_argument("--promised-date", type=day, metavar="DAY",
                    help="with --outcome promised: the promised payment date, 2026-03-20 or 20.03.2026")
    ca.add_argument("--promised-amount", type=amount, help="with --outcome promised: the amount, e.g. '15 000,00'")
    ca.add_argument("--as-of", **_AS_OF)
    cl = add_command(cs, "list", summary="the journal, oldest first",
                     description="The contacts journal, oldest first, with the promise a contact recorded.",
                     example="run_robots.py contact list --contract C-12", handler=_on(_Desk.contact_list))
    cl.add_argument("--contract", help="contract id or number")
    _add_import(cs, "contacts", "run_robots.py contact import calls.csv")


def _add_import(sub: Any, what: str, example: str) -> None:
    im = add_command(sub, "import", summary="import a CSV file: every row or none (docs/people.md lists the columns)",
                     description=f"Import {what} from a CSV file (UTF-8, ',' or ';'): every row, or if any row is "
                                 "bad none, each problem named by its line and column. Rows imported before are "
                                 "skipped. docs/people.md lists the columns.",
                     example=example, handler=_import)
    im.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV file")
    im.add_argument("--as-of", **_AS_OF)
    im.set_defaults(what=what)


def _on(method: Callable[[_Desk, argparse.Namespace], int]) -> Handler:
    """The handler that runs one of the desk's commands."""
    return lambda args, ctx: method(_Desk(ctx), args)


def _import(args: argparse.Namespace, ctx: Context) -> int:
    desk = _Desk(ctx)
    business_day = desk.day(args.as_of)
    return CsvImport(desk.store, desk.view, desk.settings.promises.grace_days, desk.now).run(
        args.what, args.file, business_day)


def _flag_problems(problems: Problems) -> str:
    return "; ".join(f"--{f.replace('_', '-')}: {m}" for f, m in problems)


class _Desk:
    """What people's commands work with: the store, its ledger, the settings and the business day."""

    def __init__(self, ctx: Context):

        self.config, self.store, self.now = ctx.config, ctx.store, ctx.now()
        self.settings = self.config.settings
        self._view: LedgerView | None = None

    @property
    def view(self) -> LedgerView:
        from robots.engine.people_input import LedgerView

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
        from robots.engine.people_input import check_promise
        from robots.store import people as db

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
        return EXIT_OK

    def promise_list(self, args: argparse.Namespace) -> int:
        from robots.store import people as db

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
        return EXIT_OK

    def promise_cancel(self, args: argparse.Namespace) -> int:
        from robots.store import people as db

        row = db.promise_row(self.store, args.id)
        if row is None:
            raise UsageError(f"no promise #{args.id} (promise list shows them)")
        if not db.cancel_promise(self.store, args.id, args.by, self.day(args.as_of), self.now):
            raise UsageError(f"promise #{args.id} is {row.status}, not open: only an open promise can be cancelled")
        print(f"promise #{args.id} cancelled; its pause is lifted")
        return EXIT_OK

    # -- disputes ------------------------------------------------------------------------------------------------

    def dispute_open(self, args: argparse.Namespace) -> int:
        from robots.engine.people_input import check_dispute
        from robots.store import people as db

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
        return EXIT_OK

    def dispute_close(self, args: argparse.Namespace) -> int:
        from robots.store import people as db

        row = db.dispute_row(self.store, args.id)
        if row is None:
            raise UsageError(f"no dispute #{args.id} (dispute list shows them)")
        if not args.resolution.strip():
            raise UsageError("--resolution: say how the dispute was resolved")
        if not db.close_dispute(self.store, args.id, args.by, args.resolution.strip(), self.now):
            raise UsageError(f"dispute #{args.id} is closed already")
        print(f"dispute #{args.id} closed; the robots take its debt up again")
        return EXIT_OK

    def dispute_list(self, args: argparse.Namespace) -> int:
        from robots.store import people as db

        rows = db.dispute_rows(self.store, contract_id=self._contract_filter(args.contract), open_only=args.open)
        if not rows:
            print("no disputes")
        for r in rows:
            closed = (f"; closed {r.closed_at:%Y-%m-%d %H:%M} by {r.closed_by}: {r.resolution}"
                      if r.status == "closed" else "")
            print(f"#{r.id} {r.status}: contract {r.contract_id}" + (f" invoice {r.invoice_id}" if r.invoice_id else "")
                  + (f", disputed {r.amount}" if r.amount is not None else "")
                  + f"; {r.reason} (opened {r.opened_on.isoformat()} by {r.opened_by}){closed}")
        return EXIT_OK

    # -- contacts ------------------------------------------------------------------------------------------------

    def contact_add(self, args: argparse.Namespace) -> int:
        from robots.engine.people_input import check_contact
        from robots.store import people as db

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
        return EXIT_OK

    def contact_list(self, args: argparse.Namespace) -> int:
        from robots.store import people as db

        rows = db.contact_rows(self.store, contract_id=self._contract_filter(args.contract))
        if not rows:
            print("no contacts")
        for r in rows:
            print(f"#{r.id} {r.contacted_on.isoformat()} contract {r.contract_id}: {r.outcome}"
                  + (f" ({r.channel})" if r.channel else "") + f" by {r.recorded_by}"
                  + (f", promise #{r.promise_id}" if r.promise_id else "") + (f"; {r.note}" if r.note else ""))
        return EXIT_OK


def _same_promise(store: Any, p: Any) -> int | None:
    from robots.store import people as db

    for r in db.promise_rows(store, contract_id=p.contract_id, status="open"):
        if (r.invoice_id, r.promised_on, r.amount, r.recorded_by) == (p.invoice_id, p.promised_on, p.amount,
                                                                       p.recorded_by):
            return r.id
    return None


def _same_dispute(store: Any, d: Any) -> int | None:
    from robots.store import people as db

    for r in db.dispute_rows(store, contract_id=d.contract_id, open_only=True):
        if (r.invoice_id, r.reason, r.opened_by) == (d.invoice_id, d.reason, d.opened_by):
            return r.id
    return None
