"""``hold add|release``: a person pauses a debt (the robots leave it alone) and lifts the pause.

A hold here is a pause only. A dispute is opened with ``dispute open`` (it records the reason and is ended by
``dispute close``), and a promise's pause is the promise's; ``hold release`` never lifts their holds.
"""

from __future__ import annotations

import argparse
from typing import Any

from robots.cli.args import day
from robots.cli.command import EXIT_OK, Context, add_command
from robots.core.domain import Hold, HoldKind
from robots.core.errors import UsageError


def _pause(text: str) -> str:
    """``--kind``: only ``pause`` is left; a dispute has its own command."""
    if text == HoldKind.DISPUTE:
        raise argparse.ArgumentTypeError("a dispute is opened with `dispute open --invoice I --reason R --by NAME` "
                                         "(it records the reason; `dispute close` ends it); hold is for pauses")
    return text


def add(sub: Any) -> None:
    """Add ``hold``."""
    h = add_command(sub, "hold", summary="pause a debt (the robots leave it alone), or lift the pause",
                    description="Pause an invoice's debt: it crosses no aging column until the pause is released "
                                "or its last day (--until) is past; then it crosses the highest column it reached. "
                                "A dispute is recorded with `dispute open`, a promise to pay with `promise add`; "
                                "`hold release` lifts only the pauses placed here, never theirs.",
                    example="run_robots.py hold add I-2041 --reason 'отпуск бухгалтера' --until 2026-04-10\n"
                            "run_robots.py hold release I-2041", handler=_hold)
    h.add_argument("action", choices=["add", "release"], help="add a pause, or release the open ones")
    h.add_argument("invoice_id", metavar="INVOICE", help="the invoice id")
    h.add_argument("--kind", type=_pause, choices=[HoldKind.PAUSE.value], default=HoldKind.PAUSE.value,
                   help="pause (the only kind; a dispute is `dispute open`)")
    h.add_argument("--reason", default="", help="why (shown in the hold's record)")
    h.add_argument("--until", type=day, metavar="DAY",
                   help="last day of the pause, 2026-04-10 or 10.04.2026 (default: until released)")


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
