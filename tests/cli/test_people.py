"""promise / dispute / contact through robots.cli.main.main on a copied config with a CSV ledger, and what the ticks
then do: a promise holds the letter back and, broken, escalates once; a dispute excludes its debt until closed."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from sqlalchemy import select

from connectors.files.ledger_csv import write_ledger_csv
from robots.cli.main import main
from robots.config import load_config
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.store import Store
from robots.store import people as db
from robots.store import schema as t
from robots.support.clock import SystemClock
from tests.builders import simple_ledger
from tests.worlds import shipped_world

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
COLUMN = """title: {column}
steps:
  - kind: task
    role: account_manager
    title: "Письмо {column}: {{{{ contract.number }}}}"
"""
ESCALATION = """title: Обещание оплаты нарушено
steps:
  - kind: task
    role: head_of_sales
    title: "Нарушено обещание оплаты: {{ counterparty.name }}, договор {{ contract.number }}"
    due_in_days: 1
"""


@pytest.fixture(autouse=True)
def _logs_to_real_stderr():
    """main() points the logs at the stderr of the moment (capsys's, closed after the test); point them back, so
    the session's PKI server can log its shutdown."""
    yield
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.__stderr__))


@pytest.fixture
def env(tmp_path: Path, officer_pki) -> Path:
    shipped_world(tmp_path, pki=officer_pki, scenarios=False)
    # Scenarios of our own (a task per column stands for the letter): the tests check what runs, not the letters
    for column in ("overdue_1", "overdue_2", "overdue_10"):
        (tmp_path / "scenarios" / f"{column}.yaml").write_text(COLUMN.format(column=column), encoding="utf-8")
    (tmp_path / "scenarios" / "promise_broken.yaml").write_text(ESCALATION, encoding="utf-8")
    yaml = YAML()
    cfg = tmp_path / "schedules.yaml"
    settings = yaml.load(cfg.read_text(encoding="utf-8"))
    settings["groups"] = {"default": {"days": "calendar", "columns": [
        {"id": c, "offset": n, "scenario": c} for c, n in (("overdue_1", 1), ("overdue_2", 2), ("overdue_10", 10))]}}
    settings["events"] = {"promise_broken": "promise_broken"}
    settings["promises"] = {"grace_days": 2}
    with cfg.open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    write_ledger_csv(simple_ledger(2), tmp_path / "var" / "ledger")
    # the ledger reaches the store with the first sync; commands check against it
    assert cli(tmp_path, "sync") == 0
    return tmp_path


def cli(root: Path, *args: str) -> int:
    return main(["--config", str(root / "schedules.yaml"), *args])


def ticked(root: Path, day: date):
    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())
    try:
        tick(services_for(config, store, SystemClock()), day, NOW)
        return {(r.contract_id, r.column_id): r for r in store.rows(select(t.runs))}
    finally:
        store.close()


def store_of(root: Path) -> Store:
    return Store.open(load_config(root / "schedules.yaml").database_url())


def test_a_promise_holds_the_letter_back_and_broken_escalates_exactly_once(env, capsys):
    assert cli(env, "promise", "add", "--contract", "C000", "--amount", "1 250,50", "--date", "12.03.2026",
               "--by", "Кузнецов", "--note", "звонок", "--as-of", "2026-03-10") == 0
    assert "promise #1: 1250.50 by 2026-03-12 on contract C000; 2 invoice(s) paused until 2026-03-14" \
        in capsys.readouterr().out
    runs = ticked(env, date(2026, 3, 11))  # overdue_1 day: the letter goes to C001 only
    assert set(runs) == {("C001", "overdue_1")}
    runs = ticked(env, date(2026, 3, 14))  # the last day of the pause
    assert not any(c == "C000" for c, _ in runs)

    runs = ticked(env, date(2026, 3, 15))  # nothing paid: broken; the debt takes up its highest column again
    assert runs[("C000", "promise_broken:1")].scenario == "promise_broken"
    assert runs[("C000", "promise_broken:1")].status == "done"
    assert {i["id"] for i in runs[("C000", "promise_broken:1")].invoices} == {"I000", "I-extra"}
    assert ("C000", "overdue_2") in runs
    store = store_of(env)
    try:
        row = db.promise_row(store, 1)
        assert (row.status, row.closed_on) == ("broken", date(2026, 3, 15))
        assert db.promises_broken(store, "C000") == 1
        tasks = store.rows(select(t.tasks).where(t.tasks.c.run_id == runs[("C000", "promise_broken:1")].id))
        assert [(k.role, k.title) for k in tasks] == [
            ("head_of_sales", "Нарушено обещание оплаты: ООО «Клиент 0», договор 0/2026-Б")]
    finally:
        store.close()
    runs = ticked(env, date(2026, 3, 16))
    assert sum(1 for _, col in runs if col.startswith("promise_broken")) == 1

    capsys.readouterr()
    assert cli(env, "promise", "list", "--contract", "C000") == 0
    assert "#1 broken on 2026-03-15, paid 0.00: contract C000, 1250.50 by 2026-03-12" in capsys.readouterr().out
    assert cli(env, "promise", "cancel", "1", "--by", "Орлова") == 2
    assert "promise #1 is broken, not open" in capsys.readouterr().err


