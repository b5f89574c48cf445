"""The pre-send reconciliation: a customer who paid yesterday never gets a claim today.

End to end against the demo accounting system over HTTP with the repository's REST connector (its payments entity
asks for one contract's payments with ``reconcile: {params: {contract_id: ...}}``): the robots sync on one day, the
customer pays in the accounting system, and the next day's claim (decided from the synced ledger, no new sync)
re-reads the payments first and stops before anything is rendered.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from ruamel.yaml import YAML
from sqlalchemy import func, select

from connectors.files.connector import FileConnector
from connectors.files.ledger_csv import write_ledger_csv
from robots.config import load_config
from robots.core.domain import Payment
from robots.core.errors import ConfigError
from robots.engine.runner import Runner
from robots.engine.sync import connector_by_id, sync
from robots.engine.tick import evaluate_and_record, tick
from robots.steps.reconcile import reconcile_amounts
from robots.store import schema as t
from tests.steps.test_shipments import DUE, PASSWORD, day, ledger_of, runs
from tests.texts import has_number


def claim_day_without_sync(services, now):
    """Decide day 10 from the stored ledger (no sync) and run what was decided."""
    evaluate_and_record(services, day(10)[0], now)
    return Runner(services).run_pending(now)


def documents(store, run_id: int) -> int:
    return store.scalar(select(func.count()).select_from(t.documents).where(t.documents.c.run_id == run_id))


def steps_of(store, run_id: int) -> list:
    return store.rows(select(t.run_steps).where(t.run_steps.c.run_id == run_id).order_by(t.run_steps.c.idx))


def test_a_customer_who_paid_yesterday_never_gets_a_claim_today(world):
    app, store, services = world
    erp = app.state.erp
    tick(services, *day(9))  # synced on day 9: both contracts overdue
    yesterday = Payment("PAY-B1", "C0", day(9)[0], Decimal("1000.00"), None)
    partly = Payment("PAY-B2", "C1", day(9)[0], Decimal("400.00"), "I1")
    erp.set_ledger(ledger_of(extra=(yesterday, partly)))  # paid in the accounting system; the robots did not sync

    report = claim_day_without_sync(services, day(10)[1] - timedelta(hours=1))
    c0, c1 = runs(store, "overdue_10")
    assert sorted(report.done) == [c0.id, c1.id]
    # C0 paid in full: no letter, no task, no block; the run says why it stopped.
    assert c0.status == "done" and c0.outcome.startswith("stopped at step 0 (reconcile): paid before sending")
    assert documents(store, c0.id) == 0
    steps = steps_of(store, c0.id)
    assert [s.status for s in steps] == ["done", "skipped", "skipped", "skipped", "skipped"]
    assert steps[0].output["kind"] == "reconciliation" and steps[0].output["paid_since_sync"] == "1000.00"
    assert steps[0].output["new_payments"] == [{"id": "PAY-B1", "date": "2026-03-19", "amount": "1000.00"}]
    assert ("P0", "C0") not in erp.blocks
    # C1 paid part: the claim goes out for what is left, and later steps see the reconciled amount.
    assert c1.status == "done" and c1.outcome is None and documents(store, c1.id) == 1
    out = steps_of(store, c1.id)[0].output
    assert out["invoices"] == [{"id": "I1", "open_amount": "601.00"}] and out["open_total"] == "601.00"
    task = store.rows(select(t.tasks.c.title).where(t.tasks.c.run_id == c1.id))[0].title
    assert task == "Претензия на 601.00", task
    assert ("P1", "C1") in erp.blocks


def test_a_stale_ledger_makes_the_claim_wait_until_the_next_good_sync(world):
    app, store, services = world
    tick(services, *day(9))
    late = day(10)[1] + timedelta(hours=1)  # 25 hours after the last sync: older than max_sync_age_hours (24)
    report = claim_day_without_sync(services, late)
    assert len(report.waiting) == 2 and not report.done
    claim = runs(store, "overdue_10")
    assert all(r.status == "waiting" and r.wake_at is None and "too old" in r.error for r in claim)
    assert all(documents(store, r.id) == 0 for r in claim)
    assert Runner(services).run_pending(late + timedelta(hours=2)).waiting == []  # nothing wakes it but a sync

    sync(services.config, store, late + timedelta(hours=3))
    report = Runner(services).run_pending(late + timedelta(hours=3))
    assert sorted(report.done) == sorted(r.id for r in claim)
    assert all(documents(store, r.id) == 1 for r in claim)


def test_a_connector_that_fails_during_reconciliation_is_retried_and_nothing_goes_out(world):
    app, store, services = world
    tick(services, *day(9))
    app.state.erp.faults.fail("payments", status=503, times=None)
    report = claim_day_without_sync(services, day(10)[1] - timedelta(hours=2))
    claim = runs(store, "overdue_10")
    # The accounting system is down: the runs wait for it (Unavailable "erp"), not a failed attempt.
    assert sorted(report.waiting) == sorted(r.id for r in claim) and not report.retry
    assert all(r.status == "waiting" and "connector 'erp' unavailable" in r.error and has_number(r.error, 503)
               for r in claim)
    assert all(documents(store, r.id) == 0 for r in claim) and app.state.erp.blocks == {}
    app.state.erp.faults.clear()
    assert len(Runner(services).run_pending(day(10)[1] - timedelta(hours=1)).done) == 2


def test_the_rest_connector_asks_the_accounting_system_for_one_contract(world):
    app, store, services = world
    app.state.erp.set_ledger(ledger_of(paid={"I0": "10.00", "I1": "20.00"}))
    conn = connector_by_id(services.config, "erp")
    try:
        fetched = conn.payments_for("C1")
    finally:
        conn.close()
    records = fetched.tables["payments"]
    assert [r.values["id"] for r in records] == ["PAY-I1"] and not fetched.problems
    assert records[0].where.source == "erp: GET payments (payments of C1)"
    base = str(services.config.settings.connectors[0].base_url)
    with httpx.Client(auth=("робот", PASSWORD)) as http:
        assert [p["id"] for p in http.get(base + "payments", params={"contract_id": "C0"}).json()["data"]] == \
            ["PAY-I0"]
        refused = http.get(base + "contracts", params={"contract_id": "C0"})
        assert refused.status_code == 400 and "contract_id filters" in refused.json()["error"]


def test_the_file_connector_re_reads_its_payments_file(tmp_path):
    write_ledger_csv(ledger_of(paid={"I0": "10.00", "I1": "20.00"}), tmp_path)
    fetched = FileConnector("bank", tmp_path, entities=("payments",)).payments_for("C0")
    assert [r.values["id"] for r in fetched.tables["payments"]] == ["PAY-I0"]
    assert fetched.tables["payments"][0].where.line == 2


def test_a_fresh_amount_never_exceeds_the_decided_one():
    decided = {"I1": Decimal("100.00"), "I2": Decimal("50.00")}
    assert reconcile_amounts(decided, {"I1": Decimal("30.00"), "I2": Decimal("80.00")}) == {
        "I1": Decimal("30.00"), "I2": Decimal("50.00")}
    assert reconcile_amounts(decided, {}) == {"I1": Decimal("0"), "I2": Decimal("0")}


def test_a_reconcile_step_after_the_letter_is_a_config_error(world):
    app, store, services = world
    path = services.config.base_dir / "scenarios" / "t_claim.yaml"
    yaml = YAML()
    body = yaml.load(path.read_text(encoding="utf-8"))
    body["steps"].insert(2, {"kind": "reconcile"})
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(body, f)
    with pytest.raises(ConfigError, match=r"t_claim.yaml:\d+ steps\[2\]: reconcile comes after a render step"):
        load_config(services.config.path)


def test_due_is_the_shared_due_date():
    assert DUE.isoformat() == "2026-03-10"  # the dates above (2026-03-19 = day 9) rest on it


def test_a_reconcile_request_names_only_the_contract_and_only_on_payments():
    from pydantic import ValidationError

    from connectors.rest.config import RestConnectorConfig

    def config(entity: str, reconcile: dict) -> dict:
        fields = {"payments": {"id": "id", "contract_id": "c", "date": "d", "amount": "a"},
                  "invoices": {"id": "id", "number": "n", "contract_id": "c", "date": "d", "amount": "a"}}
        return {"id": "erp", "kind": "rest", "base_url": "http://erp.local/api/",
                "entities": {entity: {"path": entity, "fields": fields[entity], "reconcile": reconcile}}}

    ok = RestConnectorConfig.model_validate(config("payments", {"params": {"contract": "{contract_id}"}}))
    assert ok.entities["payments"].reconcile.params == {"contract": "{contract_id}"}
    with pytest.raises(ValidationError, match=r"unknown placeholder \{counterparty_id\}"):
        RestConnectorConfig.model_validate(config("payments", {"params": {"cp": "{counterparty_id}"}}))
    with pytest.raises(ValidationError, match="only payments are re-read"):
        RestConnectorConfig.model_validate(config("invoices", {"params": {"contract": "{contract_id}"}}))
