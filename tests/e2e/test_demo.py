"""The demo: a generated ledger, simulated day by day, rerunnable without duplicates."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.slow


def test_the_demo_simulates_days_leaves_everything_in_its_workdir_and_reruns_without_duplicates(tmp_path):
    work = tmp_path / "demo"
    cmd = [sys.executable, str(REPO / "run_robots.py"), "demo", "--workdir", str(work), "--days", "14"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "Simulated 2026-01-12 .. 2026-01-25 (14 ticks)" in first.stdout
    assert "Crossings per column" in first.stdout and "Open receivables:" in first.stdout
    for produced in ("schedules.yaml", "scenarios/payment_request.yaml", "var/arbots.db", "var/ledger/invoices.csv"):
        assert (work / produced).exists(), produced
    pdfs = sorted((work / "var" / "archive").rglob("*.pdf"))
    assert len(pdfs) > 20
    sidecar = json.loads(pdfs[0].with_name(pdfs[0].name + ".json").read_text(encoding="utf-8"))
    assert sidecar["invoices"] and sidecar["counterparty"]["name"]

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "(1 ticks)" in second.stdout  # it re-ticked the last day only
    assert sorted((work / "var" / "archive").rglob("*.pdf")) == pdfs
    documents = [line for line in first.stdout.splitlines() if line.startswith("Documents archived")]
    assert documents and documents == [line for line in second.stdout.splitlines()
                                       if line.startswith("Documents archived")]
