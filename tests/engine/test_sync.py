"""Sync with real files and a real store: several connectors feed one ledger, all or nothing, the sanity guard."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from connectors.base import Fetched, SyncRejected
from connectors.files.connector import FileConnector
from connectors.files.ledger_csv import write_ledger_csv
from demo.ledger import generate_demo_ledger
from robots.config import load_config
from robots.core.domain import Ledger, Payment
from robots.core.errors import ConfigError, Unavailable
from robots.engine.summary import render_summary, summarize
from robots.engine.sync import SyncRefused, sync
from robots.store import Store
from tests.worlds import REPO

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)

CSV = """connectors:
  - id: ledger
    kind: file
    path: var/ledger
    write_back: {journal: var/write-back.csv}
"""
TWO_CONNECTORS = """connectors:
  - id: erp
    kind: file
    path: var/erp
    entities: [counterparties, contracts, invoices]
    write_back: {journal: var/write-back.csv}
  - id: bank
    kind: file
    path: var/bank
    entities: [payments]
    files: {payments: выписка.xlsx}
    columns: {payments: {id: Номер, contract_id: Договор, invoice_id: Счёт, date: Дата, amount: Сумма}}
"""


def _workdir(tmp_path: Path, connectors_yaml: str | None = None) -> Path:
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    text = (REPO / "schedules.yaml").read_text(encoding="utf-8")
    start = text.index("connectors:\n")
    end = text.index("\nsync:")
    text = text[:start] + (connectors_yaml or CSV) + text[end:]
    (tmp_path / "schedules.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "schedules.yaml"


def _bank_statement(path: Path, payments: tuple[Payment, ...], broken_contract: str | None = None) -> None:
    """The bank's export as Excel saves it: Russian headers, a title row above? no: header first, typed cells."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Выписка"
    ws.append(["Номер", "Дата", "Договор", "Счёт", "Сумма", "Назначение платежа"])
    for i, p in enumerate(payments):
        contract = broken_contract if (broken_contract and i == 1) else p.contract_id
        ws.append([p.id, p.date, contract, p.invoice_id, float(p.amount), "Оплата по договору"])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


@pytest.fixture
def ledger() -> Ledger:
    return generate_demo_ledger(seed=3, start=date(2026, 1, 12), days=20)


def _store(config) -> Store:
    return Store.open(config.database_url())


def test_invoices_from_one_connector_and_payments_from_a_bank_xlsx_make_one_ledger(tmp_path, ledger):
    config = load_config(_workdir(tmp_path, TWO_CONNECTORS))
    write_ledger_csv(replace(ledger, payments=()), tmp_path / "var" / "erp")
    _bank_statement(tmp_path / "var" / "bank" / "выписка.xlsx", ledger.payments)
    store = _store(config)
    try:
        got = sync(config, store, NOW)
        assert got == ledger
        assert store.load_ledger().counts() == ledger.counts()
        assert {p.id: p.amount for p in store.load_ledger().payments} == {p.id: p.amount for p in ledger.payments}
    finally:
        store.close()


def test_a_bad_record_in_one_connector_rejects_the_whole_sync_and_keeps_the_previous_snapshot(tmp_path, ledger):
    config = load_config(_workdir(tmp_path, TWO_CONNECTORS))
    write_ledger_csv(replace(ledger, payments=()), tmp_path / "var" / "erp")
    statement = tmp_path / "var" / "bank" / "выписка.xlsx"
    _bank_statement(statement, ledger.payments)
    store = _store(config)
    try:
        sync(config, store, NOW)
        before = store.load_ledger()
        # Next day: new invoices arrive, but the bank file names a contract nobody knows.
        bigger = generate_demo_ledger(seed=3, start=date(2026, 1, 12), days=30)
        write_ledger_csv(replace(bigger, payments=()), tmp_path / "var" / "erp")
        _bank_statement(statement, bigger.payments, broken_contract="Д-404")
        with pytest.raises(SyncRejected) as exc:
            sync(config, store, NOW.replace(day=13))
        [problem] = exc.value.problems
        assert (problem.source, problem.line, problem.column) == ("выписка.xlsx", 3, "contract_id")
        assert "unknown contract 'Д-404'" in str(exc.value) and "nothing was applied" in str(exc.value)
        assert store.load_ledger() == before  # not one invoice of the new export was applied
        summary = render_summary(summarize(store))
        assert "LAST SYNC FAILED (rejected" in summary and "Д-404" in summary
        # Fixed: the next sync applies everything and the failure no longer shows.
        _bank_statement(statement, bigger.payments)
        sync(config, store, NOW.replace(day=14))
        assert store.load_ledger().counts() == bigger.counts()
        assert "LAST SYNC FAILED" not in render_summary(summarize(store))
    finally:
        store.close()


