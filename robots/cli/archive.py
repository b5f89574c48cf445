"""``archive verify|export|list|retention|hold``: the legal archive's command group.

The archive package is heavy and only these commands need it, so the handlers import it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from robots.cli.args import day, positive
from robots.cli.certs import trust_roots
from robots.cli.command import EXIT_OK, EXIT_RUNTIME, Context, add_actions, add_command
from robots.core.errors import UsageError


def add(sub: Any) -> None:
    """Add ``archive`` and its actions."""
    a = add_command(sub, "archive", summary="the legal archive: verify, export for auditors, list, retention, holds",
                    description="The legal archive: one BagIt bag per contract with its documents, sidecars and "
                                "journal. Verify it, export a package for auditors, list it, see what is past its "
                                "retention period (arbots never deletes) and keep documents under legal hold.",
                    example="run_robots.py archive verify\nrun_robots.py archive list --counterparty 7701234567")
    actions = add_actions(a, "archive_command")
    av = add_command(actions, "verify", summary="check bags, journals, the index and signatures (exit 1 on any "
                                                "problem)",
                     description="Check every bag (or one contract's, or one counterparty's): hashes, journal "
                                 "chains, the database index and every signature; list each problem (modified, "
                                 "missing, extra, chain broken, signature invalid, ...). With --bag, verify an "
                                 "exported package offline, without the database.",
                     example="run_robots.py archive verify --contract C-12 --offline\n"
                             "run_robots.py archive verify --bag audit-2026.zip",
                     failure="a problem was found", handler=_verify)
    _select(av)
    av.add_argument("--bag", type=Path, metavar="PATH",
                    help="verify an exported package (zip or folder) offline, without the database")
    av.add_argument("--no-signatures", action="store_true", help="skip the PDF signature checks (hashes only)")
    av.add_argument("--offline", action="store_true", help="fetch no OCSP/CRL; use what the files embed")
    av.add_argument("--trust-root", type=Path, action="append", default=[], metavar="PEM",
                    help="a trusted root certificate (repeatable); default: signing.trust_roots of the config")
    av.add_argument("--json", action="store_true", help="one JSON document on stdout")
    av.add_argument("--workers", type=positive, metavar="N", help="hashing threads (default: 2 x CPUs, at most 8)")
    ae = add_command(actions, "export", summary="the auditor's package: a zip holding a BagIt bag, verifiable "
                                                "offline",
                     description="The auditor's package of a contract's or a counterparty's documents: a zip "
                                 "holding a BagIt bag of their bags, an index in CSV and HTML, the trust roots and "
                                 "instructions. The selection is verified first; a damaged one is not exported.",
                     example="run_robots.py archive export --counterparty 7701234567 --from 2026-01-01 "
                             "--out audit.zip",
                     failure="the selection does not verify (nothing was exported)", handler=_export)
    _select(ae, required=True)
    ae.add_argument("--from", dest="date_from", type=day, metavar="DAY",
                    help="first document date, 2026-01-01 or 01.01.2026")
    ae.add_argument("--to", dest="date_to", type=day, metavar="DAY",
                    help="last document date, 2026-03-31 or 31.03.2026")
    ae.add_argument("--out", type=Path, required=True, metavar="FILE.zip", help="the package to write")
    al = add_command(actions, "list", summary="a contract's or counterparty's documents (or every contract folder)",
                     description="Every contract folder of the archive, or one contract's or counterparty's with "
                                 "its documents.",
                     example="run_robots.py archive list\nrun_robots.py archive list --contract C-12",
                     handler=_list)
    _select(al)
    ar = add_command(actions, "retention", summary="documents past their retention period (arbots never deletes)",
                     description="Documents past archive.retention_years on a day, and which of them are under "
                                 "legal hold. arbots never deletes: dispose of them under your records policy.",
                     example="run_robots.py archive retention --as-of 2031-01-01", handler=_retention)
    ar.add_argument("--as-of", type=day, metavar="DAY", help="the day judged on, 2031-01-01 or 01.01.2031 "
                                                             "(default: today)")
    ah = add_command(actions, "hold", summary="a legal hold keeps a contract's documents past retention",
                     description="Add a legal hold on a contract's documents (they are kept past retention, e.g. "
                                 "during a lawsuit), or release it.",
                     example="run_robots.py archive hold add --contract C-12 --reason 'дело А40-1234/2026'\n"
                             "run_robots.py archive hold release --contract C-12", handler=_hold)
    ah.add_argument("action", choices=["add", "release"], help="add a legal hold, or release the open ones")
    ah.add_argument("--contract", required=True, help="contract id or number")
    ah.add_argument("--reason", default="", help="why (required for add)")


def _select(parser: argparse.ArgumentParser, required: bool = False) -> None:
    g = parser.add_mutually_exclusive_group(required=required)
    g.add_argument("--contract", metavar="X", help="contract id or number")
    g.add_argument("--counterparty", metavar="Y", help="counterparty id, INN or exact name")


def _checker(args: argparse.Namespace, ctx: Context) -> Any:
    if args.no_signatures:
        return None
    from archive.verify import signature_checker

    return signature_checker(trust_roots(args, ctx), online=not args.offline, at=ctx.now())


def _verify(args: argparse.Namespace, ctx: Context) -> int:
    if args.bag is not None:
        return _verify_package(args, ctx)
    from archive.ops import verify_archive

    config, store = ctx.config, ctx.store
    report = verify_archive(config.archive_dir, store, contract=args.contract, counterparty=args.counterparty,
                            signatures=_checker(args, ctx), workers=args.workers)
    return _print_report(report, args, str(config.archive_dir))


def _verify_package(args: argparse.Namespace, ctx: Context) -> int:
    """An exported package, offline: no database (and no config, given --trust-root or --no-signatures)."""
    from archive.ops import verify_package

    if not args.bag.exists():
        raise UsageError(f"--bag {args.bag}: no such file or folder")
    if args.contract or args.counterparty:
        raise UsageError("--bag verifies a whole exported package; --contract/--counterparty do not apply")
    report = verify_package(args.bag, signatures=_checker(args, ctx), workers=args.workers)
    return _print_report(report, args, str(args.bag))


def _print_report(report: Any, args: argparse.Namespace, where: str) -> int:
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        for f in report.findings:
            print(f"{f.kind.upper():<18} {f.where}: {f.detail}")
        sig = f", {report.signatures} signed PDFs checked" if report.signatures else ""
        verdict = "OK" if report.ok else f"{len(report.findings)} PROBLEMS"
        print(f"{where}: {report.bags} contract folders, {report.files} files, {report.bytes / 1e6:.1f} MB{sig}: "
              f"{verdict}")
    return EXIT_OK if report.ok else EXIT_RUNTIME


def _export(args: argparse.Namespace, ctx: Context) -> int:
    from archive.ops import bag_rows, export_package, select_bags, verify_archive

    config, store = ctx.config, ctx.store
    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise UsageError(f"--from {args.date_from} is after --to {args.date_to}")
    rows = select_bags(bag_rows(store), args.contract, args.counterparty)
    # Never hand an auditor a package made from a damaged archive: the selection must verify first.
    check = verify_archive(config.archive_dir, store, contract=args.contract, counterparty=args.counterparty)
    if not check.ok:
        for f in check.findings:
            print(f"{f.kind.upper():<18} {f.where}: {f.detail}", file=sys.stderr)
        print("refused: the selected contract folders do not verify; nothing was exported", file=sys.stderr)
        return EXIT_RUNTIME
    selection = f"contract {args.contract}" if args.contract else f"counterparty {args.counterparty}"
    roots = tuple(config.resolve(p) for p in config.settings.signing.trust_roots)
    result = export_package(config.archive_dir, rows, out=args.out, now=ctx.now(),
                            organization=config.settings.company.name, trust_roots=roots,
                            date_from=args.date_from, date_to=args.date_to, selection=selection)
    print(f"{result.out}: {result.documents} documents from {result.contracts} contract folders, "
          f"{result.files} files, {result.bytes / 1e6:.1f} MB")
    return EXIT_OK


def _list(args: argparse.Namespace, ctx: Context) -> int:
    from archive.ops import bag_of, bag_rows, select_bags
    from robots.store.archive_index import archived_documents

    config, store = ctx.config, ctx.store
    rows = select_bags(bag_rows(store), args.contract, args.counterparty)
    docs: dict[str, list[Any]] = {}
    for d in archived_documents(store):
        docs.setdefault(bag_of(d.path)[0], []).append(d)
    for r in rows:
        items = docs.get(r.path, [])
        print(f"{r.counterparty_name} (ИНН {r.counterparty_inn or '-'}), договор {r.contract_number} "
              f"[{r.contract_id}]: {len(items)} documents")
        print(f"  {config.archive_dir / r.path}")
        if args.contract or args.counterparty:
            for d in items:
                print(f"  {d.created_at:%Y-%m-%d}  {d.title:<45} {d.path.rpartition('/')[2]}")
    print(f"{len(rows)} contract folders")
    return EXIT_OK


def _retention(args: argparse.Namespace, ctx: Context) -> int:
    from archive.ops import retention_report

    store, years = ctx.store, ctx.config.settings.archive.retention_years
    as_of = args.as_of or ctx.now().date()
    rows = retention_report(store, years, as_of)
    for r in rows:
        hold = f"  LEGAL HOLD: {r.held}" if r.held is not None else ""
        print(f"{r.keep_until}  {r.path}{hold}")
    held = sum(r.held is not None for r in rows)
    print(f"{len(rows)} documents past their {years}-year retention on {as_of} ({held} under legal hold). "
          "arbots never deletes: dispose of them under your records policy, or keep them.")
    return EXIT_OK


def _hold(args: argparse.Namespace, ctx: Context) -> int:
    from archive.ops import bag_rows, select_bags
    from robots.store.archive_index import add_legal_hold, release_legal_holds

    store, now = ctx.store, ctx.now()
    contract_id = select_bags(bag_rows(store), args.contract)[0].contract_id
    if args.action == "add":
        if not args.reason.strip():
            raise UsageError("a legal hold needs --reason (e.g. the case number)")
        add_legal_hold(store, contract_id, args.reason.strip(), now)
        print(f"contract {contract_id}: legal hold added")
    else:
        if not release_legal_holds(store, contract_id, now):
            raise UsageError(f"contract {contract_id} has no open legal hold")
        print(f"contract {contract_id}: legal hold released")
    return EXIT_OK
