"""The command line: ``python run_robots.py [--config PATH] COMMAND``.

This is the edge. Only here do typed errors become messages and exit codes (0 ok, 1 runtime failure, 2 config
or usage error), and only here (and in the daemon) is the clock read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path

import structlog

from robots.support import logs
from robots.core.errors import ArbotsError, UsageError

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2
log = structlog.get_logger("arbots.cli")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-03-31") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_robots.py", description="arbots: receivables-collection robots.")
    p.add_argument("--config", type=Path, default=Path("schedules.yaml"), help="schedules.yaml to use")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="default: info; warning for demo, whose summary is what a person reads")
    p.add_argument("--log-json", action="store_true", help="JSON logs even on a terminal")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", help="check schedules.yaml and the scenarios; report every problem")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    t = sub.add_parser("tick", help="one cycle: sync, age, run what is due (repeatable: a rerun adds nothing)")
    t.add_argument("--as-of", type=_day, required=True, help="the business day, YYYY-MM-DD")
    sy = sub.add_parser("sync", help="read the ledger from the connectors and swap it in (all or nothing)")
    sy.add_argument("--accept-loss", action="store_true",
                    help="apply a snapshot the sanity guard refuses (it lost many invoices or payments), once")
    c = sub.add_parser("connector", help="check a connector, or write back to the accounting system")
    csub = c.add_subparsers(dest="connector_command", required=True, metavar="ACTION")
    cc = csub.add_parser("check", help="fetch and validate what the connectors deliver; change nothing")
    cc.add_argument("id", nargs="?", help="one connector (default: all of them, validated together)")
    for action, text in (("block", "stop shipments to a debtor"), ("unblock", "resume shipments to a debtor"),
                         ("note", "post a note on a debtor's card")):
        ca = csub.add_parser(action, help=text)
        ca.add_argument("id", help="the connector to write through")
        ca.add_argument("--counterparty", required=True, help="counterparty id as the connector knows it")
        ca.add_argument("--contract", help="only this contract (default: the whole counterparty)")
        if action == "note":
            ca.add_argument("--text", required=True)
        else:
            ca.add_argument("--reason", required=True)
    pl = sub.add_parser("plan", help="what the robots would do on each coming day; changes nothing")
    pl.add_argument("--as-of", type=_day, required=True)
    pl.add_argument("--days", type=_positive, default=14)
    sub.add_parser("run", help="the daemon: ticks on the crontab lines of daemon.ticks; stops on SIGTERM")
    sub.add_parser("status", help="what the robots have done so far")
    sub.add_parser("certs", help="officers' certificates: subject, issuer, serial, validity, days left, status "
                                 "(exit 1 if any cannot sign)")
    v = sub.add_parser("verify", help="validate the signatures in PDF files (exit 1 if any is invalid)")
    v.add_argument("files", nargs="+", type=Path, metavar="FILE")
    v.add_argument("--json", action="store_true", help="one JSON document on stdout")
    v.add_argument("--offline", action="store_true", help="use only what the files embed; fetch no OCSP/CRL")
    v.add_argument("--trust-root", type=Path, action="append", default=[], metavar="PEM",
                   help="a trusted root certificate (repeatable); default: signing.trust_roots of the config")
    a = sub.add_parser("archive", help="the legal archive: verify, export for auditors, list, retention, holds")
    asub = a.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    av = asub.add_parser("verify", help="check bags, journals, the index and signatures (exit 1 on any problem)")
    _select(av)
    av.add_argument("--bag", type=Path, metavar="PATH",
                    help="verify an exported package (zip or folder) offline, without the database")
    av.add_argument("--no-signatures", action="store_true", help="skip the PDF signature checks (hashes only)")
    av.add_argument("--offline", action="store_true", help="fetch no OCSP/CRL; use what the files embed")
    av.add_argument("--trust-root", type=Path, action="append", default=[], metavar="PEM",
                    help="a trusted root certificate (repeatable); default: signing.trust_roots of the config")
    av.add_argument("--json", action="store_true", help="one JSON document on stdout")
    av.add_argument("--workers", type=_positive, help="hashing threads (default: 2 x CPUs, at most 8)")
    ae = asub.add_parser("export", help="the auditor's package: a zip holding a BagIt bag, verifiable offline")
    _select(ae, required=True)
    ae.add_argument("--from", dest="date_from", type=_day, help="first document date, YYYY-MM-DD")
    ae.add_argument("--to", dest="date_to", type=_day, help="last document date, YYYY-MM-DD")
    ae.add_argument("--out", type=Path, required=True, metavar="FILE.zip")
    al = asub.add_parser("list", help="a contract's or counterparty's documents (or every contract folder)")
    _select(al)
    ar = asub.add_parser("retention", help="documents past their retention period (arbots never deletes)")
    ar.add_argument("--as-of", type=_day, help="default: today")
    ah = asub.add_parser("hold", help="a legal hold keeps a contract's documents past retention")
    ah.add_argument("action", choices=["add", "release"])
    ah.add_argument("--contract", required=True, help="contract id or number")
    ah.add_argument("--reason", default="", help="why (required for add)")
    e = sub.add_parser("export", help="BI export (star schema) and the readable report")
    esub = e.add_subparsers(dest="export_command", required=True, metavar="WHAT")
    eb = esub.add_parser("bi", help="facts and dimensions as CSV (UTF-8 with BOM) and Parquet, with a README")
    eb.add_argument("--out", type=Path, required=True, metavar="DIR")
    eb.add_argument("--as-of", type=_day, help="default: the last evaluated day, else today")
    eb.add_argument("--from", dest="date_from", type=_day, help="first day of the daily debt snapshot "
                                                                "(default: the as-of day only)")
    er = esub.add_parser("report", help="the readable report: aging chart, top debtors, cash plan, KPIs")
    er.add_argument("--out", type=Path, required=True, metavar="FILE", help="FILE.pdf or FILE.html")
    er.add_argument("--as-of", type=_day, help="default: the last evaluated day, else today")
    d = sub.add_parser("demo", help="simulate the robots on a generated ledger in a self-contained workdir")
    d.add_argument("--workdir", type=Path, default=Path("var/demo"))
    d.add_argument("--days", type=_positive, default=60)
    for module in _feature_clis():
        module.add_parsers(sub)
    h = sub.add_parser("hold", help="hold a debt back from the robots (dispute, pause) or release it")
    h.add_argument("action", choices=["add", "release"])
    h.add_argument("invoice_id")
    h.add_argument("--kind", choices=["dispute", "pause"], default="dispute")
    h.add_argument("--reason", default="")
    h.add_argument("--until", type=_day, help="last day of the hold (default: until released)")
    return p


def _feature_clis() -> list:
    """Modules that bring their own commands: COMMANDS, add_parsers(sub) and run(args, config, store, now)."""
    from robots.cli import approvals as approval_cli
    from robots.cli import people as people_cli
    from robots.cli import tasks as task_cli

    return [task_cli, people_cli, approval_cli]


def _select(parser: argparse.ArgumentParser, required: bool = False) -> None:
    g = parser.add_mutually_exclusive_group(required=required)
    g.add_argument("--contract", metavar="X", help="contract id or number")
    g.add_argument("--counterparty", metavar="Y", help="counterparty id, INN or exact name")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or ("warning" if args.command == "demo" else "info")
    logs.configure(level, json=True if args.log_json else None)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ArbotsError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return EXIT_RUNTIME


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _dispatch(args: argparse.Namespace) -> int:
    from robots.config import load_config

    if args.command == "demo":
        return _demo(args)
    if args.command == "verify":
        return _verify(args)
    if args.command == "archive" and args.archive_command == "verify" and args.bag is not None:
        return _archive_verify_package(args)
    config = load_config(args.config)
    if args.command == "certs":
        return _certs(config)
    if args.command == "validate":
        groups = ", ".join(f"{g} ({len(s.columns)} columns)" for g, s in config.settings.groups.items())
        print(f"{args.config}: OK. Groups: {groups}. Scenarios: {', '.join(sorted(config.scenarios))}.")
        return EXIT_OK
    if args.command == "plan":
        return _plan(config, args.as_of, args.days)

    from robots.store import Store
    from robots.engine.tick import services_for

    store = Store.open(config.database_url())
    try:
        if args.command == "migrate":
            print("database schema is up to date")
        elif args.command == "tick":
            from robots.engine.tick import tick

            from rich.progress import Progress

            with Progress(disable=not sys.stderr.isatty(), transient=True) as bar:
                running = bar.add_task("running scenarios", total=None)
                report = tick(services_for(config, store), args.as_of, _now(),
                              progress=lambda run: bar.update(running, advance=1, description=run.run_key))
            r = report.runner
            print(f"{args.as_of}: {sum(report.crossings.values())} crossings ({sum(report.skipped.values())} skipped "
                  f"by catch-up), {report.new_runs} new runs; runs done {len(r.done)}, failed {len(r.failed)}, "
                  f"to retry {len(r.retry)}")
            return EXIT_RUNTIME if r.failed else EXIT_OK
        elif args.command == "sync":
            from robots.engine.sync import sync

            ledger = sync(config, store, _now(), accept_loss=args.accept_loss)
            print("synced: " + ", ".join(f"{n} {k}" for k, n in ledger.counts().items()))
        elif args.command == "connector":
            return _connector(config, args)
        elif args.command == "run":
            from robots.engine.daemon import run_daemon

            return run_daemon(services_for(config, store))
        elif args.command == "status":
            from robots.engine.summary import render_summary, summarize

            print(render_summary(summarize(store)))
        elif args.command == "hold":
            return _hold(store, args)
        elif module := next((m for m in _feature_clis() if args.command in m.COMMANDS), None):
            return module.run(args, config, store, _now())
        elif args.command == "archive":
            from robots.cli import archive as archive_cli

            return archive_cli.run(args, config, store, _now())
        elif args.command == "export":
            from robots.cli import export as export_cli

            return export_cli.run(args, config, store, _now())
    finally:
        store.close()
    return EXIT_OK


def _connector(config, args: argparse.Namespace) -> int:
    from robots.engine.sync import build_connectors, connector_by_id, pull

    if args.connector_command == "check":
        conns = [connector_by_id(config, args.id)] if args.id else build_connectors(config)
        try:
            if args.id:  # one connector alone: its records, without the others' references
                fetched = conns[0].fetch()
                counts = {e: len(r) for e, r in fetched.tables.items() if r is not None}
                if fetched.problems:
                    from connectors.base import SyncRejected

                    raise SyncRejected(conns[0].id, tuple(fetched.problems))
                print(f"{args.id}: OK, " + ", ".join(f"{n} {e}" for e, n in counts.items()))
            else:
                ledger = pull(conns, config.settings.groups)
                print("OK: " + ", ".join(f"{n} {k}" for k, n in ledger.counts().items()))
        finally:
            for c in conns:
                c.close()
        return EXIT_OK
    from connectors.base import WriteBack, WriteBackUnsupported

    conn = connector_by_id(config, args.id)
    try:
        if not isinstance(conn, WriteBack):
            raise WriteBackUnsupported(f"connector '{args.id}' cannot write back")
        if args.connector_command == "note":
            result = conn.post_note(args.counterparty, args.contract, args.text)
        else:
            act = conn.block_shipments if args.connector_command == "block" else conn.unblock_shipments
            result = act(args.counterparty, args.contract, args.reason)
    finally:
        conn.close()
    print(f"{args.id}: {result.action} {'done' if result.ok else 'FAILED'}" + (f" ({result.detail})"
                                                                              if result.detail else ""))
    return EXIT_OK if result.ok else EXIT_RUNTIME


def _hold(store, args: argparse.Namespace) -> int:
    from robots.core.domain import Hold, HoldKind

    kind = HoldKind(args.kind)
    if args.action == "add":
        store.add_hold(Hold(args.invoice_id, kind, args.reason, args.until), _now())
        print(f"invoice {args.invoice_id}: {kind} hold added")
    else:
        n = store.release_holds(args.invoice_id, kind, _now())
        if not n:
            raise UsageError(f"invoice {args.invoice_id} has no open {kind} hold")
        print(f"invoice {args.invoice_id}: {kind} hold released")
    return EXIT_OK


def _archive_verify_package(args: argparse.Namespace) -> int:
    from robots.cli import archive as archive_cli

    return archive_cli.verify_package_cmd(args, _now())


def _certs(config) -> int:
    from signing.certs import CertState
    from signing.service import SigningService

    officers = config.settings.officers
    if not officers:
        print("no officers configured (schedules.yaml officers:)")
        return EXIT_OK
    service = SigningService.from_config(config)
    now = _now()
    bad = 0
    try:
        for oid, officer in officers.items():
            check = service.check(oid, now)
            info = check.info
            level = service.level_for(oid).value
            deputy = f"; deputy {officer.deputy}{' (may sign)' if officer.deputy_fallback else ''}" \
                if officer.deputy else ""
            print(f"{oid}: {officer.name}, {officer.position} [{level}{deputy}]")
            if info is not None:
                print(f"  subject:  {info.subject}")
                print(f"  issuer:   {info.issuer}")
                print(f"  serial:   {info.serial}")
                print(f"  valid:    {info.not_before:%Y-%m-%d} .. {info.not_after:%Y-%m-%d} "
                      f"({info.days_left(now)} days left)")
            print(f"  status:   {check.state.value.upper()}" + (f": {'; '.join(check.problems)}"
                                                                if check.problems else ""))
            bad += check.state not in (CertState.OK, CertState.EXPIRING)
    finally:
        service.close()
    return EXIT_RUNTIME if bad else EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    import json

    from signing.keys import KeyUnavailable, load_cert_files
    from signing.verify import verify_file

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    try:
        if args.trust_root:
            roots = load_cert_files(tuple(args.trust_root), Path.cwd(), "--trust-root")
        else:
            from robots.config import load_config

            config = load_config(args.config)
            roots = load_cert_files(config.settings.signing.trust_roots, config.base_dir, "signing.trust_roots")
    except KeyUnavailable as exc:
        raise UsageError(str(exc)) from None
    reports = [verify_file(f, roots, online=not args.offline, at=_now()) for f in args.files]
    if args.json:
        print(json.dumps([r.as_json() for r in reports], ensure_ascii=False, indent=2))
    else:
        for r in reports:
            print(f"{r.path}: {'VALID' if r.ok else 'INVALID'}" + (f" ({r.error})" if r.error else ""))
            for s in r.signatures:
                yes = {True: "yes", False: "no", None: "-"}
                who = f"{s.signer}" + (f" ({s.position})" if s.position else "")
                print(f"  {s.kind} {s.field}: {'OK' if s.ok else 'INVALID'} - {who}, certificate {s.serial}")
                print(f"    intact: {yes[s.intact]}, trusted: {yes[s.trusted]}, revoked: {yes[s.revoked]}, "
                      f"changes after: {s.modification_level} (coverage {s.coverage})")
                when = f"signed at {s.signing_time}" if s.signing_time else ""
                if s.timestamp:
                    when += (", " if when else "") + f"timestamp {s.timestamp} " \
                                                     f"({'valid' if s.timestamp_valid else 'INVALID'})"
                print(f"    {when}" + (f", level {s.level}" if s.level else ""))
                for problem in s.problems:
                    print(f"    problem: {problem}")
    return EXIT_OK if all(r.ok for r in reports) else EXIT_RUNTIME


def _plan(config, as_of: date, days: int) -> int:
    from robots.engine.plan import plan, print_plan

    print_plan(plan(config, as_of, days), as_of, days)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from demo.command import run_demo
    from robots.engine.summary import render_summary

    show = sys.stderr.isatty()
    with Progress(disable=not show, transient=True) as progress:
        task = progress.add_task("simulating days", total=args.days)

        def on_day(day: date, report) -> None:
            progress.update(task, advance=1, description=f"simulating {day}")

        result = run_demo(args.workdir, args.days, _now, on_day)
    print(f"Demo workdir: {result.workdir.resolve()}")
    if result.days_run:
        print(f"Simulated {result.days_run[0]} .. {result.days_run[-1]} ({len(result.days_run)} ticks)")
    print(f"Config: {result.config.path}")
    print(f"Database: {result.config.database_url()}")
    print(f"Archive: {result.config.archive_dir}")
    print(render_summary(result.summary))
    if result.verify is not None:
        v = result.verify
        print(f"Archive check: {v.bags} contract folders (BagIt bags), {v.files} files, {v.signatures} signatures: "
              + ("OK" if v.ok else f"{len(v.findings)} PROBLEMS (run `archive verify`)"))
        maildir = result.config.resolve(Path("var/mail"))
        if maildir.is_dir():
            sent = sum(1 for box in ("new", "cur") if (maildir / box).is_dir() for _ in (maildir / box).iterdir())
            print(f"E-mail: {sent} letters received by the demo mail server in {maildir} (Maildir)")
        print(f"Report: {result.report}")
        print(f"BI export: {result.bi} (CSV and Parquet, README.md inside)")
        if not v.ok:
            return EXIT_RUNTIME
    return EXIT_OK
