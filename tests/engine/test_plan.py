"""`plan --days 30` names the officer who would sign each letter and the penalty accrued by that day."""

from __future__ import annotations

from datetime import timedelta

from robots.cli.main import main
from robots.config import load_config
from tests.builders import DUE, simple_ledger
from tests.worlds import penalty_world


def _line(lines: list[str], day, contract: str, scenario: str) -> str:
    return next(x for x in lines if x.startswith(str(day)) and f" {contract} " in x and f" {scenario} " in x)


def test_plan_lists_each_letter_with_its_signing_officer_and_the_penalty_of_that_day(tmp_path, capsys):
    config = penalty_world(tmp_path, simple_ledger(2))
    as_of = DUE + timedelta(days=35)  # 2026-04-14: the plan reaches the 60-day column on 2026-05-09

    code = main(["--config", str(config), "plan", "--as-of", str(as_of), "--days", "30"])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    # 0.1 % a day from 11 March; the cap (10 % of each invoice) is not reached.
    # On 14 April (35 days), the letter's catch-up: C000: I000 1 000.00 × 0.001 × 35 = 35.00,
    #   I-extra 250.50 × 0.001 × 35 = 8.7675 -> 8.77: 43.77; C001: 1 001.00 × 0.001 × 35 = 35.035 -> 35.04
    letter = _line(lines, as_of, "C000", "t_letter")
    assert "penalty: 43,77\u00a0руб." in letter and "signed by Орлова Марина Сергеевна (Директор по продажам)" in letter
    assert "penalty: 35,04\u00a0руб." in _line(lines, as_of, "C001", "t_letter")
    # On 9 May (60 days): C000: 60.00 + 250.50 × 0.001 × 60 = 15.03: 75.03; C001: 1 001.00 × 0.06 = 60.06
    day60 = DUE + timedelta(days=60)
    lawsuit = _line(lines, day60, "C000", "t_lawsuit")
    assert "penalty: 75,03\u00a0руб." in lawsuit, lawsuit
    assert "penalty: 60,06\u00a0руб." in _line(lines, day60, "C001", "t_lawsuit")
    legal = load_config(config).settings.officers["head_of_legal"]  # the claim's sign step names this officer
    assert lawsuit.endswith(f"signed by {legal.name} ({legal.position})")
    # plan has no side effect: no database, no archive
    assert not (tmp_path / "var" / "arbots.db").exists() and not (tmp_path / "var" / "archive").exists()


def test_plan_says_when_the_key_rate_table_does_not_cover_a_day(tmp_path, capsys):
    config = penalty_world(tmp_path, simple_ledger(1), basis="statutory", key_rates=[{"since": "2026-03-15",
                                                                                       "rate": "0.16"}])
    code = main(["--config", str(config), "plan", "--as-of", str(DUE), "--days", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    line = _line(out.splitlines(), DUE + timedelta(days=2), "C000", "t_letter")
    assert "penalty: cannot compute (no key rate for 2026-03-11: penalties.key_rates starts on 2026-03-15" in line
