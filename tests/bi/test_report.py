"""The readable report from a real store: Russian text in the PDF, charts as images, same inputs -> same bytes."""

from __future__ import annotations

import base64
import re
import subprocess
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bi.inputs import load_inputs
from bi.report import write_report
from robots.core.domain import Ledger
from robots.core.errors import UsageError
from robots.core.kpi.facts import KpiInputs
from robots.core.kpi.figures import top_debtors
from robots.core.kpi.kpis import compute_kpis
from robots.store import schema as t

HEADINGS = ("Дебиторская задолженность", "1. Старение задолженности", "2. Крупнейшие должники",
            "3. План поступлений по неделям", "4. Показатели", "5. Эффективность шагов")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def world_inputs(bi_world):
    config, store, as_of = bi_world
    return config, load_inputs(config, store, as_of)


def pdf_text(path) -> str:
    text = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", " ", text)


def test_inputs_agree_with_the_robots_last_evaluation(bi_world, world_inputs):
    config, store, as_of = bi_world
    _, inputs = world_inputs
    assert inputs.as_of == as_of == store.last_as_of()
    k = {x.code: x for x in compute_kpis(inputs)}
    last = store.rows(select(t.evaluations).order_by(t.evaluations.c.id.desc()).limit(1))[0]
    # the robots leave out balances within the tolerance (kopecks); nothing else may differ
    slack = config.settings.aging.tolerance * len(inputs.ledger.invoices)
    assert abs(k["total_receivables"].value - last.total_open) <= slack
    assert abs(k["overdue_receivables"].value - last.total_overdue) <= slack
    assert k["kdz"].value is not None  # schedules.yaml gives the working capital


def test_inputs_carry_the_stores_tasks_and_finished_runs(bi_world, world_inputs):
    _, store, _ = bi_world
    _, inputs = world_inputs
    assert len(inputs.tasks) == store.scalar(select(func.count()).select_from(t.tasks)) > 0
    done = store.scalar(select(func.count()).select_from(t.runs).where(t.runs.c.status == "done"))
    assert len(inputs.runs) == done > 0
    assert all(isinstance(a, Decimal) for r in inputs.runs for _, a in r.invoices)


def test_days_past_due_of_key_accounts_are_working_days(world_inputs):
    config, inputs = world_inputs
    groups = {cp.id: cp.group for cp in inputs.ledger.counterparties}
    contract_group = {c.id: groups[c.counterparty_id] for c in inputs.ledger.contracts}
    assert config.settings.groups["key_accounts"].days == "working"
    gaps = []
    for inv in inputs.ledger.invoices:
        if inv.id in inputs.days_past_due and inv.due_date < inputs.as_of:
            calendar_days = (inputs.as_of - inv.due_date).days
            if contract_group[inv.contract_id] == "key_accounts":
                gaps.append(calendar_days - inputs.days_past_due[inv.id])
            else:
                assert inputs.days_past_due[inv.id] == calendar_days
    assert gaps and min(gaps) >= 0 and max(gaps) > 0  # weekends do not count


def test_the_pdf_report_speaks_russian_and_shows_its_charts(world_inputs, tmp_path):
    config, inputs = world_inputs
    out = write_report(inputs, config, tmp_path / "отчёт.pdf")
    assert out.read_bytes().startswith(b"%PDF")
    text = pdf_text(out)
    for heading in HEADINGS:
        assert heading in text
    for k in compute_kpis(inputs):
        assert k.title in text, k.title
    assert top_debtors(inputs)[0].name in text and config.settings.company.name in text
    assert f"Отчёт на {inputs.as_of:%d.%m.%Y}" in text
    listing = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True).stdout
    images = [line for line in listing.splitlines()[2:] if line.split()[2] == "image"]
    groups_with_debt = 2  # default and key_accounts both owe on the world's last day
    assert len(images) == groups_with_debt + 1  # one aging chart per group, the cash plan
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
    assert "DejaVuSans" in fonts and "Helvetica" not in fonts


def test_the_html_report_is_one_file_with_its_charts_inline(world_inputs, tmp_path):
    config, inputs = world_inputs
    out = write_report(inputs, config, tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="ru">' in page
    for heading in HEADINGS:
        assert heading in page
    pictures = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(pictures) == 3 and all(base64.b64decode(p).startswith(PNG) for p in pictures)
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert top_debtors(inputs)[0].name in page


def test_same_inputs_give_byte_identical_reports(world_inputs, tmp_path):
    config, inputs = world_inputs
    for suffix in (".pdf", ".html"):
        first = write_report(inputs, config, tmp_path / f"a{suffix}").read_bytes()
        second = write_report(inputs, config, tmp_path / f"b{suffix}").read_bytes()
        assert first == second
    png = base64.b64decode(re.findall(r"base64,([A-Za-z0-9+/=]+)", (tmp_path / "a.html").read_text())[0])
    assert b"matplotlib" not in png.lower()  # no software stamp in the pictures either


def test_the_format_follows_the_file_name_unless_given(world_inputs, tmp_path):
    config, inputs = world_inputs
    assert write_report(inputs, config, tmp_path / "r.HTML").read_bytes().startswith(b"<!DOCTYPE html>")
    assert write_report(inputs, config, tmp_path / "r.html", "pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(UsageError):
        write_report(inputs, config, tmp_path / "r.docx", "docx")  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.HTML", "r.html"]  # no temporary files left


def test_a_report_of_an_empty_ledger_says_so(world_inputs, tmp_path):
    config, _ = world_inputs
    empty = KpiInputs(ledger=Ledger(), as_of=date(2026, 3, 7), period_days=365, problem_debt_days=90,
                      working_capital=None, days_past_due={})
    text = pdf_text(write_report(empty, config, tmp_path / "empty.pdf"))
    assert "Открытой задолженности нет" in text and "Завершённых запусков сценариев пока нет" in text
