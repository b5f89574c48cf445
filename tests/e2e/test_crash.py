"""Exactly once across crashes: kill -9 a tick in the middle of its runs, rerun it, count everything."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest

from tests.builders import DUE, simple_ledger

pytestmark = pytest.mark.slow
CONTRACTS = 120


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_in_the_middle_of_a_tick_then_a_rerun_loses_nothing_and_duplicates_nothing(workdir):
    workdir.write_ledger(simple_ledger(CONTRACTS))
    as_of = (DUE + timedelta(days=2)).isoformat()
    proc = workdir.popen("tick", "--as-of", as_of)
    try:
        _wait_for(lambda: workdir.count("SELECT count(*) FROM documents") >= 10, 120, "the first documents")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done_before = workdir.count("SELECT count(*) FROM runs WHERE status = 'done'")
    assert 0 < done_before < CONTRACTS, "the kill must land while runs are under way"

    r = workdir.cli("tick", "--as-of", as_of)
    assert r.returncode == 0, r.stderr
    assert "0 new runs" in r.stdout  # the decision was recorded before the crash; only the work resumes

    # every crossing recorded once, every run done once, one document and one task per run, one file each
    # (a crossing row each, plus the columns a catch-up row passed: crossings.skipped, 0011)
    assert workdir.count("SELECT count(*) + coalesce(sum(json_array_length(skipped)), 0) FROM crossings") == \
        (CONTRACTS + 1) * 3
    assert workdir.count("SELECT count(*) FROM runs") == CONTRACTS
    assert workdir.count("SELECT count(*) FROM runs WHERE status = 'done'") == CONTRACTS
    assert workdir.count("SELECT count(*) FROM documents") == CONTRACTS
    assert workdir.count("SELECT count(DISTINCT path) FROM documents") == CONTRACTS
    assert workdir.count("SELECT count(*) FROM tasks") == CONTRACTS
    assert len(workdir.archived_pdfs()) == CONTRACTS
    assert not list(workdir.archive.rglob(".tmp-*"))


def test_the_daemon_ticks_on_start_and_stops_gracefully_on_sigterm(workdir):
    workdir.write_ledger(simple_ledger(2))
    proc = workdir.popen("run")
    try:
        _wait_for(lambda: workdir.count("SELECT count(*) FROM evaluations") >= 1, 60, "the start-up tick")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "daemon_stopped" in err and "tick_done" in err
