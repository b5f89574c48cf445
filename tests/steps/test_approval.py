"""Approvals: a run waits for an approver's decision through the CLI, escalates to the deputy after the configured
hours, and the daemon's runner pass carries decided runs on between ticks. Real store on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import structlog
from sqlalchemy import select
from structlog.testing import capture_logs

from robots.cli import main as cli
from robots.config import load_config
from robots.core.errors import ConfigError
from robots.engine.daemon import runner_pass
from robots.engine.tick import tick
from robots.store import RunStatus, StepStatus
from robots.store import schema as t
from robots.store.approvals import (
    Decision,
    decide,
    escalate,
    get_approval,
    list_approvals,
    request_approval,
    wake_decided,
)
from tests.texts import has_number
from tests.worlds import AS_OF, NOW, edit_settings, open_services, use_database, workflow_root

LEASE = timedelta(minutes=10)


# -- the store ---------------------------------------------------------------------------------------------------

def _request(store, run_id=1, step_idx=2, title="Иск?"):
    return request_approval(store, run_id=run_id, step_idx=step_idx, contract_id="C1", role="head_of_sales",
                            assignee="Орлова М. С.", title=title, document="/w/claim.pdf", now=NOW,
                            escalate_at=NOW + timedelta(hours=24))


def test_a_request_is_recorded_once_per_run_and_step(store):
    first, new = _request(store)
    again, new_again = _request(store, title="другое")
    assert new and not new_again
    assert again == first and again.title == "Иск?" and again.state == "pending"
    assert again.requested_at == NOW and again.escalate_at == NOW + timedelta(hours=24)
    other, _ = _request(store, step_idx=3)
    assert other.id != first.id
    assert [a.id for a in list_approvals(store)] == [first.id, other.id]


def test_a_decision_is_recorded_once_and_pending_ones_are_listed(store):
    a, _ = _request(store)
    b, _ = _request(store, run_id=2)
    assert decide(store, a.id, Decision.APPROVED, "Орлова", None, NOW + timedelta(hours=1))
    assert not decide(store, a.id, Decision.REJECTED, "Волков", "нет", NOW + timedelta(hours=2))
    got = get_approval(store, a.id)
    assert (got.decision, got.decided_by, got.decided_at, got.state) == (Decision.APPROVED, "Орлова",
                                                                          NOW + timedelta(hours=1), "approved")
    assert [x.id for x in list_approvals(store, pending_only=True)] == [b.id]
    assert not decide(store, 9999, Decision.APPROVED, "x", None, NOW) and get_approval(store, 9999) is None


def test_a_request_escalates_once_and_never_after_a_decision(store):
    a, _ = _request(store)
    assert escalate(store, a.id, "commercial_director", NOW + timedelta(hours=25))
    assert not escalate(store, a.id, "legal", NOW + timedelta(hours=26))
    got = get_approval(store, a.id)
    assert (got.escalated_to, got.escalated_at, got.state) == ("commercial_director", NOW + timedelta(hours=25),
                                                               "escalated")
    b, _ = _request(store, run_id=2)
    decide(store, b.id, Decision.REJECTED, "Орлова", "нет", NOW)
    assert not escalate(store, b.id, "commercial_director", NOW + timedelta(hours=25))


@dataclass(frozen=True)
class _Planned:
    key: str
    contract_id: str = "C1"
    column_id: str = "overdue_60"
    scenario: str = "lawsuit_decision"
    as_of: date = AS_OF
    invoices: tuple = ({"id": "I1", "open_amount": "100.00", "days_past_due": 60},)


def test_a_decision_made_while_its_run_was_claimed_still_wakes_the_run(store):
    (run_id,) = store.record_event_runs([_Planned("C1|overdue_60|2026-03-12")], NOW)
    run = store.claim_run("me", NOW, LEASE)
    store.plan_steps(run_id, ["approval"], NOW)
    store.mark_step(run_id, 0, "approval", StepStatus.RUNNING, NOW)
    a, _ = request_approval(store, run_id=run_id, step_idx=0, contract_id="C1", role="head_of_sales", assignee="O",
                            title="?", document=None, now=NOW, escalate_at=NOW + timedelta(hours=24))
    # the approver decides while the step is under way: the CLI's wake-up finds the run running, not waiting
    assert decide(store, a.id, Decision.APPROVED, "O", None, NOW + timedelta(seconds=1))
    assert store.wake_run(run.id, NOW + timedelta(seconds=1))  # kept for when the step parks the run
    store.mark_step(run_id, 0, "approval", StepStatus.WAITING, NOW, error="waiting")
    store.wait_run(run_id, "me", NOW + timedelta(hours=24), "waiting for the approver")
    assert wake_decided(store, NOW + timedelta(minutes=5)) == []  # the store kept the wake-up: nothing to do
    assert store.claim_run("other", NOW + timedelta(minutes=5), LEASE).id == run_id


def test_the_daemon_pass_wakes_a_run_parked_on_a_decided_approval(store):
    (run_id,) = store.record_event_runs([_Planned("C1|overdue_60|2026-03-12")], NOW)
    store.claim_run("me", NOW, LEASE)
    store.plan_steps(run_id, ["approval"], NOW)
    a, _ = request_approval(store, run_id=run_id, step_idx=0, contract_id="C1", role="head_of_sales", assignee="O",
                            title="?", document=None, now=NOW, escalate_at=NOW + timedelta(hours=24))
    store.mark_step(run_id, 0, "approval", StepStatus.WAITING, NOW, error="waiting")
    store.wait_run(run_id, "me", NOW + timedelta(hours=24), "waiting for the approver")
    assert decide(store, a.id, Decision.APPROVED, "O", None, NOW + timedelta(seconds=1))  # no wake-up (a script)
    assert store.claim_run("other", NOW + timedelta(minutes=5), LEASE) is None
    assert wake_decided(store, NOW + timedelta(minutes=5)) == [run_id]
    assert wake_decided(store, NOW + timedelta(minutes=5)) == []  # claimable now: nothing more to wake
    assert store.claim_run("other", NOW + timedelta(minutes=5), LEASE).id == run_id


# -- the step, the CLI and the runner pass, end to end ----------------------------------------------------------

SIGNED = """  - kind: render
    id: demand
    template: pretrial_demand.j2
    title: Досудебное требование
  - kind: approval
    id: ok
    approver: head_of_sales
    document: demand
    title: "Досудебное требование {{ counterparty.name }} по договору {{ contract.number }}"
  - kind: sign
    document: demand
    officer: head_of_sales
  - kind: archive
    document: demand
