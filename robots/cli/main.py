"""The command line: ``python run_robots.py [--config PATH] COMMAND``.

This is the edge. Only here do typed errors become messages and exit codes, and only here (and in the daemon)
is the clock read:

* 0: done;
* 1: a runtime failure (:class:`~robots.core.errors.ArbotsError` other than a usage error: a connector, the
  database or a server unreachable), or a command that ran and reports a failure (a run failed, a check found
  problems), which it returns itself;
* 2: a usage, config or input-data error (:class:`~robots.core.errors.UsageError`; argparse's own errors too).

Each command group registers its commands, their options and their handlers (see :mod:`robots.cli.command`);
:data:`GROUPS` is the table of them, in the order ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from robots.cli import approvals, archive, certs, connector, demo, export, holds, people, run, tasks
from robots.cli.command import EXIT_RUNTIME, EXIT_USAGE, Context, help_epilog
from robots.core.errors import ArbotsError, UsageError
from robots.support import logs

#: The command groups: each ``add(subparsers)`` adds its commands, which name their handlers.
GROUPS = (run, connector, holds, people, approvals, tasks, certs, archive, export, demo)

_EXAMPLES = "run_robots.py validate\nrun_robots.py tick --as-of 2026-03-31\nrun_robots.py COMMAND --help"


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the global options and every command group's commands."""
    p = argparse.ArgumentParser(prog="run_robots.py", description="arbots: receivables-collection robots.",
                                epilog=help_epilog(_EXAMPLES, "a failure the command reports (a run failed, a "
                                                              "check found problems)"),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=Path("schedules.yaml"), help="schedules.yaml to use")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="default: info; warning for demo, whose summary is what a person reads")
    p.add_argument("--log-json", action="store_true", help="JSON logs even on a terminal")
    p.set_defaults(default_log_level="info")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    for group in GROUPS:
        group.add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code."""
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level or args.default_log_level, json=True if args.log_json else None)
    context = Context(args.config, _now)
    try:
        return args.handler(args, context)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ArbotsError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return EXIT_RUNTIME
    finally:
        context.close()


def _now() -> datetime:
    return datetime.now(UTC)
