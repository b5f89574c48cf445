"""The shipped schedules.yaml's connector against the demo accounting system: a bad page never reaches the store.

The real chain: the repository's REST connector config, demo.erp served over HTTP, httpx with retries, the shared
validator, the sanity guard and a real SQLite store. Each kind of bad input names the source, page and record, and
leaves the previous snapshot in place.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connectors.base import ConnectorUnavailable, SyncRejected
from demo.erp import create_app, serve
from demo.ledger import generate_demo_ledger
from robots.config import load_config
from robots.engine.summary import render_summary, summarize
from robots.engine.sync import SyncRefused, connector_by_id, sync
from robots.store import Store
from tests.texts import has_number
from tests.worlds import REPO

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 13, 9, 0, tzinfo=UTC)
PASSWORD = "Пароль-для-теста-9f3"  # a test secret; it must never show up in messages
PAGE = 20


@pytest.fixture(scope="module")
def ledger():
    return generate_demo_ledger(seed=5, start=date(2026, 1, 12), days=25)


@pytest.fixture
def erp(ledger):
    app = create_app(ledger, username="робот", password=PASSWORD)
    with serve(app) as url:
        yield app, url


@pytest.fixture
def world(tmp_path: Path, erp):
    """The shipped config pointed at this test's demo ERP, with small pages and fast retries."""
    app, url = erp
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    text = (REPO / "schedules.yaml").read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8780/", url).replace("size: 1000}", f"size: {PAGE}}}")
    text = text.replace("retries: {attempts: 5, backoff: 0.5, max_backoff: 30}",
                        "retries: {attempts: 3, backoff: 0.01, max_backoff: 0.05}")
    (tmp_path / "schedules.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "erp-password").write_text(PASSWORD + "\n", encoding="utf-8")
    (tmp_path / "var" / "erp-password").chmod(0o600)
    config = load_config(tmp_path / "schedules.yaml")
    store = Store.open(config.database_url())
    yield config, store, app
    store.close()


def _first_sync(config, store, ledger):
    assert sync(config, store, NOW) == ledger
    return store.load_ledger()


def _sorted(ledger):
    return {kind: sorted(getattr(ledger, kind), key=lambda x: x.id) for kind in ledger.counts()}


def test_the_shipped_config_reads_the_whole_ledger_over_several_pages(world, ledger):
    config, store, app = world
    assert len(ledger.invoices) > 3 * PAGE  # several pages of every big entity
    assert _sorted(_first_sync(config, store, ledger)) == _sorted(ledger)


def test_a_server_error_in_the_middle_of_paging_applies_nothing(world, ledger):
    config, store, app = world
    before = _first_sync(config, store, ledger)
    app.state.erp.set_ledger(replace(ledger, payments=ledger.payments[:-1]))
    app.state.erp.faults.fail("invoices", page=3, status=503, times=None)
    with pytest.raises(ConnectorUnavailable) as exc:
        sync(config, store, LATER)
    assert "invoices" in str(exc.value) and has_number(str(exc.value), "page 3") and has_number(str(exc.value), 503)
    assert store.load_ledger() == before
    assert "LAST SYNC FAILED (unavailable" in render_summary(summarize(store))
    # A passing hiccup is retried and the sync goes through.
    app.state.erp.faults.clear()
    app.state.erp.faults.fail("invoices", page=3, status=503, times=1)
    assert len(sync(config, store, LATER).payments) == len(ledger.payments) - 1


@pytest.mark.parametrize("fault, expected", [
    ("malformed", ["erp: GET payments", "page 2", "not valid JSON"]),
    ("html", ["erp: GET payments", "page 2", "HTML"]),
])
def test_a_broken_answer_is_rejected_naming_source_and_page(world, ledger, fault, expected):
    config, store, app = world
    before = _first_sync(config, store, ledger)
    getattr(app.state.erp.faults, fault)("payments", page=2, times=None)
    with pytest.raises(SyncRejected) as exc:
        sync(config, store, NOW)
    message = str(exc.value)
    for fragment in expected:
        assert fragment in message, message
    assert PASSWORD not in message
    assert store.load_ledger() == before


def test_a_bad_value_is_rejected_naming_source_page_record_and_field(world, ledger):
    config, store, app = world
    before = _first_sync(config, store, ledger)
    victim = ledger.invoices[PAGE + 4]  # page 2, record 5 (the API lists records in ledger order)
    app.state.erp.faults.corrupt("invoices", victim.id, "amount", "12,3,4")
    app.state.erp.faults.corrupt("payments", ledger.payments[0].id, "date", "вчера")
    with pytest.raises(SyncRejected) as exc:
        sync(config, store, NOW)
    problems = [str(p) for p in exc.value.problems]
    assert problems == [
        "erp: GET invoices page 2 record 5 field 'amount': '12,3,4' is not a number; write it as 1234.56 or "
        "1 234,56",
        "erp: GET payments page 1 record 1 field 'date': 'вчера' is not a date in an accepted form; write it as "
        "2026-03-31 or 31.03.2026",
    ]
    assert store.load_ledger() == before


def test_a_wrong_password_is_a_clear_error_without_the_password(world, ledger):
    config, store, app = world
    (config.base_dir / "var" / "erp-password").write_text("не-тот-пароль\n", encoding="utf-8")
    with pytest.raises(SyncRejected) as exc:
        sync(config, store, NOW)
    message = str(exc.value)
    assert has_number(message, 401) and "не-тот-пароль" not in message and PASSWORD not in message
    assert store.load_ledger().counts() == {"counterparties": 0, "contracts": 0, "invoices": 0, "payments": 0}


def test_an_export_that_lost_half_the_invoices_is_refused(world, ledger):
    config, store, app = world
    before = _first_sync(config, store, ledger)
    app.state.erp.set_ledger(replace(ledger, invoices=ledger.invoices[: len(ledger.invoices) // 2],
                                     payments=tuple(p for p in ledger.payments if p.invoice_id is None)))
    with pytest.raises(SyncRefused, match="invoices"):
        sync(config, store, NOW)
    assert store.load_ledger() == before


def test_write_back_through_the_shipped_config(world, ledger):
    config, store, app = world
    cp = ledger.counterparties[0].id
    conn = connector_by_id(config, "erp")
    try:
        assert conn.block_shipments(cp, None, "Просрочка более 30 дней").ok
        assert app.state.erp.is_blocked(cp)
        contract = next(c.id for c in ledger.contracts if c.counterparty_id == cp)
        assert conn.post_note(cp, contract, "Направлена претензия").ok
        assert [n.text for n in app.state.erp.notes] == ["Направлена претензия"]
        assert conn.unblock_shipments(cp, None, "Долг погашен").ok
        assert not app.state.erp.is_blocked(cp)
    finally:
        conn.close()


def test_invoices_from_the_api_and_payments_from_a_bank_csv_make_one_ledger(tmp_path, erp, ledger):
    """Several connectors, one ledger: the ERP's API without its payments, the bank's CSV statement with them."""
    from connectors.files.ledger_csv import write_ledger_csv

    app, url = erp
    app.state.erp.set_ledger(replace(ledger, payments=()))
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    text = (REPO / "schedules.yaml").read_text(encoding="utf-8").replace("http://127.0.0.1:8780/", url)
    start, end = text.index("      payments:\n"), text.index("    write_back:")
    text = text[:start] + text[end:]  # the API connector no longer reads payments
    text = text.replace("\nsync:\n", "\n  - id: bank\n    kind: file\n    path: var/bank\n    entities: [payments]\n"
                                     "\nsync:\n")
    (tmp_path / "schedules.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "erp-password").write_text(PASSWORD, encoding="utf-8")
    write_ledger_csv(replace(ledger, counterparties=(), contracts=(), invoices=()), tmp_path / "var" / "bank",
                     dialect="excel-ru")
    for name in ("counterparties.csv", "contracts.csv", "invoices.csv"):
        (tmp_path / "var" / "bank" / name).unlink()  # the bank knows payments only
    config = load_config(tmp_path / "schedules.yaml")
    store = Store.open(config.database_url())
    try:
        assert [c.id for c in config.settings.connectors] == ["erp", "bank"]
        assert _sorted(sync(config, store, NOW)) == _sorted(ledger)
        # A payment naming a contract the API does not know is rejected at its line in the bank's file.
        bad = replace(ledger.payments[0], contract_id="CT-404")
        write_ledger_csv(replace(ledger, counterparties=(), contracts=(), invoices=(),
                                 payments=(bad, *ledger.payments[1:])), tmp_path / "var" / "bank")
        with pytest.raises(SyncRejected, match=r"payments.csv:2 column 'contract_id': unknown contract 'CT-404'"):
            sync(config, store, LATER)
    finally:
        store.close()
