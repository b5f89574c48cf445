"""``export bi|report``: the BI star schema and the readable report.

The bi package is heavy and only these commands need it, so the handlers import it.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from robots.cli.args import day
from robots.cli.command import EXIT_OK, Context, add_actions, add_command
from robots.core.errors import UsageError

_AS_OF = "the day reported on, 2026-03-31 or 31.03.2026 (default: the last evaluated day, else today)"


def add(sub: Any) -> None:
    """Add ``export`` and its two kinds."""
    e = add_command(sub, "export", summary="BI export (star schema) and the readable report",
                    description="Export what the robots know: the BI star schema for a BI tool, or the readable "
                                "report for a person.",
                    example="run_robots.py export bi --out var/bi\nrun_robots.py export report --out report.pdf")
    kinds = add_actions(e, "export_command", metavar="WHAT")
    eb = add_command(kinds, "bi", summary="facts and dimensions as CSV (UTF-8 with BOM) and Parquet, with a README",
                     description="Facts and dimensions as CSV (UTF-8 with BOM) and Parquet, with a README.md that "
                                 "describes every table (docs/bi.md); the daily debt snapshot runs from --from to "
                                 "the as-of day.",
                     example="run_robots.py export bi --out var/bi --as-of 2026-03-31 --from 2026-01-01",
                     handler=_bi)
    eb.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write the tables into")
    eb.add_argument("--as-of", type=day, metavar="DAY", help=_AS_OF)
    eb.add_argument("--from", dest="date_from", type=day, metavar="DAY",
                    help="first day of the daily debt snapshot (default: the as-of day only)")
    er = add_command(kinds, "report", summary="the readable report: aging chart, top debtors, cash plan, KPIs",
                     description="The readable report: the aging histogram with the column boundaries, top "
                                 "debtors, the cash-inflow plan and the KPIs (docs/kpi.md), as PDF or HTML.",
                     example="run_robots.py export report --out report.pdf --as-of 31.03.2026", handler=_report)
    er.add_argument("--out", type=Path, required=True, metavar="FILE", help="FILE.pdf or FILE.html")
    er.add_argument("--as-of", type=day, metavar="DAY", help=_AS_OF)


def _as_of(args: argparse.Namespace, ctx: Context) -> date:
    """The day asked for, else the last day the robots evaluated, else today."""
    store = ctx.store  # opened first, as every export needs it
    return args.as_of or store.last_as_of() or ctx.now().date()


def _bi(args: argparse.Namespace, ctx: Context) -> int:
    from bi.export import export_bi

    as_of = _as_of(args, ctx)
    if args.date_from and args.date_from > as_of:
        raise UsageError(f"--from {args.date_from} is after the as-of day {as_of}")
    result = export_bi(ctx.config, ctx.store, args.out, as_of, args.date_from)
    print(f"{args.out}: BI export as of {as_of} (debt snapshot {result.date_from} .. {as_of}); CSV and Parquet, "
          "README.md describes every table")
    for table, n in result.rows.items():
        print(f"  {table:<28} {n:>10,} rows")
    return EXIT_OK


def _report(args: argparse.Namespace, ctx: Context) -> int:
    from bi.inputs import load_inputs
    from bi.report import write_report

    as_of = _as_of(args, ctx)
    suffix = args.out.suffix.lower()
    if suffix not in (".pdf", ".html"):
        raise UsageError(f"--out {args.out}: name it *.pdf or *.html")
    out = write_report(load_inputs(ctx.config, ctx.store, as_of), ctx.config, args.out, suffix[1:])
    print(f"{out}: report as of {as_of}")
    return EXIT_OK