def test_a_kept_promise_is_not_escalated(env):
    assert cli(env, "promise", "add", "--contract", "C001", "--invoice", "I001", "--amount", "500", "--date",
               "2026-03-12", "--by", "Кузнецов", "--as-of", "2026-03-10") == 0
    ledger = simple_ledger(2)
    from dataclasses import replace
    from decimal import Decimal

    from robots.core.domain import Payment

    write_ledger_csv(replace(ledger, payments=(Payment("PAY1", "C001", date(2026, 3, 13), Decimal("500.00"),
                                                       "I001"),)), env / "var" / "ledger")
    runs = ticked(env, date(2026, 3, 20))
    assert not any(col.startswith("promise_broken") for _, col in runs)
    store = store_of(env)
    try:
        assert db.promise_row(store, 1).status == "kept"
    finally:
        store.close()


def test_validation_errors_are_usage_errors_naming_the_flag(env, capsys):
    assert cli(env, "promise", "add", "--contract", "C404", "--amount", "-5", "--date", "2026-03-01", "--by",
               "x", "--as-of", "2026-03-10") == 2
    err = capsys.readouterr().err
    assert "--contract: no contract 'C404'" in err and "--amount: -5.00 is not a positive amount" in err
    assert "--date: 2026-03-01 is in the past" in err
    assert cli(env, "promise", "add", "--contract", "C000", "--invoice", "NOPE", "--amount", "5", "--date",
               "2026-03-12", "--by", "x", "--as-of", "2026-03-10") == 2
    assert "--invoice: no invoice 'NOPE'" in capsys.readouterr().err


def test_a_dispute_excludes_the_debt_until_closed_then_the_highest_column_runs(env, capsys):
    assert cli(env, "dispute", "open", "--contract", "C001", "--reason", "недопоставка", "--by", "Беляев",
               "--amount", "300", "--as-of", "2026-03-10") == 0
    runs = ticked(env, date(2026, 3, 11))
    assert set(runs) == {("C000", "overdue_1")}
    runs = ticked(env, date(2026, 3, 12))
    assert not any(c == "C001" for c, _ in runs)
    capsys.readouterr()
    assert cli(env, "dispute", "list", "--open") == 0
    assert "#1 open: contract C001, disputed 300.00; недопоставка (opened 2026-03-10 by Беляев)" \
        in capsys.readouterr().out
    assert cli(env, "dispute", "close", "1", "--by", "Беляев", "--resolution", "допоставили") == 0
    runs = ticked(env, date(2026, 3, 13))
    assert [col for c, col in runs if c == "C001"] == ["overdue_2"]  # catch-up: only the highest column
    assert cli(env, "dispute", "close", "1", "--by", "Беляев", "--resolution", "again") == 2


def test_a_promised_contact_records_a_promise(env, capsys):
    assert cli(env, "contact", "add", "--contract", "C000", "--outcome", "promised", "--by", "Кузнецов",
               "--channel", "phone", "--promised-date", "2026-03-13", "--promised-amount", "100",
               "--as-of", "2026-03-10") == 0
    assert "contact #1 recorded on contract C000: promised; promise #1: 100.00 by 2026-03-13" \
        in capsys.readouterr().out
    assert cli(env, "contact", "add", "--contract", "C000", "--outcome", "no_answer", "--by", "Кузнецов",
               "--promised-amount", "100", "--as-of", "2026-03-10") == 2
    assert "--outcome: a promised date or amount goes with the outcome 'promised'" in capsys.readouterr().err
    assert cli(env, "contact", "list", "--contract", "C000") == 0
    assert "#1 2026-03-10 contract C000: promised (phone) by Кузнецов, promise #1" in capsys.readouterr().out


