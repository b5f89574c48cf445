"""``demo``: the robots simulated day by day on a generated ledger in a self-contained workdir.

The demo package (its accounting system, mail server and PKI) is heavy and only this command needs it, so the
handler imports it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from robots.cli.args import positive
from robots.cli.command import EXIT_OK, EXIT_RUNTIME, Context, add_command


def add(sub: Any) -> None:
    """Add ``demo``."""
    d = add_command(sub, "demo", summary="simulate the robots on a generated ledger in a self-contained workdir",
                    description="Generate a ledger, a demo accounting system, PKI and mail server in a workdir and "
                                "tick the robots through the days; print where everything went, check the archive "
                                "and write the report and the BI export. Needs no schedules.yaml of yours.",
                    example="run_robots.py demo --workdir var/demo --days 60",
                    failure="the archive of the simulation does not verify", handler=_demo)
    d.add_argument("--workdir", type=Path, default=Path("var/demo"), metavar="DIR",
                   help="where the demo lives (default: var/demo)")
    d.add_argument("--days", type=positive, default=60, metavar="N", help="days to simulate (default: 60)")
    # What a person reads is the summary, not the logs of every tick.
    d.set_defaults(default_log_level="warning")


def _demo(args: argparse.Namespace, ctx: Context) -> int:
    from rich.progress import Progress

    from demo.command import run_demo
    from robots.engine.summary import render_summary

    with Progress(disable=not sys.stderr.isatty(), transient=True) as progress:
        task = progress.add_task("simulating days", total=args.days)

        def on_day(day: date, report: Any) -> None:
            progress.update(task, advance=1, description=f"simulating {day}")

        result = run_demo(args.workdir, args.days, ctx.now, on_day)
    print(f"Demo workdir: {result.workdir.resolve()}")
    if result.days_run:
        print(f"Simulated {result.days_run[0]} .. {result.days_run[-1]} ({len(result.days_run)} ticks)")
    print(f"Config: {result.config.path}")
    print(f"Database: {result.config.database_url()}")
    print(f"Archive: {result.config.archive_dir}")
    print(render_summary(result.summary))
    if result.verify is None:
        return EXIT_OK
    v = result.verify
    print(f"Archive check: {v.bags} contract folders (BagIt bags), {v.files} files, {v.signatures} signatures: "
          + ("OK" if v.ok else f"{len(v.findings)} PROBLEMS (run `archive verify`)"))
    maildir = result.config.resolve(Path("var/mail"))
    if maildir.is_dir():
        sent = sum(1 for box in ("new", "cur") if (maildir / box).is_dir() for _ in (maildir / box).iterdir())
        print(f"E-mail: {sent} letters received by the demo mail server in {maildir} (Maildir)")
    print(f"Report: {result.report}")
    print(f"BI export: {result.bi} (CSV and Parquet, README.md inside)")
    return EXIT_OK if v.ok else EXIT_RUNTIME
