"""``certs`` (the officers' signing certificates) and ``verify`` (the signatures in PDF files).

The signing package is heavy and only these commands need it, so the handlers import it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from robots.cli.command import EXIT_OK, EXIT_RUNTIME, Context, add_command
from robots.core.errors import UsageError


def add(sub: Any) -> None:
    """Add ``certs`` and ``verify``."""
    add_command(sub, "certs", summary="officers' certificates: subject, issuer, serial, validity, days left, status "
                                      "(exit 1 if any cannot sign)",
                description="Each officer of schedules.yaml with the signing level, the deputy and the "
                            "certificate: subject, issuer, serial, validity, days left and status.",
                example="run_robots.py certs", failure="an officer cannot sign (a key missing, expired or revoked)",
                handler=_certs)
    v = add_command(sub, "verify", summary="validate the signatures in PDF files (exit 1 if any is invalid)",
                    description="Validate every signature in the PDF files: intact, trusted, revoked, changes "
                                "after signing, signer, signing time, timestamp and level.",
                    example="run_robots.py verify var/archive/*/*/data/*.pdf --offline\n"
                            "run_robots.py verify claim.pdf --trust-root root.pem --json",
                    failure="a signature is invalid", handler=_verify)
    v.add_argument("files", nargs="+", type=Path, metavar="FILE", help="a signed PDF file")
    v.add_argument("--json", action="store_true", help="one JSON document on stdout")
    v.add_argument("--offline", action="store_true", help="use only what the files embed; fetch no OCSP/CRL")
    v.add_argument("--trust-root", type=Path, action="append", default=[], metavar="PEM",
                   help="a trusted root certificate (repeatable); default: signing.trust_roots of the config")


def _certs(_args: argparse.Namespace, ctx: Context) -> int:
    from signing.certs import CertState
    from signing.service import SigningService

    config = ctx.config
    officers = config.settings.officers
    if not officers:
        print("no officers configured (schedules.yaml officers:)")
        return EXIT_OK
    service = SigningService.from_config(config)
    now = ctx.now()
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


def trust_roots(args: argparse.Namespace, ctx: Context) -> tuple[Any, ...]:
    """The roots of ``--trust-root`` (relative to the working directory), else of ``signing.trust_roots``."""
    from signing.keys import KeyUnavailable, load_cert_files

    try:
        if args.trust_root:
            return load_cert_files(tuple(args.trust_root), Path.cwd(), "--trust-root")
        config = ctx.config
        return load_cert_files(config.settings.signing.trust_roots, config.base_dir, "signing.trust_roots")
    except KeyUnavailable as exc:
        raise UsageError(str(exc)) from None


def _verify(args: argparse.Namespace, ctx: Context) -> int:
    from signing.verify import verify_file

    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}")
    roots = trust_roots(args, ctx)
    reports = [verify_file(f, roots, online=not args.offline, at=ctx.now()) for f in args.files]
    if args.json:
        print(json.dumps([r.as_json() for r in reports], ensure_ascii=False, indent=2))
        return EXIT_OK if all(r.ok for r in reports) else EXIT_RUNTIME
    yes = {True: "yes", False: "no", None: "-"}
    for r in reports:
        print(f"{r.path}: {'VALID' if r.ok else 'INVALID'}" + (f" ({r.error})" if r.error else ""))
        for s in r.signatures:
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