def test_a_csv_import_with_bad_rows_imports_nothing_and_names_each_line(env, capsys):
    bad = env / "promises.csv"
    bad.write_text("\ufeffContract;Amount;Date;By;Ref\n"
                   "C000;1 000,50;20.03.2026;Кузнецов;CRM-1\n"
                   "C404;100;2026-03-20;Кузнецов;CRM-2\n"
                   "C001;-3;2026-03-01;Орлова;CRM-3\n"
                   "C001;10;;Орлова;CRM-4\n", encoding="utf-8")
    assert cli(env, "promise", "import", str(bad), "--as-of", "2026-03-10") == 2
    err = capsys.readouterr().err
    assert "nothing imported, 4 problem(s)" in err
    assert f"{bad}:3 column 'contract': no contract 'C404'" in err
    assert f"{bad}:4 column 'amount': -3.00 is not a positive amount" in err
    assert f"{bad}:4 column 'date': 2026-03-01 is in the past" in err
    assert f"{bad}:5 column 'date': is empty" in err
    store = store_of(env)
    try:
        assert db.promise_rows(store) == []
    finally:
        store.close()


def test_a_good_import_records_every_row_once_even_when_imported_again(env, capsys):
    good = env / "promises.csv"
    good.write_text("contract,invoice,amount,date,by,note\n"
                    'C000,,"1000,50",2026-03-20,Кузнецов,"перезвонить, если нет"\n'
                    "C001,I001,500.00,2026-03-21,Орлова,\n", encoding="utf-8")
    assert cli(env, "promise", "import", str(good), "--as-of", "2026-03-10") == 0
    assert "imported 2 promises" in capsys.readouterr().out
    assert cli(env, "promise", "import", str(good), "--as-of", "2026-03-11") == 0
    assert "imported 0 promises; 2 already imported, skipped" in capsys.readouterr().out
    contacts = env / "contacts.csv"
    contacts.write_text("ref;contract;outcome;by;date;promised_date;promised_amount\n"
                        "K1;C000;promised;Кузнецов;10.03.2026;15.03.2026;200,00\n"
                        "K2;C001;no_answer;Кузнецов;10.03.2026;;\n", encoding="utf-8")
    assert cli(env, "contact", "import", str(contacts)) == 0
    assert "imported 2 contacts (with 1 promises)" in capsys.readouterr().out
    assert cli(env, "contact", "import", str(contacts)) == 0
    disputes = env / "disputes.csv"
    disputes.write_text("invoice,reason,by,amount\nI-extra,не та цена,Беляев,\"50,5\"\n", encoding="utf-8")
    assert cli(env, "dispute", "import", str(disputes), "--as-of", "2026-03-10") == 0
    assert cli(env, "dispute", "import", str(disputes), "--as-of", "2026-03-10") == 0
    store = store_of(env)
    try:
        assert len(db.promise_rows(store)) == 3 and len(db.contact_rows(store)) == 2
        assert [(d.invoice_id, d.amount) for d in db.dispute_rows(store)] == [("I-extra", __import__("decimal")
                                                                               .Decimal("50.50"))]
        assert db.promise_rows(store)[0].note == "перезвонить, если нет"
    finally:
        store.close()


def test_an_unknown_column_is_refused_before_any_row(env, capsys):
    f = env / "p.csv"
    f.write_text("contract,amont,date,by\nC000,1,2026-03-20,x\n", encoding="utf-8")
    assert cli(env, "promise", "import", str(f)) == 2
    err = capsys.readouterr().err
    assert f"{f}:1 column 'amont': unknown column" in err and f"{f}:1 column 'amount': missing" in err


def test_an_import_reads_what_excel_in_a_russian_locale_saves_and_names_broken_quoting_by_line(env, capsys):
    excel = env / "promises-excel.csv"
    excel.write_bytes("contract;amount;date;by\nC000;1 000,50;20.03.2026;Кузнецов\n".encode("cp1251"))
    assert cli(env, "promise", "import", str(excel), "--as-of", "2026-03-10") == 0
    assert "imported 1 promises" in capsys.readouterr().out
    broken = env / "broken.csv"
    broken.write_text('contract,amount,date,by\nC000,"10,2026-03-20,Кузнецов\n', encoding="utf-8")
    assert cli(env, "promise", "import", str(broken), "--as-of", "2026-03-10") == 2
    assert f"{broken}:2: broken quoting" in capsys.readouterr().err
    empty = env / "empty.csv"
    empty.write_text("\n \n", encoding="utf-8")
    assert cli(env, "promise", "import", str(empty), "--as-of", "2026-03-10") == 2
    assert f"{empty}: the file is empty; the first line must name the columns" in capsys.readouterr().err
    store = store_of(env)
    try:
        assert [(p.contract_id, str(p.amount)) for p in db.promise_rows(store)] == [("C000", "1000.50")]
    finally:
        store.close()
