"""The condition step: its value is recorded for later steps' when:, a false test stops the run (or lets it go on),
and its expression is checked when the config is loaded, with the scenario file, line and YAML path."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from robots.config import load_config
from robots.core.errors import ConfigError
from robots.engine.tick import tick
from robots.store import schema as t
from tests.worlds import AS_OF, NOW, open_services, use_database, workflow_root

TASK = """  - kind: task
    role: account_manager
    title: "{title} {{{{ counterparty.name }}}}"
"""


def _task(title: str, when: str | None = None) -> str:
    text = TASK.format(title=title)
    return text + (f"    when: \"{when}\"\n" if when else "")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, monkeypatch):
    return lambda root: use_database(root, request.param, request, monkeypatch)


def _runs(store):
    return {r.contract_id: r for r in store.rows(select(t.runs))}


def _steps(store, run_id):
    return [(s.status, s.output) for s in store.rows(select(t.run_steps).where(t.run_steps.c.run_id == run_id)
                                                     .order_by(t.run_steps.c.idx))]


def _tasks(store):
    return sorted((r.contract_id, r.title.split(" ")[0]) for r in store.rows(select(t.tasks)))


def test_a_false_condition_stops_the_run_as_done_and_skips_the_rest(tmp_path, backend):
    steps = """  - kind: condition
    id: worth_it
    test: debt > thresholds.lawsuit
""" + _task("call")
    root = workflow_root(tmp_path, steps)
    backend(root)
    store, services = open_services(root)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.done) == 2 and not report.runner.failed
    run = _runs(store)["C000"]
    assert run.status == "done"
    assert run.outcome == "stopped at step 0 (condition): condition not met: debt > thresholds.lawsuit"
    (s0, out0), (s1, out1) = _steps(store, run.id)
    assert s0 == "done" and out0["kind"] == "condition" and out0["value"] is False
    assert out0["test"] == "debt > thresholds.lawsuit"
    assert s1 == "skipped"
    assert _tasks(store) == []
    store.close()


def test_a_true_condition_records_its_value_and_the_run_goes_on(tmp_path, backend):
    steps = """  - kind: condition
    id: owes
    test: debt > 500 and group == "default"
""" + _task("call")
    root = workflow_root(tmp_path, steps)
    backend(root)
    store, services = open_services(root)
    tick(services, AS_OF, NOW)
    run = _runs(store)["C000"]
    assert run.outcome is None and run.status == "done"
    assert _steps(store, run.id)[0][1] == {"kind": "condition", "test": 'debt > 500 and group == "default"',
                                            "value": True}
    assert _tasks(store) == [("C000", "call"), ("C001", "call")]
    store.close()


def test_otherwise_continue_lets_later_steps_choose_by_the_recorded_value(tmp_path, backend):
    # C000 owes 1250.50 and C001 1001.00: one of each branch in the same tick.
    steps = """  - kind: condition
    id: big
    test: debt > 1100.25
    otherwise: continue
""" + _task("sue", "steps.big.value") + _task("remind", "not steps.big.value")
    root = workflow_root(tmp_path, steps)
    backend(root)
    store, services = open_services(root)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.done) == 2
    assert _tasks(store) == [("C000", "sue"), ("C001", "remind")]
    runs = _runs(store)
    assert [s for s, _ in _steps(store, runs["C000"].id)] == ["done", "done", "skipped"]
    assert [s for s, _ in _steps(store, runs["C001"].id)] == ["done", "skipped", "done"]
    assert runs["C001"].outcome is None
    store.close()


def test_a_condition_that_cannot_be_evaluated_fails_the_run_for_a_human(tmp_path):
    steps = """  - kind: condition
    test: debt / (invoices - invoices) > 1
""" + _task("call")
    store, services = open_services(workflow_root(tmp_path, steps))
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.failed) == 2
    run = _runs(store)["C000"]
    assert run.status == "failed" and run.attempts == 1  # a business error: not retried
    assert "condition test 'debt / (invoices - invoices) > 1'" in run.error and "division" in run.error.lower()
    assert _tasks(store) == []
    store.close()


def _problems(tmp_path, steps: str) -> str:
    root = workflow_root(tmp_path, steps)
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    return str(exc.value)


def test_a_condition_needs_a_test(tmp_path):
    text = _problems(tmp_path, "  - kind: condition\n    otherwise: stop\n")
    assert "scenarios/pretrial_demand.yaml:3 steps[0].test: missing required key 'test'" in text


def test_when_is_refused_on_a_condition_step(tmp_path):
    text = _problems(tmp_path, "  - kind: condition\n    test: debt > 1\n    when: debt > 2\n")
    assert "scenarios/pretrial_demand.yaml:5 steps[0].when: a condition step is never skipped" in text


def test_a_bad_test_is_reported_with_its_place_and_the_known_names(tmp_path):
    text = _problems(tmp_path, "  - kind: condition\n    test: debt > treshold\n")
    assert "scenarios/pretrial_demand.yaml:4 steps[0].test: unknown name 'treshold'; known: blocked," in text
    assert "thresholds" in text


def test_a_test_naming_a_missing_threshold_or_step_is_refused(tmp_path):
    text = _problems(tmp_path, "  - kind: condition\n    id: a\n    test: debt > thresholds.nope\n"
                               "  - kind: condition\n    test: steps.b.value or steps.a.value\n")
    assert "steps[0].test: thresholds.nope is not defined under thresholds: in schedules.yaml" in text
    assert "steps[1].test: steps.b: no earlier step has id 'b' (earlier step ids: a)" in text
    assert "steps.a:" not in text


def test_a_test_with_a_syntax_error_is_refused(tmp_path):
    text = _problems(tmp_path, "  - kind: condition\n    test: debt >\n")
    assert "steps[0].test: not a valid expression" in text
