"""Every benchmark's ``--quick`` smoke run: it runs, its correctness check passes (ours and the baseline agree) and
it says so, so a benchmark cannot rot unnoticed between two full measurements (bench/README.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Each benchmark, and the start of the line it prints once its check has passed.
CHECKS = {
    "aging_bench": "check: ours and pandas agree on every one of the",
    "steady_tick_bench": "check: on each of the",
    "sign_bench": "check: pyHanko validated",
    "archive_bench": "check: ours and bagit-python accept every bag and both reject",
    "bi_bench": "check: ours and the baseline agree on the rows of",
    "rest_bench": "check: in every run both mappings read the same",
    "ui_bench": "check: every side read the same",
    "penalty_bench": "check: ours and the day-by-day loop agree on every invoice",
    "scaleout_bench": "check: every run done, exactly one message per run at the sink",
    "idle_bench": "check: the daemon ticked once over",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CHECKS))
def test_the_quick_run_passes_its_check(name):
    done = subprocess.run([sys.executable, f"bench/{name}.py", "--quick"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert any(line.strip().startswith(CHECKS[name]) for line in done.stdout.splitlines()), done.stdout[-4000:]
    assert "CHECK FAILED" not in output
