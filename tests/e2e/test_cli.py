"""The CLI end to end, as an ops engineer and the robots use it: real processes, real files, real SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.builders import DUE, simple_ledger

pytestmark = pytest.mark.slow


#: The columns I-extra crossed: a crossing row each, plus the columns a catch-up row passed (``skipped``, 0011).
EXTRA_CROSSED = ("SELECT count(*) + coalesce(sum(json_array_length(skipped)), 0) FROM crossings "
                 "WHERE invoice_id = 'I-extra'")

def day(n: int) -> str:
    return (DUE + timedelta(days=n)).isoformat()


def test_tick_runs_due_scenarios_and_archives_one_letter_per_contract(workdir):
    workdir.write_ledger(simple_ledger(3))
    r = workdir.cli("tick", "--as-of", day(-3))
    assert r.returncode == 0, r.stderr
    assert "4 crossings" in r.stdout and "3 new runs" in r.stdout
    pdfs = workdir.archived_pdfs()
    assert len(pdfs) == 3  # contract C000 has two invoices and still gets one letter
    assert workdir.count("SELECT count(*) FROM tasks") == 3
    sidecars = [p.with_name(p.name + ".json") for p in pdfs]
    assert all(s.exists() for s in sidecars)
    assert any('"I-extra"' in s.read_text(encoding="utf-8") and '"I000"' in s.read_text(encoding="utf-8")
               for s in sidecars)


def test_a_second_tick_for_the_same_day_does_nothing(workdir):
    workdir.write_ledger(simple_ledger(3))
    assert workdir.cli("tick", "--as-of", day(2)).returncode == 0
    before = (workdir.count("SELECT count(*) FROM crossings"), workdir.count("SELECT count(*) FROM documents"),
              len(workdir.archived_pdfs()))
    r = workdir.cli("tick", "--as-of", day(2))
    assert r.returncode == 0, r.stderr
    assert "0 crossings" in r.stdout and "0 new runs" in r.stdout
    assert (workdir.count("SELECT count(*) FROM crossings"), workdir.count("SELECT count(*) FROM documents"),
            len(workdir.archived_pdfs())) == before


def test_ticking_day_by_day_sends_each_column_once_and_a_paid_debt_gets_nothing(workdir):
    workdir.write_ledger(simple_ledger(2, paid={"I001": "1001.00"}))
    for n in (-4, -3, -1, 0, 1, 2, 3, 9, 10, 11):
        r = workdir.cli("tick", "--as-of", day(n))
        assert r.returncode == 0, r.stderr
    rows = workdir.count("SELECT count(*) FROM runs WHERE contract_id = 'C001'")
    assert rows == 0
    # before_due_3, overdue_1, overdue_2, overdue_7wd (7 working days: day 9) and overdue_10
    assert workdir.count("SELECT count(DISTINCT column_id) FROM runs WHERE contract_id = 'C000'") == 5
    assert workdir.count("SELECT count(*) FROM runs WHERE contract_id = 'C000'") == 5
    assert workdir.count("SELECT count(*) FROM runs WHERE status != 'done'") == 0


def test_an_evaluation_before_the_last_one_is_refused_with_exit_code_2(workdir):
    workdir.write_ledger(simple_ledger(1))
    assert workdir.cli("tick", "--as-of", day(5)).returncode == 0
    r = workdir.cli("tick", "--as-of", day(4))
    assert r.returncode == 2
    assert "before the last evaluation" in r.stderr and day(5) in r.stderr


def test_a_bad_row_rejects_the_whole_sync_and_nothing_is_applied(workdir):
    workdir.write_ledger(simple_ledger(2))
    assert workdir.cli("tick", "--as-of", day(-3)).returncode == 0
    runs_before = workdir.count("SELECT count(*) FROM runs")
    # the next export has a new overdue invoice but also a broken amount: no letter may come from it
    text = (workdir.ledger_dir / "invoices.csv").read_text(encoding="utf-8-sig")
    text += "I-new,777,C001,2026-02-01,2026-03-01,12.3.4\n"
    (workdir.ledger_dir / "invoices.csv").write_text(text, encoding="utf-8")
    r = workdir.cli("tick", "--as-of", day(1))
    assert r.returncode == 2
    assert "invoices.csv:" in r.stderr and "amount" in r.stderr and "nothing was applied" in r.stderr
    assert workdir.count("SELECT count(*) FROM runs") == runs_before
    assert workdir.count("SELECT count(*) FROM ledger_invoices WHERE id = 'I-new'") == 0
    assert workdir.count("SELECT count(*) FROM evaluations") == 1


def test_the_excel_russian_dialect_drives_the_same_letters(workdir):
    workdir.write_ledger(simple_ledger(2), dialect="excel-ru")
    assert (workdir.ledger_dir / "invoices.csv").read_bytes().decode("cp1251").count(";") > 0
    r = workdir.cli("tick", "--as-of", day(1))
    assert r.returncode == 0, r.stderr
    assert len(workdir.archived_pdfs()) == 2


def test_plan_lists_the_coming_letters_and_changes_nothing(workdir):
    workdir.write_ledger(simple_ledger(2))
    r = workdir.cli("plan", "--as-of", day(-5), "--days", "20")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.startswith("2026-")]
    assert [(line.split()[0], line.split()[2]) for line in lines if "C000" in line] == [
        (day(-3), "before_due_3"), (day(1), "overdue_1"), (day(2), "overdue_2"), (day(9), "overdue_7wd"),
        (day(10), "overdue_10")]
    first = next(line for line in lines if "C000" in line).replace("\u00a0", " ")
    assert "1 250,50 руб." in first and "ООО «Клиент 0», contract 0/2026-Б" in first  # both invoices, one letter
    assert not workdir.db.exists() and not workdir.archive.exists()


def test_plan_continues_from_the_recorded_history(workdir):
    workdir.write_ledger(simple_ledger(1))
    assert workdir.cli("tick", "--as-of", day(1)).returncode == 0
    size = workdir.db.stat().st_size
    r = workdir.cli("plan", "--as-of", day(2), "--days", "3")
    assert r.returncode == 0, r.stderr
    assert "overdue_1" not in r.stdout and "overdue_2" in r.stdout
    assert workdir.count("SELECT count(*) FROM evaluations") == 1 and workdir.db.stat().st_size == size


def test_a_disputed_debt_gets_no_letter_until_the_dispute_is_closed(workdir):
    workdir.write_ledger(simple_ledger(1))
    assert workdir.cli("sync").returncode == 0
    opened = workdir.cli("dispute", "open", "--invoice", "I000", "--reason", "качество", "--by", "Беляев",
                         "--as-of", day(0))
    assert opened.returncode == 0, opened.stderr
    assert workdir.cli("tick", "--as-of", day(2)).returncode == 0
    assert workdir.count("SELECT count(*) FROM crossings WHERE invoice_id = 'I000'") == 0
    assert workdir.count(EXTRA_CROSSED) == 3
    released = workdir.cli("hold", "release", "I000")  # the dispute's hold is the dispute's, not a pause
    assert released.returncode == 2 and "invoice I000 has no open pause hold" in released.stderr
    assert workdir.cli("tick", "--as-of", day(3)).returncode == 0
    assert workdir.count("SELECT count(*) FROM crossings WHERE invoice_id = 'I000'") == 0
    assert workdir.cli("dispute", "close", "1", "--by", "Беляев", "--resolution", "заменили").returncode == 0
    assert workdir.cli("tick", "--as-of", day(4)).returncode == 0
    assert workdir.count("SELECT count(*) FROM crossings WHERE invoice_id = 'I000' AND status = 'run'") == 1
    assert workdir.cli("dispute", "close", "1", "--by", "Беляев", "--resolution", "again").returncode == 2


def test_a_paused_debt_gets_no_letter_until_the_pause_is_released(workdir):
    workdir.write_ledger(simple_ledger(1))
    refused = workdir.cli("hold", "add", "I000", "--kind", "dispute", "--reason", "качество")
    assert refused.returncode == 2 and "dispute open" in refused.stderr
    assert workdir.cli("hold", "add", "I000", "--reason", "отпуск").returncode == 0
    assert workdir.cli("tick", "--as-of", day(2)).returncode == 0
    assert workdir.count("SELECT count(*) FROM crossings WHERE invoice_id = 'I000'") == 0
    assert workdir.count(EXTRA_CROSSED) == 3
    assert workdir.cli("hold", "release", "I000").returncode == 0
    assert workdir.cli("tick", "--as-of", day(3)).returncode == 0
    assert workdir.count("SELECT count(*) FROM crossings WHERE invoice_id = 'I000' AND status = 'run'") == 1
    assert workdir.cli("hold", "release", "I000").returncode == 2


def test_usage_errors_exit_with_code_2(workdir):
    bad_day = workdir.cli("tick", "--as-of", "31/03/2026")
    assert bad_day.returncode == 2 and "write it as 2026-03-31 or 31.03.2026" in bad_day.stderr
    assert workdir.cli("frobnicate").returncode == 2
    workdir.config.write_text(workdir.config.read_text(encoding="utf-8").replace("catch_up: latest",
                                                                                 "catch_up: sometimes"))
    r = workdir.cli("tick", "--as-of", day(0))
    assert r.returncode == 2 and "schedules.yaml:" in r.stderr and "aging.catch_up" in r.stderr


def test_status_reports_what_the_robots_did(workdir):
    workdir.write_ledger(simple_ledger(2))
    assert workdir.cli("tick", "--as-of", day(2)).returncode == 0
    r = workdir.cli("status")
    assert r.returncode == 0
    assert f"Last evaluation: {day(2)}" in r.stdout and "Documents archived: 2" in r.stdout


def test_certs_lists_each_officer_with_subject_serial_validity_and_status(workdir):
    done = workdir.cli("certs")
    assert done.returncode == 0, done.stderr
    for oid, name in (("chief_accountant", "Смирнова Елена Викторовна"), ("head_of_sales", "Орлова Марина Сергеевна"),
                      ("head_of_legal", "Беляев Игорь Николаевич")):
        assert f"{oid}: {name}" in done.stdout
    assert done.stdout.count("status:   OK") == 3
    assert "head_of_legal" in done.stdout and "[B-LTA; deputy chief_accountant]" in done.stdout
    assert "issuer:   Common Name: Арботс Демо Выпускающий УЦ" in done.stdout and "days left" in done.stdout


def test_certs_exits_1_when_an_officer_cannot_sign(workdir):
    (workdir.root / "var" / "pki" / "officers" / "head_of_legal.p12").unlink()
    done = workdir.cli("certs")
    assert done.returncode == 1
    assert "status:   UNAVAILABLE: officer head_of_legal: PKCS#12 file" in done.stdout
