"""Every command's ``--help`` says what it does, shows an example that parses and lists the exit codes; every
option and positional says what it is."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

from robots.cli.main import build_parser

Command = tuple[str, argparse.ArgumentParser]


def commands(parser: argparse.ArgumentParser, path: str = "") -> Iterator[Command]:
    """Every subcommand under ``parser``, depth first, named by its words after run_robots.py."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}".strip(), sub
                yield from commands(sub, f"{path} {name}")


def examples(parser: argparse.ArgumentParser) -> list[str]:
    epilog = parser.epilog or ""
    head, _, rest = epilog.partition(":\n")
    block = rest.split("\n\n", 1)[0] if head in ("example", "examples") else ""
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_the_tree_is_walked_whole():
    names = {name for name, _ in commands(build_parser())}
    assert {"tick", "hold", "dispute open", "archive hold", "export report", "mail bounces", "demo"} <= names
    assert len(names) > 40


def test_every_command_has_a_description_an_example_and_the_exit_codes():
    missing = []
    for name, parser in commands(build_parser()):
        epilog = parser.epilog or ""
        if not (parser.description or "").strip():
            missing.append(f"{name}: no description")
        if not examples(parser):
            missing.append(f"{name}: no example")
        if not all(f"\n  {code}  " in epilog.partition("exit codes:")[2] for code in (0, 1, 2)):
            missing.append(f"{name}: no exit codes")
        if parser.formatter_class is not argparse.RawDescriptionHelpFormatter:
            missing.append(f"{name}: the epilog would be rewrapped")
        parser.format_help()  # a stray % in a help text would raise here
    assert missing == []


def test_every_option_and_positional_has_help():
    top = build_parser()
    missing = [f"{name or 'run_robots.py'}: {'/'.join(a.option_strings) or a.dest}"
               for name, parser in [("", top), *commands(top)] for a in parser._actions
               if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert missing == []


def test_every_example_parses_and_reaches_its_command():
    wrong = []
    for name, parser in commands(build_parser()):
        for line in examples(parser):
            words = shlex.split(line)
            try:
                args = build_parser().parse_args(words[1:])
            except SystemExit:
                wrong.append(f"{name}: {line}")
                continue
            if words[0] != "run_robots.py" or not hasattr(args, "handler"):
                wrong.append(f"{name}: {line}")
    assert wrong == []
