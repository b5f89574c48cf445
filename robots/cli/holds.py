"""``hold add|release``: a person holds a debt back from the robots (a dispute, a pause) and releases it.

``hold release`` lifts only the holds placed here, never a promise's or a dispute's (``dispute close`` ends those).
"""

from __future__ import annotations

import argparse
from typing import Any

from robots.cli.args import day
from robots.cli.command import EXIT_OK, Context, add_command
from robots.core.domain import Hold, HoldKind
from robots.core.errors import UsageError


def add(sub: Any) -> None:
    """Add ``hold``."""
    h = add_command(sub, "hold", summary="hold a debt back from the robots (dispute, pause) or release it",
                    description="Hold an invoice's debt back from the robots: it crosses no aging column until the "
                                "hold is released or its last day (--until) is past; then it crosses the highest "
                                "column it reached. `hold release` lifts only the holds placed here, never a "
                                "promise's or a dispute's.",
                    example="run_robots.py hold add I-2041 --kind pause --reason 'отпуск' --until 2026-04-10\n"
                            "run_robots.py hold release I-2041 --kind pause", handler=_hold)
    h.add_argument("action", choices=["add", "release"], help="add a hold, or release the open ones")
    h.add_argument("invoice_id", metavar="INVOICE", help="the invoice id")
    h.add_argument("--kind", choices=[HoldKind.DISPUTE.value, HoldKind.PAUSE.value], default=HoldKind.DISPUTE.value,
                   help="what holds the debt (default: dispute)")
    h.add_argument("--reason", default="", help="why (shown in the hold's record)")
    h.add_argument("--until", type=day, metavar="DAY",
                   help="last day of the hold, 2026-04-10 or 10.04.2026 (default: until released)")


def _hold(args: argparse.Namespace, ctx: Context) -> int:
    kind = HoldKind(args.kind)
    if args.action == "add":
        ctx.store.add_hold(Hold(args.invoice_id, kind, args.reason, args.until), ctx.now())
        print(f"invoice {args.invoice_id}: {kind} hold added")
    else:
        if not ctx.store.release_holds(args.invoice_id, kind, ctx.now()):
            raise UsageError(f"invoice {args.invoice_id} has no open {kind} hold")
        print(f"invoice {args.invoice_id}: {kind} hold released")
    return EXIT_OK
