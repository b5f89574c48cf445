"""Argument types shared by the commands: a day, a positive whole number, an amount of money.

Each reads text as the ledger's own parsers do (:mod:`connectors.records`), so a date or an amount is written
the same on the command line as in a CSV file. A bad value raises :class:`argparse.ArgumentTypeError`, which
argparse prints as ``run_robots.py tick: error: argument --as-of: ...`` and exits with code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

from connectors.records import parse_date, parse_money

T = TypeVar("T")


def _argument(parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def day(text: str) -> date:
    """A day: ``2026-03-31`` or ``31.03.2026`` (the message of a bad one shows both)."""
    return _argument(parse_date, text)


def amount(text: str) -> Decimal:
    """An amount in roubles: ``15000``, ``15000.00`` or ``15 000,00``."""
    return _argument(parse_money, text)


def positive(text: str) -> int:
    """A whole number of 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)
