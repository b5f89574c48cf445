"""CLI commands of one feature. robots/cli.py adds their parsers and dispatches to :func:`run`."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

#: Top-level commands this module adds (e.g. "task"); robots/cli.py routes them here.
COMMANDS: tuple[str, ...] = ()


def add_parsers(sub: Any) -> None:
    """Add this feature's sub-commands to the top-level subparsers."""


def run(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    raise NotImplementedError(args.command)