def test_the_sanity_guard_refuses_a_snapshot_that_lost_payments_until_a_person_accepts_it(tmp_path, ledger):
    config = load_config(_workdir(tmp_path))
    folder = config.resolve(config.settings.connectors[0].path)
    write_ledger_csv(ledger, folder)
    store = _store(config)
    try:
        sync(config, store, NOW)
        before = store.load_ledger()
        n = len(ledger.payments)
        half = replace(ledger, payments=ledger.payments[: n // 2])  # a half-finished export from the ERP
        write_ledger_csv(half, folder)
        with pytest.raises(SyncRefused) as exc:
            sync(config, store, NOW.replace(day=13))
        message = str(exc.value)
        assert f"lost {n - n // 2} of {n} payments" in message and "sync.max_loss.payments" in message
        assert "--accept-loss" in message
        assert store.load_ledger() == before
        assert "LAST SYNC FAILED (refused" in render_summary(summarize(store))
        # Losing a few (under 10 %) is normal life: paid invoices archived, a duplicate payment deleted.
        few = replace(ledger, payments=ledger.payments[: n - max(1, n // 20)])
        write_ledger_csv(few, folder)
        assert sync(config, store, NOW.replace(day=14)) == few
        write_ledger_csv(half, folder)
        assert sync(config, store, NOW.replace(day=15), accept_loss=True) == half
    finally:
        store.close()


def test_cli_sync_exits_2_on_refusal_and_applies_with_accept_loss(tmp_path, ledger):
    cfg = _workdir(tmp_path)
    config = load_config(cfg)
    folder = config.resolve(config.settings.connectors[0].path)
    write_ledger_csv(ledger, folder)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(REPO / "run_robots.py"), "--config", str(cfg), *args],
                              capture_output=True, text=True, timeout=120)

    ok = run("sync")
    assert ok.returncode == 0, ok.stderr
    assert f"{len(ledger.invoices)} invoices" in ok.stdout
    write_ledger_csv(replace(ledger, invoices=ledger.invoices[:3], payments=()), folder)
    refused = run("sync")
    assert refused.returncode == 2 and "refused by the sanity guard" in refused.stderr
    assert "LAST SYNC FAILED (refused" in run("status").stdout
    check = run("connector", "check", "ledger")
    assert check.returncode == 0 and "ledger: OK, " in check.stdout  # check changes nothing
    accepted = run("sync", "--accept-loss")
    assert accepted.returncode == 0 and "3 invoices" in accepted.stdout


def test_an_unreachable_source_is_recorded_and_the_tick_evaluates_nothing(tmp_path, ledger):
    from robots.engine.services import services_for
    from robots.engine.tick import tick
    from robots.support.clock import SystemClock

    config = load_config(_workdir(tmp_path))
    store = _store(config)
    services = services_for(config, store, SystemClock())
    try:
        with pytest.raises(Unavailable, match="does not exist") as exc:
            tick(services, date(2026, 2, 1), NOW)
        assert exc.value.system == "ledger" and "evaluation waits" in str(exc.value)
        assert store.last_as_of() is None  # no evaluation from a ledger that was never read
        assert "LAST SYNC FAILED (unavailable" in render_summary(summarize(store))
    finally:
        services.close()
        store.close()


def test_a_config_where_no_connector_delivers_invoices_is_refused_at_load(tmp_path):
    only_payments = TWO_CONNECTORS.replace("entities: [counterparties, contracts, invoices]",
                                           "entities: [counterparties, contracts]")
    with pytest.raises(ConfigError) as exc:
        load_config(_workdir(tmp_path, only_payments))
    assert "connectors" in str(exc.value) and "no connector delivers invoices" in str(exc.value)


def test_unknown_column_field_names_the_fields_of_that_entity(tmp_path):
    bad = TWO_CONNECTORS.replace("amount: Сумма", "sum: Сумма")
    with pytest.raises(ConfigError) as exc:
        load_config(_workdir(tmp_path, bad))
    assert "unknown field(s) sum" in str(exc.value) and "invoice_id, date, amount" in str(exc.value)


class _Watermarked:
    """A connector that delivers the file ledger and counts its commits (the unit of the commit protocol)."""

    def __init__(self, inner: FileConnector):
        self.inner, self.id, self.entities, self.commits = inner, inner.id, inner.entities, 0

    def fetch(self) -> Fetched:
        return self.inner.fetch()

    def commit(self) -> None:
        self.commits += 1

    def close(self) -> None:
        pass


def test_connectors_commit_their_state_only_after_the_swap(tmp_path, ledger):
    config = load_config(_workdir(tmp_path))
    folder = config.resolve(config.settings.connectors[0].path)
    write_ledger_csv(ledger, folder)
    conn = _Watermarked(FileConnector("ledger", folder, frozenset(config.settings.groups)))
    store = _store(config)
    try:
        sync(config, store, NOW, [conn])
        assert conn.commits == 1
        broken = replace(ledger, payments=(*ledger.payments, Payment("PX", "nope", date(2026, 2, 1), Decimal(1))))
        write_ledger_csv(broken, folder)
        with pytest.raises(SyncRejected):
            sync(config, store, NOW, [conn])
        assert conn.commits == 1
    finally:
        store.close()
