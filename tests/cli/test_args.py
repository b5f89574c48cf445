"""One reading of dates on the command line (ISO or dd.mm.yyyy) for every date option; a bad one is exit 2."""

from __future__ import annotations

import argparse
import re
from datetime import date

import pytest

from robots.cli.args import day
from robots.cli.main import build_parser, main
from tests.cli.test_help import commands


def test_a_day_is_iso_or_day_first():
    assert day("2026-03-31") == day("31.03.2026") == day(" 31.03.2026 ") == date(2026, 3, 31)


@pytest.mark.parametrize("text", ["2026-02-30", "31/03/2026", "03-31-2026", "завтра", ""])
def test_a_bad_day_names_both_accepted_forms(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"2026-03-31 or 31\.03\.2026"):
        day(text)


def test_every_date_option_reads_days_alike():
    top = build_parser()
    dated = {(name, a.dest): a.type for name, parser in commands(top) for a in parser._actions
             if re.search(r"as_of|date|until", a.dest)}
    assert ("tick", "as_of") in dated and ("archive export", "date_to") in dated and ("hold", "until") in dated
    assert {k for k, t in dated.items() if t is not day} == set()


def test_both_forms_reach_the_command_as_the_same_day():
    for words in (["tick"], ["plan"], ["task", "list"], ["export", "bi", "--out", "bi"]):
        iso = build_parser().parse_args([*words, "--as-of", "2026-03-31"])
        ru = build_parser().parse_args([*words, "--as-of", "31.03.2026"])
        assert iso.as_of == ru.as_of == date(2026, 3, 31)


def test_a_bad_date_on_the_command_line_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--config", "nowhere.yaml", "tick", "--as-of", "31/03/2026"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "argument --as-of: '31/03/2026' is not a date" in err and "2026-03-31 or 31.03.2026" in err
