"""Shipment blocks end to end: the repository's REST connector writes to the demo accounting system over HTTP.

The config is the repository's schedules.yaml copied into tmp_path (its PKI moved to the session's), with test
scenarios: a letter on day 1, a claim on day 10 that reconciles and blocks shipments, and the paid event that
unblocks them. Store tests of the shipment_blocks queries run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from sqlalchemy import func, select, update

from robots.config import load_config
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from robots.core.errors import ConfigError
from robots.engine.events.base import EventRun
from robots.engine.runner import Runner
from robots.engine.tick import tick
from robots.steps import REGISTRY
from robots.store import RunRecord, Store
from robots.store import schema as t
from robots.store import shipments as sb
from tests.texts import has_number
from tests.worlds import shipped_world

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Пароль-для-теста-7c1"
DUE = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)

SCENARIOS = {
    "t_letter": {"title": "Письмо", "steps": [
        {"kind": "render", "id": "letter", "template": "payment_request.j2", "title": "Просьба об оплате"},
        {"kind": "archive", "document": "letter"}]},
    "t_claim": {"title": "Претензия", "steps": [
        {"kind": "reconcile"},
        {"kind": "render", "id": "claim", "template": "payment_request.j2", "title": "Претензия"},
        {"kind": "archive", "document": "claim"},
        {"kind": "task", "role": "legal", "title": "Претензия на {{ total_open }}", "due_in_days": 3},
        {"kind": "block_shipments", "id": "block",
         "reason": "Претензия по договору {{ contract.number }}: отгрузки приостановлены"}]},
    "t_paid": {"title": "Долг погашен", "steps": [
        {"kind": "unblock_shipments", "id": "unblock", "when": "blocked"},
        {"kind": "task", "role": "account_manager", "title": "Долг {{ contract.number }} погашен"}]},
}


def ledger_of(paid: dict[str, str] | None = None, extra: tuple[Payment, ...] = ()) -> Ledger:
    """Two customers with one contract each, one invoice each due on DUE; ``paid``: invoice -> amount paid."""
    cps = tuple(Counterparty(f"P{n}", f"ООО «Клиент {n}»", f"77{n:08d}", f"c{n}@example.ru") for n in range(2))
    cts = tuple(Contract(f"C{n}", f"{n}/2026", f"P{n}", 30, "RUB", Decimal("0.001")) for n in range(2))
    invs = tuple(Invoice(f"I{n}", f"10{n}", f"C{n}", DUE - timedelta(days=30), DUE, Decimal("1000.00") + n)
                 for n in range(2))
    pays = tuple(Payment(f"PAY-{i}", f"C{i[1:]}", DUE + timedelta(days=1), Decimal(a), i)
                 for i, a in (paid or {}).items())
    return Ledger(cps, cts, invs, pays + extra)


def make_world(root: Path, url: str, pki) -> Path:
    """The repository's config in ``root``, reading the demo ERP at ``url``, with the test scenarios."""
    yaml = YAML()
    shipped_world(root, pki=pki, scenarios=False, csv=False)
    for name, body in SCENARIOS.items():
        with (root / "scenarios" / f"{name}.yaml").open("w", encoding="utf-8") as f:
            yaml.dump(body, f)
    path = root / "schedules.yaml"
    settings = yaml.load(path.read_text(encoding="utf-8"))
    erp = settings["connectors"][0]
    erp["base_url"] = url + "api/v1/"
    erp["retries"] = {"attempts": 2, "backoff": 0.01, "max_backoff": 0.05}
    erp["entities"]["payments"]["reconcile"] = {"params": {"contract_id": "{contract_id}"}}
    settings["groups"] = {"default": {"days": "calendar", "columns": [
        {"id": "overdue_1", "offset": 1, "scenario": "t_letter", "title": "1 день"},
        {"id": "overdue_10", "offset": 10, "scenario": "t_claim", "title": "10 дней"}]}}
    settings["events"] = {"paid": "t_paid"}
    settings.pop("email", None)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    (root / "var").mkdir(exist_ok=True)
    (root / "var" / "erp-password").write_text(PASSWORD, encoding="utf-8")
    (root / "var" / "erp-password").chmod(0o600)
    return path


