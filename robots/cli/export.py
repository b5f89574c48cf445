"""``run_robots.py export bi|report``: the BI star schema and the readable report."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from typing import Any

from robots.core.errors import UsageError


def as_of_for(args: argparse.Namespace, store: Any, now: datetime) -> date:
    """The day asked for, else the last day the robots evaluated, else today."""
    return args.as_of or store.last_as_of() or now.date()


def run(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    as_of = as_of_for(args, store, now)
    if args.export_command == "bi":
        from bi.export import export_bi

        if args.date_from and args.date_from > as_of:
            raise UsageError(f"--from {args.date_from} is after the as-of day {as_of}")
        result = export_bi(config, store, args.out, as_of, args.date_from)
        print(f"{args.out}: BI export as of {as_of} (debt snapshot {result.date_from} .. {as_of}); CSV and Parquet, "
              "README.md describes every table")
        for table, n in result.rows.items():
            print(f"  {table:<28} {n:>10,} rows")
        return 0
    from bi.inputs import load_inputs
    from bi.report import write_report

    suffix = args.out.suffix.lower()
    if suffix not in (".pdf", ".html"):
        raise UsageError(f"--out {args.out}: name it *.pdf or *.html")
    out = write_report(load_inputs(config, store, as_of), config, args.out, suffix[1:])
    print(f"{out}: report as of {as_of}")
    return 0