"""

LIGHT = """  - kind: approval
    approver: {approver}
    title: "Иск к {{{{ counterparty.name }}}}?"{extra}
  - kind: task
    role: legal
    title: "Подать иск {{{{ counterparty.name }}}}"
"""


def _hours(n: float):
    def change(settings: dict) -> None:
        settings["approvals"]["escalate_after_hours"] = n
    return change


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, monkeypatch):
    return lambda root: use_database(root, request.param, request, monkeypatch)


@pytest.fixture(autouse=True)
def _logs_back_to_defaults():
    """cli.main() points structlog at the sys.stderr of its test (capsys's, closed afterwards): undo it."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def clock(monkeypatch):
    """The CLI's clock, pinned (robots.cli.main._now is the edge that reads it)."""
    state = {"now": NOW}
    monkeypatch.setattr(cli, "_now", lambda: state["now"])
    return state


def _cli(root, capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["--config", str(root / "schedules.yaml"), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _runs(store):
    return {r.contract_id: r for r in store.rows(select(t.runs))}


def _approval_of(store, contract_id):
    return next(a for a in list_approvals(store) if a.contract_id == contract_id)


def test_a_run_waits_for_approval_and_archives_only_what_was_approved(tmp_path, officer_pki, backend, clock, capsys):
    root = workflow_root(tmp_path, SIGNED, pki=officer_pki, settings=_hours(4))
    backend(root)
    store, services = open_services(root)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.waiting) == 2 and not report.runner.done and not report.runner.failed
    runs = _runs(store)
    assert {r.status for r in runs.values()} == {"waiting"}
    assert all(r.wake_at is not None for r in runs.values())
    assert store.scalar(select(t.documents.c.id)) is None
    assert not (root / "var" / "archive").exists() or not list((root / "var" / "archive").rglob("*.pdf"))
    first = _approval_of(store, "C000")
    assert first.assignee == "Орлова Марина Сергеевна" and first.role == "head_of_sales"
    assert first.title == "Досудебное требование ООО «Клиент 0» по договору 0/2026-Б"
    assert first.document.endswith(".pdf") and first.escalate_at == NOW + timedelta(hours=4)

    # nothing to do before a decision or the escalation time: a pass leaves the runs parked
    assert runner_pass(services, NOW + timedelta(hours=1)).done == []
    code, out, _ = _cli(root, capsys, "approval", "list", "--pending")
    assert code == 0 and f"{first.id:>5}  pending" in out and "Орлова Марина Сергеевна (head_of_sales)" in out
    assert "document: " in out and "escalates 2026-03-12 13:00 UTC" in out

    clock["now"] = NOW + timedelta(hours=2)
    code, out, _ = _cli(root, capsys, "approval", "approve", str(first.id), "--by", "Орлова М. С.")
    assert code == 0 and f"approval {first.id} approved by Орлова М. С.: run {runs['C000'].id}" in out
    second = _approval_of(store, "C001")
    code, out, _ = _cli(root, capsys, "approval", "reject", str(second.id), "--by", "Орлова М. С.",
                        "--comment", "клиент обещал оплатить")
    assert code == 0 and "rejected" in out

    report = runner_pass(services, NOW + timedelta(hours=2))
    assert sorted(report.done) == sorted(r.id for r in runs.values())
    runs = _runs(store)
    assert runs["C000"].status == "done" and runs["C000"].outcome is None
    assert runs["C001"].status == "done"
    assert runs["C001"].outcome == "stopped at step 1 (approval): rejected by Орлова М. С.: клиент обещал оплатить"
    docs = store.rows(select(t.documents))
    assert [d.contract_id for d in docs] == ["C000"]
    assert len(list((root / "var" / "archive").rglob("*.pdf"))) == 1
    step = store.rows(select(t.run_steps).where(t.run_steps.c.run_id == runs["C000"].id, t.run_steps.c.idx == 1))[0]
    assert step.output["decision"] == "approved" and step.output["by"] == "Орлова М. С."
    rejected = store.rows(select(t.run_steps).where(t.run_steps.c.run_id == runs["C001"].id)
                          .order_by(t.run_steps.c.idx))
    assert [s.status for s in rejected] == ["done", "done", "skipped", "skipped"]

    # a decision is final; an unknown id is a usage error
    code, _, err = _cli(root, capsys, "approval", "reject", str(first.id), "--by", "Волков", "--comment", "нет")
    assert code == 2 and f"approval {first.id} was already approved by Орлова М. С." in err
    code, _, err = _cli(root, capsys, "approval", "approve", "9999", "--by", "Волков")
    assert code == 2 and has_number(err, "no approval request 9999")
    code, out, _ = _cli(root, capsys, "approval", "list")
    assert "approved by Орлова М. С." in out and "rejected by Орлова М. С." in out
    assert _cli(root, capsys, "approval", "list", "--pending")[1].strip() == "no pending approval requests"
    store.close()


def test_an_undecided_approval_escalates_to_the_deputy_who_may_decide(tmp_path, backend, clock, capsys):
    root = workflow_root(tmp_path, LIGHT.format(approver="head_of_sales", extra="\n    escalate_after_hours: 3"),
                         settings=_hours(48))
    backend(root)
    store, services = open_services(root)
    tick(services, AS_OF, NOW)
    a = _approval_of(store, "C000")
    assert a.escalate_at == NOW + timedelta(hours=3)  # the step's hours beat approvals.escalate_after_hours
    with capture_logs() as logs:
        report = runner_pass(services, NOW + timedelta(hours=3, minutes=1))
    assert len(report.waiting) == 2
    escalated = [e for e in logs if e["event"] == "approval_escalated"]
    assert len(escalated) == 2 and escalated[0]["log_level"] == "warning"
    assert escalated[0]["deputy"] == "commercial_director"
    a = get_approval(store, a.id)
    assert (a.state, a.escalated_to, a.escalated_at) == ("escalated", "commercial_director",
                                                         NOW + timedelta(hours=3, minutes=1))
    runs = _runs(store)
    assert runs["C000"].status == "waiting" and runs["C000"].wake_at is None  # now only a decision wakes it
    with capture_logs() as logs:
        assert runner_pass(services, NOW + timedelta(days=5)).waiting == []
    assert not [e for e in logs if e["event"] == "approval_escalated"]  # escalated once

    code, out, _ = _cli(root, capsys, "approval", "list", "--pending")
    assert "escalated" in out and "or deputy Волков Сергей Андреевич (commercial_director) since" in out
    clock["now"] = NOW + timedelta(hours=5)
    assert _cli(root, capsys, "approval", "approve", str(a.id), "--by", "Волков С. А.", "--comment", "подавайте")[0] \
        == 0
    assert runner_pass(services, NOW + timedelta(hours=5)).done == [runs["C000"].id]
    tasks = store.rows(select(t.tasks))
    assert [(x.contract_id, x.role) for x in tasks] == [("C000", "legal")]
    out = store.rows(select(t.run_steps.c.output).where(t.run_steps.c.run_id == runs["C000"].id,
                                                        t.run_steps.c.idx == 0))[0].output
    assert (out["by"], out["escalated_to"], out["comment"]) == ("Волков С. А.", "commercial_director", "подавайте")
    store.close()


def test_without_a_deputy_an_overdue_approval_is_logged_and_keeps_waiting(tmp_path):
    def no_deputy(settings: dict) -> None:
        settings["roles"]["auditor"] = {"name": "Ревизоров Иван Ильич"}
        settings["approvals"]["escalate_after_hours"] = 1
    root = workflow_root(tmp_path, LIGHT.format(approver="auditor", extra=""), settings=no_deputy)
    store, services = open_services(root)
    tick(services, AS_OF, NOW)
    with capture_logs() as logs:
        report = runner_pass(services, NOW + timedelta(hours=2))
    assert len(report.waiting) == 2
    overdue = [e for e in logs if e["event"] == "approval_overdue"]
    assert len(overdue) == 2 and overdue[0]["log_level"] == "error" and "no deputy" in overdue[0]["hint"]
    assert all(a.escalated_at is None and a.state == "pending" for a in list_approvals(store))
    assert {r.wake_at for r in _runs(store).values()} == {None}
    store.close()


def test_on_reject_fail_fails_the_run_for_a_human(tmp_path, clock, capsys):
    root = workflow_root(tmp_path, LIGHT.format(approver="head_of_sales", extra="\n    on_reject: fail"))
    store, services = open_services(root)
    tick(services, AS_OF, NOW)
    a = _approval_of(store, "C000")
    assert _cli(root, capsys, "approval", "reject", str(a.id), "--by", "Орлова", "--comment", "нет оснований")[0] == 0
    report = runner_pass(services, NOW + timedelta(minutes=1))
    run = _runs(store)["C000"]
    assert report.failed == [run.id] and run.status == RunStatus.FAILED
    assert run.error == f"step 0 (approval): approval {a.id} rejected by Орлова: нет оснований"
    assert store.rows(select(t.tasks)) == []
    store.close()


def test_rejecting_needs_a_comment_and_deciding_needs_a_name(tmp_path, capsys):
    root = workflow_root(tmp_path, LIGHT.format(approver="head_of_sales", extra=""))
    with pytest.raises(SystemExit):
        cli.main(["--config", str(root / "schedules.yaml"), "approval", "reject", "1", "--by", "Орлова"])
    assert "--comment" in capsys.readouterr().err
    code, _, err = _cli(root, capsys, "approval", "approve", "1", "--by", "  ")
    assert code == 2 and "--by: give the name" in err


def _problems(tmp_path, steps: str) -> str:
    root = workflow_root(tmp_path, steps)
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    return str(exc.value)


def test_the_config_names_an_unknown_approver_a_missing_document_and_a_bad_title(tmp_path):
    text = _problems(tmp_path, """  - kind: approval
    approver: ceo
    document: claim
    title: "Иск {{ counterparty.name"
""")
    assert "scenarios/pretrial_demand.yaml:4 steps[0].approver: role 'ceo' is not defined under roles:" in text
    assert "steps[0].document: no earlier render step has id 'claim' (earlier render steps: none)" in text
    assert "steps[0].title: not a valid template" in text


def test_the_config_names_a_deputy_that_is_not_a_role(tmp_path):
    root = workflow_root(tmp_path, LIGHT.format(approver="head_of_sales", extra=""))
    edit_settings(root, lambda s: s["roles"]["head_of_sales"].__setitem__("deputy", "ceo"))
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    assert "steps[0].approver: the deputy of role 'head_of_sales', 'ceo', is not defined under roles:" \
        in str(exc.value)


def test_an_approver_may_see_the_draft_before_it_is_signed(tmp_path, officer_pki):
    root = workflow_root(tmp_path, SIGNED, pki=officer_pki)
    steps = load_config(root / "schedules.yaml").scenarios["pretrial_demand"].steps
    assert [s.kind for s in steps] == ["render", "approval", "sign", "archive"]
    assert steps[1].shown_document == "demand"
