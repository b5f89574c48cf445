"""``run_robots.py archive ...``: verify, export, list, retention and legal holds (the CLI's archive half)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from robots.core.errors import UsageError

EXIT_OK, EXIT_PROBLEMS = 0, 1


def run(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    action = args.archive_command
    if action == "verify":
        return _verify(args, config, store, now)
    if action == "export":
        return _export(args, config, store, now)
    if action == "list":
        return _list(args, config, store)
    if action == "retention":
        return _retention(args, config, store, now)
    return _hold(args, store, now)


def _roots(args: argparse.Namespace, config: Any | None) -> tuple[Any, ...]:
    from signing.keys import KeyUnavailable, load_cert_files

    try:
        if args.trust_root:
            return load_cert_files(tuple(args.trust_root), Path.cwd(), "--trust-root")
        if config is None:
            from robots.config import load_config

            config = load_config(args.config)
        return load_cert_files(config.settings.signing.trust_roots, config.base_dir, "signing.trust_roots")
    except KeyUnavailable as exc:
        raise UsageError(str(exc)) from None


def _checker(args: argparse.Namespace, config: Any | None, now: datetime) -> Any:
    if args.no_signatures:
        return None
    from archive.verify import signature_checker

    return signature_checker(_roots(args, config), online=not args.offline, at=now)


def _verify(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    from archive.ops import verify_archive

    report = verify_archive(config.archive_dir, store, contract=args.contract, counterparty=args.counterparty,
                            signatures=_checker(args, config, now), workers=args.workers)
    return _print_report(report, args, str(config.archive_dir))


def verify_package_cmd(args: argparse.Namespace, now: datetime) -> int:
    from archive.ops import verify_package

    if not args.bag.exists():
        raise UsageError(f"--bag {args.bag}: no such file or folder")
    if args.contract or args.counterparty:
        raise UsageError("--bag verifies a whole exported package; --contract/--counterparty do not apply")
    report = verify_package(args.bag, signatures=_checker(args, None, now), workers=args.workers)
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
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _export(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    from archive.ops import bag_rows, export_package, select_bags, verify_archive

    if args.date_from and args.date_to and args.date_from > args.date_to:
        raise UsageError(f"--from {args.date_from} is after --to {args.date_to}")
    rows = select_bags(bag_rows(store), args.contract, args.counterparty)
    # Never hand an auditor a package made from a damaged archive: the selection must verify first.
    check = verify_archive(config.archive_dir, store, contract=args.contract, counterparty=args.counterparty)
    if not check.ok:
        for f in check.findings:
            print(f"{f.kind.upper():<18} {f.where}: {f.detail}", file=sys.stderr)
        print("refused: the selected contract folders do not verify; nothing was exported", file=sys.stderr)
        return EXIT_PROBLEMS
    selection = f"contract {args.contract}" if args.contract else f"counterparty {args.counterparty}"
    roots = tuple(config.resolve(p) for p in config.settings.signing.trust_roots)
    result = export_package(config.archive_dir, rows, out=args.out, now=now,
                            organization=config.settings.company.name, trust_roots=roots,
                            date_from=args.date_from, date_to=args.date_to, selection=selection)
    print(f"{result.out}: {result.documents} documents from {result.contracts} contract folders, "
          f"{result.files} files, {result.bytes / 1e6:.1f} MB")
    return EXIT_OK


def _list(args: argparse.Namespace, config: Any, store: Any) -> int:
    from archive.ops import bag_of, bag_rows, select_bags

    rows = select_bags(bag_rows(store), args.contract, args.counterparty)
    docs: dict[str, list[Any]] = {}
    for d in store.archived_documents():
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


def _retention(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    from archive.ops import retention_report

    years = config.settings.archive.retention_years
    as_of = args.as_of or now.date()
    rows = retention_report(store, years, as_of)
    for r in rows:
        hold = f"  LEGAL HOLD: {r.held}" if r.held is not None else ""
        print(f"{r.keep_until}  {r.path}{hold}")
    held = sum(r.held is not None for r in rows)
    print(f"{len(rows)} documents past their {years}-year retention on {as_of} ({held} under legal hold). "
          "arbots never deletes: dispose of them under your records policy, or keep them.")
    return EXIT_OK


def _hold(args: argparse.Namespace, store: Any, now: datetime) -> int:
    from archive.ops import bag_rows, select_bags

    contract_id = select_bags(bag_rows(store), args.contract)[0].contract_id
    if args.action == "add":
        if not args.reason.strip():
            raise UsageError("a legal hold needs --reason (e.g. the case number)")
        store.add_legal_hold(contract_id, args.reason.strip(), now)
        print(f"contract {contract_id}: legal hold added")
    else:
        if not store.release_legal_holds(contract_id, now):
            raise UsageError(f"contract {contract_id} has no open legal hold")
        print(f"contract {contract_id}: legal hold released")
    return EXIT_OK
