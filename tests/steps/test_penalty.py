"""The calculation annex (scenarios/templates/_penalty.j2) and the lawsuit templates, rendered to real PDFs and read
back with pdftotext."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from decimal import Decimal

from robots.config.penalty_config import PenaltiesConfig
from robots.core.penalties import open_timelines, penalty_for
from robots.documents.formatting import NBSP
from robots.documents.pdf import render_letter
from robots.documents.templates import TemplateRenderer
from robots.steps.lawsuit import reconciliation_entries
from robots.steps.penalty import invoice_output
from robots.steps.penalty_view import penalty_view
from tests.builders import inv, ledger, pay
from tests.core.test_penalties import KEY_RATES
from tests.documents.test_templates import SHIPPED_DIR, sample_context

D = Decimal


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "annex.pdf"
    path.write_bytes(pdf)
    # -layout keeps each table row on one line (cells right-aligned by the PDF come out in row order)
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], check=True,
                         capture_output=True).stdout
    return re.sub(r"\s+", " ", out.decode("utf-8").replace(NBSP, " "))


def penalty_output(book, through: date, config: PenaltiesConfig, rate: str | None) -> dict:
    """What compute_penalty records for these invoices (strings), as the step builds it."""
    timelines = open_timelines(book, through)
    rows, total, basis, capped = [], D("0.00"), "none", False
    for i in book.invoices:
        accrual = penalty_for(timelines[i.id], i.due_date, through, principal=i.amount,
                              contract_rate=None if rate is None else D(rate), config=config,
                              is_working=lambda d: d.weekday() < 5)
        rows.append(invoice_output(i, accrual, date.fromordinal(i.due_date.toordinal() + 1)))
        total, basis, capped = total + accrual.total, accrual.basis, capped or accrual.capped
    return {"kind": "penalty", "basis": basis, "through": through.isoformat(), "total": str(total),
            "capped": capped, "cap_share": None if config.cap_share is None else str(config.cap_share),
            "invoices": rows}


def render_calculation(output: dict, contract: dict) -> str:
    env = TemplateRenderer(SHIPPED_DIR).env
    return env.from_string('{% import "_penalty.j2" as p %}{{ p.calculation(penalty, contract) }}').render(
        penalty=penalty_view(output), contract=contract)


def test_the_annex_prints_each_period_and_the_total_in_figures_and_words(tmp_path):
    book = ledger([inv("A", "100000.00", number="СЧ-101")],
                  [pay("P1", "30000.00", date(2026, 3, 15), invoice="A"), pay("P2", "50000.00", date(2026, 3, 25),
                                                                          invoice="A")])
    output = penalty_output(book, date(2026, 3, 31), PenaltiesConfig(), "0.001")
    contract = sample_context()["contract"]
    text = pdf_text(render_letter(render_calculation(output, contract), title="Расчёт").data, tmp_path)
    # by hand: 5 × 100.00 = 500.00; 10 × 70.00 = 700.00; 6 × 20.00 = 120.00; 1 320.00 in all
    assert "Счёт № СЧ-101 на сумму 100 000,00 руб., срок оплаты 10.03.2026" in text
    assert "11.03.2026 – 15.03.2026 100 000,00 5 0,1 % в день 500,00" in text
    assert "16.03.2026 – 25.03.2026 70 000,00 10 0,1 % в день 700,00" in text
    assert "26.03.2026 – 31.03.2026 20 000,00 6 0,1 % в день 120,00" in text
    assert "Итого по счёту 21 1 320,00" in text
    assert "Итого неустойка: 1 320,00 руб. (одна тысяча триста двадцать рублей 00 копеек)" in text


def test_the_statutory_annex_shows_the_key_rate_and_the_days_of_the_year(tmp_path):
    book = ledger([inv("A", "500000.00", due=date(2027, 12, 20), number="СЧ-7")])
    output = penalty_output(book, date(2028, 1, 15), PenaltiesConfig(basis="statutory", key_rates=KEY_RATES), None)
    text = pdf_text(render_letter(render_calculation(output, sample_context()["contract"]), title="Расчёт").data,
                    tmp_path)
    assert "статье 395" in text
    assert "21.12.2027 – 31.12.2027 500 000,00 11 16,5 % годовых / 365 2 486,30" in text
    assert "01.01.2028 – 15.01.2028 500 000,00 15 16,5 % годовых / 366 3 381,15" in text
    assert "Итого проценты: 5 867,45 руб. (пять тысяч восемьсот шестьдесят семь рублей 45 копеек)" in text


def test_the_annex_marks_the_period_the_cap_cut(tmp_path):
    book = ledger([inv("A", "10000.00")], [pay("P1", "4000.00", date(2026, 3, 20), invoice="A")])
    output = penalty_output(book, date(2026, 4, 30), PenaltiesConfig(cap_share=D("0.10")), "0.005")
    text = pdf_text(render_letter(render_calculation(output, sample_context()["contract"]), title="Р").data,
                    tmp_path)
    # 500.00, then 21 March .. 30 April (41 days × 30.00 = 1 230.00) cut to 500.00
    assert "21.03.2026 – 30.04.2026 6 000,00 41 0,5 % в день 500,00*" in text
    assert "Размер ограничен 10 % суммы счёта" in text
    assert "Итого неустойка: 1 000,00 руб. (одна тысяча рублей 00 копеек)" in text


def test_the_reconciliation_statement_lists_every_entry_with_the_running_balance(tmp_path):
    book = ledger([inv("A", "60000.00", number="СЧ-1"), inv("B", "40000.00", number="СЧ-2"),
                   inv("CN", "-5000.00", number="КН-1", issued=date(2026, 3, 1))],
                  [pay("P1", "30000.00", date(2026, 3, 30), invoice="A")])
    entries = reconciliation_entries(book.invoices, book.payments)
    assert [(e["date"], e["balance"]) for e in entries] == [
        (date(2026, 2, 8), D("60000.00")), (date(2026, 2, 8), D("100000.00")),
        (date(2026, 3, 1), D("95000.00")), (date(2026, 3, 30), D("65000.00"))]
    context = {**sample_context(), "entries": entries, "debit": D("100000.00"), "credit": D("35000.00"),
               "closing": D("65000.00")}
    markup = TemplateRenderer(SHIPPED_DIR).render("reconciliation_statement.j2", context)
    text = pdf_text(render_letter(markup, title="Акт сверки").data, tmp_path)
    assert "АКТ СВЕРКИ ВЗАИМНЫХ РАСЧЁТОВ" in text
    assert "30.03.2026 Оплата (P1) по счёту № СЧ-1 30 000,00 65 000,00" in text
    assert "Обороты за период 100 000,00 35 000,00" in text
    assert "составляет 65 000,00 руб. (шестьдесят пять тысяч рублей 00 копеек)" in text


def test_the_lawsuit_claim_states_the_claim_amount_and_carries_the_calculation(tmp_path):
    book = ledger([inv("inv-0", "118000.00", number="СЧ-1040", due=date(2026, 2, 9))])
    output = penalty_output(book, date(2026, 2, 11), PenaltiesConfig(), "0.001")
    context = {**sample_context(n_invoices=1), "steps": {"penalty": penalty_view(output)}, "thresholds": {}}
    markup = TemplateRenderer(SHIPPED_DIR).render("lawsuit_claim.j2", context)
    text = pdf_text(render_letter(markup, title="Иск").data, tmp_path)
    # 10 and 11 February on 118 000.00 × 0.001 = 2 × 118.00 = 236.00; the claim: 59 000.50 + 236.00
    assert "ИСКОВОЕ ЗАЯВЛЕНИЕ" in text and "Цена иска: 59 236,50 руб." in text
    assert "неустойку в размере 236,00 руб." in text
    assert "10.02.2026 – 11.02.2026 118 000,00 2 0,1 % в день 236,00" in text