def day(n: int) -> tuple[date, datetime]:
    """The tick of DUE + n days: its as_of and its now."""
    return DUE + timedelta(days=n), NOW + timedelta(days=n)


def runs(store: Store, column: str | None = None) -> list:
    q = select(t.runs).order_by(t.runs.c.id)
    return store.rows(q if column is None else q.where(t.runs.c.column_id == column))


def blocks(store: Store) -> list[sb.Block]:
    return [sb.Block.from_row(r) for r in store.rows(select(sb.shipment_blocks).order_by(sb.shipment_blocks.c.id))]


def rerun_step(services, run_row, idx: int, now: datetime) -> dict:
    """Execute one step of a run again, as the runner does after a crash while that step was under way."""
    run = RunRecord.from_row(run_row)
    ctx = Runner(services)._context(run, now)
    ctx.step_idx = idx
    cfg = services.config.scenarios[run.scenario].steps[idx]
    return REGISTRY[cfg.kind]().run(cfg, ctx)


def test_a_claim_blocks_shipments_once_and_the_paid_event_unblocks_them_once(world):
    app, store, services = world
    erp = app.state.erp
    for n in (1, 10):
        tick(services, *day(n))
    claim = runs(store, "overdue_10")
    assert [r.status for r in claim] == ["done", "done"]
    assert erp.blocks == {("P0", "C0"): "Претензия по договору 0/2026: отгрузки приостановлены",
                          ("P1", "C1"): "Претензия по договору 1/2026: отгрузки приостановлены"}
    assert [(b.contract_id, b.state, b.connector) for b in blocks(store)] == [
        ("C0", sb.BlockState.BLOCKED, "erp"), ("C1", sb.BlockState.BLOCKED, "erp")]
    assert sb.is_blocked(store, "C0") and not sb.is_blocked(store, "C9")
    assert erp.faults.hits[("api", "block", None)] == 2

    # A crash after the block was confirmed but before the runner recorded the step: the step runs again.
    again = rerun_step(services, claim[0], 4, day(10)[1] + timedelta(minutes=5))
    assert again["changed"] is True and again["block_id"] == blocks(store)[0].id
    assert erp.faults.hits[("api", "block", None)] == 2  # the system was not called again
    # A crash between the decision and the system's answer: the step calls again (idempotent there), still one row.
    with store.engine.begin() as conn:
        conn.execute(update(sb.shipment_blocks).where(sb.shipment_blocks.c.contract_id == "C0")
                     .values(state=sb.BlockState.BLOCKING.value))
    again = rerun_step(services, claim[0], 4, day(10)[1] + timedelta(minutes=6))
    assert again["changed"] is True and erp.faults.hits[("api", "block", None)] == 3
    assert [b.state for b in blocks(store)] == [sb.BlockState.BLOCKED] * 2
    # Another run blocking a contract the robots block already records and calls nothing.
    other = store.record_event_runs([EventRun("C0", "manual", "t_claim", day(10)[0], ())], day(10)[1])
    row = store.rows(select(t.runs).where(t.runs.c.id == other[0]))[0]
    out = rerun_step(services, row, 4, day(10)[1])
    assert out["changed"] is False and out["note"].startswith("already blocked since 2026-03-20T06:00")
    assert len(blocks(store)) == 2 and erp.faults.hits[("api", "block", None)] == 3

    # C0 pays; C1 does not. The next tick's paid event unblocks C0 only, and never twice.
    erp.set_ledger(ledger_of(paid={"I0": "1000.00"}))
    tick(services, *day(12))
    paid = runs(store, "paid")
    assert [(r.contract_id, r.status, r.scenario) for r in paid] == [("C0", "done", "t_paid")]
    assert paid[0].invoices == [{"id": "I0", "open_amount": "0.00", "days_past_due": 12}]
    assert erp.blocks == {("P1", "C1"): "Претензия по договору 1/2026: отгрузки приостановлены"}
    lifted = blocks(store)[0]
    assert lifted.state is sb.BlockState.UNBLOCKED and lifted.unblocked_run_id == paid[0].id
    assert not sb.is_blocked(store, "C0") and sb.is_blocked(store, "C1")
    steps = store.rows(select(t.run_steps).where(t.run_steps.c.run_id == paid[0].id).order_by(t.run_steps.c.idx))
    assert steps[0].output["changed"] is True
    assert steps[0].output["reason"] == "Задолженность по договору 0/2026 погашена"
    tick(services, *day(13))
    tick(services, *day(14))
    assert len(runs(store, "paid")) == 1
    assert erp.faults.hits[("api", "unblock", None)] == 1


