"""What a command group gives :mod:`robots.cli.main` and gets from it: parsers with complete ``--help``, handlers
and the :class:`Context` they run in.

A command module has ``add(subparsers)``, which adds its commands with :func:`add_command`; each command that
does something names its handler, a ``Handler`` called as ``handler(args, context)`` that returns an exit code.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded on first use: `--help` and usage errors need neither the config nor the store
    from robots.config import Config
    from robots.store import Store

#: The exit codes: done; a runtime failure (a source unreachable, a run failed, a check that found problems);
#: a usage, config or input-data error (argparse's own errors are 2 as well).
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2

_WIDTH = 78  # argparse's own width on an 80-column terminal
_RUNTIME = "a runtime failure (a connector, the database or a server unreachable)"


class Context:
    """The configuration and the store, each opened on first use (``demo`` and ``verify`` may need neither), and
    the clock: the edge reads the wall clock, a test pins it."""

    def __init__(self, config_path: Path, clock: Callable[[], datetime]):
        self.config_path = config_path
        self._clock = clock

    @cached_property
    def config(self) -> Config:
        """schedules.yaml and the scenarios, loaded and checked (a problem is a ConfigError: exit 2)."""
        from robots.config import load_config

        return load_config(self.config_path)

    @cached_property
    def store(self) -> Store:
        """The store of the configuration, migrated to the newest schema."""
        from robots.store import Store

        return Store.open(self.config.database_url())

    def now(self) -> datetime:
        """The moment, from the clock the edge was given."""
        return self._clock()

    def close(self) -> None:
        """Close the store if a command opened it."""
        if "store" in self.__dict__:
            self.store.close()


#: A command's body: ``handler(args, context)`` returns :data:`EXIT_OK` or :data:`EXIT_RUNTIME` and raises
#: :class:`~robots.core.errors.UsageError` for what a person must fix.
Handler = Callable[[argparse.Namespace, Context], int]


def add_command(subparsers: Any, name: str, *, summary: str, description: str, example: str,
                failure: str | None = None, handler: Handler | None = None) -> argparse.ArgumentParser:
    """Add the command ``name``: ``summary`` is its line in the parent's list, ``description`` (paragraphs
    separated by a blank line) and ``example`` (one command a line) open and close its ``--help``, followed by
    the exit codes; ``failure`` says when it exits 1 besides a runtime failure. A command group (one that has
    actions of its own) has no handler."""
    text = "\n\n".join(textwrap.fill(paragraph, _WIDTH) for paragraph in description.strip().split("\n\n"))
    parser = subparsers.add_parser(name, help=summary, description=text,
                                   epilog=help_epilog(example, failure),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def help_epilog(example: str, failure: str | None = None) -> str:
    """The end of a ``--help``: the examples (one command a line) and the exit codes."""
    lines = example.strip().splitlines()
    examples = "\n".join(f"  {line}" for line in lines)
    also = f"{failure},\n     or {_RUNTIME}" if failure else _RUNTIME
    return (f"example{'s' if len(lines) > 1 else ''}:\n{examples}\n\n"
            f"exit codes:\n  {EXIT_OK}  done\n  {EXIT_RUNTIME}  {also}\n"
            f"  {EXIT_USAGE}  a usage, config or input-data error")


def add_actions(parser: argparse.ArgumentParser, dest: str, metavar: str = "ACTION") -> Any:
    """The subparsers of a command group; one of its actions is required."""
    return parser.add_subparsers(dest=dest, required=True, metavar=metavar, help="one of:")
