"""Steps that wait (approvals, the sending window), steps that stop a run, and when: conditions, on a real store."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from robots.config import load_config
from robots.core.errors import ConfigError
from robots.engine.runner import Runner
from robots.engine.tick import tick
from robots.steps.base import REGISTRY, Step, StepConfig, Stop, Wait
from robots.store import Store
from robots.store import schema as t
from tests.worlds import AS_OF, NOW, open_services, workflow_root

CALLS: list[tuple[int, str]] = []


class GateConfig(StepConfig):
    kind: str = "test_gate"
    #: "wait" parks the run until `hours` later; "stop" ends it; "ok" returns.
    mode: str = "ok"
    hours: int = 1


class GateStep(Step):
    kind = "test_gate"
    config = GateConfig

    def run(self, cfg, ctx):
        CALLS.append((ctx.run.id, cfg.mode))
        if cfg.mode == "wait" and ctx.now < NOW + timedelta(hours=cfg.hours):
            raise Wait("waiting for the test", until=NOW + timedelta(hours=cfg.hours))
        if cfg.mode == "stop":
            raise Stop("the test stops here", {"kind": "gate"})
        return {"kind": "gate", "mode": cfg.mode}


@pytest.fixture(autouse=True)
def gate_kind():
    REGISTRY["test_gate"] = GateStep
    CALLS.clear()
    yield
    del REGISTRY["test_gate"]


def _steps(store: Store) -> list[tuple[int, int, str]]:
    return [(r.run_id, r.idx, r.status) for r in store.rows(select(t.run_steps).order_by(t.run_steps.c.run_id,
                                                                                         t.run_steps.c.idx))]


def test_a_waiting_step_parks_the_run_without_using_up_attempts_and_resumes_after_its_time(tmp_path):
    root = workflow_root(tmp_path, "  - {kind: test_gate, id: first, mode: ok}\n"
                                   "  - {kind: test_gate, mode: wait, hours: 2}\n"
                                   "  - {kind: test_gate, mode: ok}\n")
    store, services = open_services(root)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.waiting) == 2 and not report.runner.done
    runs = store.rows(select(t.runs))
    assert {r.status for r in runs} == {"waiting"} and {r.wake_at.replace(tzinfo=UTC) for r in runs} == {
        NOW + timedelta(hours=2)}
    assert all(r.attempts == 0 for r in runs)  # waiting is not a failed attempt
    assert [s for _, _, s in _steps(store)][:3] == ["done", "waiting", "pending"]

    # an hour later nothing is due; at the wake-up time the run goes on from the waiting step
    assert Runner(services).run_pending(NOW + timedelta(hours=1)).done == []
    report = Runner(services).run_pending(NOW + timedelta(hours=2))
    assert len(report.done) == 2
    assert {s for _, _, s in _steps(store)} == {"done"}
    first_calls = [c for c in CALLS if c[1] == "ok"]
    assert len(first_calls) == 4  # the first step ran once per run, never again after the wait
    store.close()


def test_a_stopping_step_ends_the_run_as_done_with_its_reason_and_skips_the_rest(tmp_path):
    root = workflow_root(tmp_path, "  - {kind: test_gate, mode: stop}\n"
                                   "  - {kind: test_gate, mode: ok}\n")
    store, services = open_services(root)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.done) == 2
    runs = store.rows(select(t.runs))
    assert {r.outcome for r in runs} == {"stopped at step 0 (test_gate): the test stops here"}
    assert {(i, s) for _, i, s in _steps(store)} == {(0, "done"), (1, "skipped")}
    assert all(mode == "stop" for _, mode in CALLS)
    # a later pass runs nothing again
    assert Runner(services).run_pending(NOW + timedelta(hours=5)).done == []
    store.close()


def test_when_skips_a_step_whose_condition_is_false_and_runs_the_others(tmp_path):
    root = workflow_root(tmp_path, "  - {kind: test_gate, mode: ok, when: 'debt > 1100.25'}\n"
                                   "  - {kind: test_gate, mode: ok, when: 'debt < thresholds.lawsuit'}\n"
                                   "  - {kind: test_gate, mode: ok, when: 'group == \"default\" and "
                                   "days_overdue >= 2 and invoices == 2'}\n")
    store, services = open_services(root)
    tick(services, AS_OF, NOW)
    runs = {r.contract_id: r.id for r in store.rows(select(t.runs))}
    steps = _steps(store)
    # C000 owes 1000.00 + 250.50 on two invoices, C001 owes 1001.00 on one
    assert [s for r, _, s in steps if r == runs["C000"]] == ["done", "done", "done"]
    assert [s for r, _, s in steps if r == runs["C001"]] == ["skipped", "done", "skipped"]
    store.close()


def test_a_bad_when_expression_is_a_config_error_naming_the_file_line_and_path(tmp_path):
    root = workflow_root(tmp_path, "  - {kind: test_gate, mode: ok}\n"
                           "  - {kind: test_gate, mode: ok, when: 'debt > thresholds.lawsiut'}\n"
                           "  - {kind: test_gate, mode: ok, when: 'debt >'}\n"
                           "  - {kind: test_gate, mode: ok, when: 'open(\"/etc/passwd\")'}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    text = str(exc.value)
    assert "scenarios/claim.yaml:4 steps[1].when: thresholds.lawsiut is not defined" in text
    assert "scenarios/claim.yaml:5 steps[2].when: not a valid expression" in text
    assert "scenarios/claim.yaml:6 steps[3].when: only these functions may be called" in text