def test_a_failed_write_back_is_retried_and_records_no_block_until_it_succeeds(world):
    app, store, services = world
    erp = app.state.erp
    tick(services, *day(1))
    erp.faults.fail("block", status=503, times=None)
    report = tick(services, *day(10))
    # The accounting system is down: the runs wait for it (not a failed attempt), and nothing was blocked.
    assert len(report.runner.waiting) == 2 and not report.runner.failed and not report.runner.retry
    assert blocks(store) == [] and erp.blocks == {}
    claim = runs(store, "overdue_10")
    assert all("block_shipments" in r.error and has_number(r.error, 503) for r in claim)
    erp.faults.clear()
    report = Runner(services).run_pending(day(10)[1] + timedelta(minutes=10))
    assert sorted(report.done) == sorted(r.id for r in claim)
    assert len(erp.blocks) == 2 and [b.state for b in blocks(store)] == [sb.BlockState.BLOCKED] * 2
    # The claim's letter was rendered once: its steps before the block were not repeated.
    assert store.scalar(select(func.count()).select_from(t.documents)) == 2 + 2


def test_unblock_says_so_when_the_robots_hold_no_block(world):
    app, store, services = world
    tick(services, *day(1))
    row = store.rows(select(t.runs).where(t.runs.c.id == store.record_event_runs(
        [EventRun("C0", "paid", "t_paid", day(1)[0], ())], day(1)[1])[0]))[0]
    out = rerun_step(services, row, 0, day(1)[1])
    assert out["changed"] is False and out["note"].startswith("nothing to unblock")
    assert app.state.erp.faults.hits[("api", "unblock", None)] == 0


def test_a_block_step_without_a_write_back_connector_is_a_config_error(tmp_path, officer_pki):
    path = make_world(tmp_path, "http://127.0.0.1:9/", officer_pki)
    yaml = YAML()
    settings = yaml.load(path.read_text(encoding="utf-8"))
    del settings["connectors"][0]["write_back"]["block_shipments"]
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "scenarios/t_claim.yaml" in str(exc.value)
    assert "steps[4].connector: connector 'erp' has no write_back.block_shipments" in str(exc.value)
    settings["connectors"][0].pop("write_back")
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    with pytest.raises(ConfigError, match="no connector has a write_back section"):
        load_config(path)


# -- the store's shipment_blocks (SQLite and PostgreSQL) --------------------------------------------------------

T0 = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)


def _run(store: Store, contract_id: str, column: str, as_of: date, invoices=()) -> int:
    return store.record_event_runs([EventRun(contract_id, column, "s", as_of, tuple(invoices))], T0)[0]


