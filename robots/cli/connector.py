"""``connector check|block|unblock|note``: check what a connector delivers, or write back to the accounting system."""

from __future__ import annotations

import argparse
from typing import Any

from robots.cli.command import EXIT_OK, EXIT_RUNTIME, Context, add_actions, add_command

_WRITES = {
    "block": ("stop shipments to a debtor", "shipments stop in the accounting system", "--reason"),
    "unblock": ("resume shipments to a debtor", "shipments resume in the accounting system", "--reason"),
    "note": ("post a note on a debtor's card", "a note appears on the debtor's card", "--text"),
}


def add(sub: Any) -> None:
    """Add ``connector`` and its actions."""
    c = add_command(sub, "connector", summary="check a connector, or write back to the accounting system",
                    description="Check what the connectors deliver, or write back through one of them (stop or "
                                "resume shipments to a debtor, post a note on its card).",
                    example="run_robots.py connector check\n"
                            "run_robots.py connector block erp --counterparty CP-7 --reason 'долг 90 дней'")
    actions = add_actions(c, "connector_command")
    cc = add_command(actions, "check", summary="fetch and validate what the connectors deliver; change nothing",
                     description="Fetch and validate the records of one connector, or of all of them together "
                                 "(with their references across connectors); change nothing.",
                     example="run_robots.py connector check\nrun_robots.py connector check ledger",
                     handler=_check)
    cc.add_argument("id", nargs="?", help="one connector (default: all of them, validated together)")
    for action, (summary, effect, flag) in _WRITES.items():
        ca = add_command(actions, action, summary=summary,
                         description=f"{summary[0].upper()}{summary[1:]} through a connector's write_back section: "
                                     f"{effect}.",
                         example=f"run_robots.py connector {action} erp --counterparty CP-7 --contract C-12 "
                                 f"{flag} 'долг 90 дней'",
                         failure="the accounting system did not do it", handler=_write)
        ca.add_argument("id", help="the connector to write through")
        ca.add_argument("--counterparty", required=True, help="counterparty id as the connector knows it")
        ca.add_argument("--contract", help="only this contract (default: the whole counterparty)")
        if action == "note":
            ca.add_argument("--text", required=True, help="the note's text")
        else:
            ca.add_argument("--reason", required=True, help="why (the accounting system records it)")


def _check(args: argparse.Namespace, ctx: Context) -> int:
    from connectors.base import SyncRejected
    from robots.engine.sync import build_connectors, connector_by_id, pull

    config = ctx.config
    conns = [connector_by_id(config, args.id)] if args.id else build_connectors(config)
    try:
        if args.id:  # one connector alone: its records, without the others' references
            fetched = conns[0].fetch()
            counts = {e: len(r) for e, r in fetched.tables.items() if r is not None}
            if fetched.problems:
                raise SyncRejected(conns[0].id, tuple(fetched.problems))
            print(f"{args.id}: OK, " + ", ".join(f"{n} {e}" for e, n in counts.items()))
        else:
            ledger = pull(conns, config.settings.groups)
            print("OK: " + ", ".join(f"{n} {k}" for k, n in ledger.counts().items()))
    finally:
        for c in conns:
            c.close()
    return EXIT_OK


def _write(args: argparse.Namespace, ctx: Context) -> int:
    from connectors.base import WriteBack, WriteBackUnsupported
    from robots.engine.sync import connector_by_id

    conn = connector_by_id(ctx.config, args.id)
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