def test_blocks_are_recorded_once_per_step_and_cover_their_scope(store):
    store.replace_ledger(ledger_of(), "test", T0)
    store.replace_ledger(Ledger(ledger_of().counterparties, (*ledger_of().contracts, Contract("C0b", "0b", "P0")),
                                ledger_of().invoices), "test", T0)
    run = _run(store, "C0", "overdue_10", DUE + timedelta(days=10))
    first = sb.record_blocking(store, run_id=run, step_idx=4, contract_id="C0", counterparty_id="P0",
                               scope=sb.BlockScope.CONTRACT, connector="erp", reason="r", now=T0)
    again = sb.record_blocking(store, run_id=run, step_idx=4, contract_id="C0", counterparty_id="P0",
                               scope=sb.BlockScope.CONTRACT, connector="erp", reason="r", now=T0)
    assert first.id == again.id and len(blocks(store)) == 1
    assert not sb.is_blocked(store, "C0")  # decided, not confirmed yet
    assert sb.active_block(store, "C0", "P0", sb.BlockScope.CONTRACT).id == first.id  # but no one else blocks
    sb.confirm_blocked(store, first.id, "HTTP 200", T0)
    assert sb.is_blocked(store, "C0") and not sb.is_blocked(store, "C0b") and not sb.is_blocked(store, "C1")
    assert sb.active_block(store, "C0", "P0", sb.BlockScope.COUNTERPARTY) is None
    assert sb.active_block_days(store) == {"C0": DUE + timedelta(days=10)}

    wide = sb.record_blocking(store, run_id=run, step_idx=5, contract_id="C0", counterparty_id="P0",
                              scope=sb.BlockScope.COUNTERPARTY, connector="erp", reason="всё", now=T0)
    sb.confirm_blocked(store, wide.id, "HTTP 200", T0)
    assert sb.is_blocked(store, "C0b")  # the counterparty-wide block covers its other contract
    assert [b.id for b in sb.covering_blocks(store, "C0b", "P0")] == [wide.id]

    paid = _run(store, "C0", "paid", DUE + timedelta(days=12))
    assert [b.id for b in sb.blocks_to_lift(store, "C0", "P0", sb.BlockScope.CONTRACT, paid)] == [first.id]
    sb.mark_unblocked(store, [first.id], paid, "оплачено", "HTTP 200", T0)
    # A re-run of the unblock step sees what it lifted; another run does not.
    assert [b.id for b in sb.blocks_to_lift(store, "C0", "P0", sb.BlockScope.CONTRACT, paid)] == [first.id]
    assert sb.blocks_to_lift(store, "C0", "P0", sb.BlockScope.CONTRACT, paid + 1) == []
    assert sb.is_blocked(store, "C0")  # still, by the counterparty-wide block
    sb.mark_unblocked(store, [wide.id], paid, "оплачено", "HTTP 200", T0)
    assert not sb.is_blocked(store, "C0") and not sb.is_blocked(store, "C0b")
    assert sb.active_block_days(store) == {}


def test_a_failed_decision_is_forgotten_and_history_reads_the_latest_runs(store):
    run = _run(store, "C1", "overdue_10", DUE + timedelta(days=10))
    b = sb.record_blocking(store, run_id=run, step_idx=0, contract_id="C1", counterparty_id="P1",
                           scope=sb.BlockScope.CONTRACT, connector="erp", reason="r", now=T0)
    sb.forget_blocking(store, b.id)
    assert blocks(store) == [] and sb.active_block(store, "C1", "P1", sb.BlockScope.CONTRACT) is None
    _run(store, "C1", "overdue_1", DUE + timedelta(days=1), [{"id": "I1", "open_amount": "1", "days_past_due": 1}])
    _run(store, "C2", "overdue_1", DUE + timedelta(days=3))
    assert sb.last_run_days(store, ["overdue_1", "overdue_10"]) == {"C1": DUE + timedelta(days=10),
                                                                  "C2": DUE + timedelta(days=3)}
    assert sb.last_run_days(store, []) == {}
    rows = sb.runs_since(store, ["C1"], ["overdue_1"])
    assert [(r.contract_id, r.invoices[0]["id"]) for r in rows] == [("C1", "I1")]
