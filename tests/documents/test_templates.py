"""Jinja2 rendering: strictness, the sandbox, escaping for the letter markup, and the shipped letters."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from robots.documents.formatting import NBSP
from robots.documents.templates import TemplateRenderer, TemplateRenderError

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "templates"
LETTERS = ["reminder_before_due.j2", "payment_request.j2", "pretrial_demand.j2", "lawsuit_notice.j2"]


def sample_context(*, penalty: Decimal | None = Decimal("0.001"), n_invoices: int = 3,
                   counterparty_name: str = 'ООО "Ромашка"') -> dict[str, Any]:
    """A realistic letter context: exactly the variables every template gets, nothing more."""
    invoices = [
        {
            "id": f"inv-{i}",
            "number": f"СЧ-{1040 + i}",
            "date": date(2026, 1, 10 + i % 15),
            "due_date": date(2026, 2, 9 + i % 15),
            "amount": Decimal("118000.00") + i,
            "open_amount": Decimal("59000.50") + i,
            "days_past_due": 2,
        }
        for i in range(n_invoices)
    ]
    return {
        "company": {
            "name": 'ООО "Альфа Трейд"',
            "inn": "7701234567",
            "address": "125009, г. Москва, ул. Тверская, д. 7, офис 12",
            "phone": "+7 (495) 123-45-67",
            "email": "debts@alfa-trade.ru",
            "signatory_name": "И. И. Петров",
            "signatory_position": "Генеральный директор",
        },
        "counterparty": {"id": "cp-17", "name": counterparty_name, "inn": "5009876543",
                         "email": "buh@romashka.ru"},
        "contract": {"id": "ctr-17", "number": "ДП-17/2025", "currency": "RUB", "payment_days": 30,
                     "penalty_rate_per_day": penalty},
        "invoices": invoices,
        "total_open": sum((inv["open_amount"] for inv in invoices), Decimal("0")),
        "as_of": date(2026, 2, 11),
        "column": {"id": "overdue-2", "title": "2 дня просрочки", "offset": 2},
        "document": {"number": "ARB-2026-000123", "date": date(2026, 2, 11)},
    }


def flat(text: str) -> str:
    """Collapse whitespace (no-break spaces and line breaks included) for content assertions."""
    return re.sub(r"\s+", " ", text.replace(NBSP, " "))


@pytest.fixture
def tmp_renderer(tmp_path: Path):
    def make(**templates: str) -> TemplateRenderer:
        for name, source in templates.items():
            (tmp_path / f"{name}.j2").write_text(source, encoding="utf-8")
        return TemplateRenderer(tmp_path)

    return make


def test_undefined_variable_names_template_and_line(tmp_renderer) -> None:
    r = tmp_renderer(letter="Уважаемые партнёры!\n\nДолг: {{ debt }}\n")
    with pytest.raises(TemplateRenderError, match=r"^letter\.j2:3: 'debt' is undefined$") as exc:
        r.render("letter.j2", {})
    assert (exc.value.template, exc.value.lineno) == ("letter.j2", 3)


def test_undefined_attribute_names_the_context_variable(tmp_renderer) -> None:
    r = tmp_renderer(letter="{% for inv in invoices %}\n{{ inv.number }}\n{% endfor %}\nДоговор {{ contract.numbr }}\n")
    with pytest.raises(TemplateRenderError, match=r"^letter\.j2:4: 'contract' has no attribute 'numbr'$"):
        r.render("letter.j2", sample_context())


def test_undefined_in_a_loop_names_the_item(tmp_renderer) -> None:
    r = tmp_renderer(letter="{% for inv in invoices %}\n{{ inv.amout }}\n{% endfor %}\n")
    with pytest.raises(TemplateRenderError, match=r"letter\.j2:2: 'invoices\[0\]' has no attribute 'amout'"):
        r.render("letter.j2", sample_context())


def test_undefined_is_never_a_silent_blank_even_in_a_condition(tmp_renderer) -> None:
    r = tmp_renderer(letter="{% if contract.penalty %}пени{% endif %}\n")
    with pytest.raises(TemplateRenderError, match="'contract' has no attribute 'penalty'"):
        r.render("letter.j2", sample_context())


@pytest.mark.parametrize(
    "expression",
    ["''.__class__.__mro__", "invoices.__class__", "company.items.__self__.__class__", "lipsum.__globals__"],
)
def test_sandbox_blocks_python_internals(tmp_renderer, expression: str) -> None:
    r = tmp_renderer(letter=f"x\n{{{{ {expression} }}}}\n")
    with pytest.raises(TemplateRenderError, match=r"^letter\.j2:2: .*unsafe|^letter\.j2:2: .*undefined"):
        r.render("letter.j2", sample_context())


def test_sandbox_is_immutable(tmp_renderer) -> None:
    r = tmp_renderer(letter="{{ invoices.append(1) }}\n")
    with pytest.raises(TemplateRenderError, match="unsafe"):
        r.render("letter.j2", sample_context())


def test_syntax_error_names_template_and_line(tmp_renderer) -> None:
    r = tmp_renderer(letter="a\nb\n{% if %}\n")
    with pytest.raises(TemplateRenderError, match=r"^letter\.j2:3: syntax error"):
        r.render("letter.j2", {})


def test_missing_template_and_exists(tmp_renderer) -> None:
    r = tmp_renderer(letter="x\n", outer='a\n{% include "nope.j2" %}\n')
    assert r.exists("letter.j2")
    assert not r.exists("nope.j2")
    assert not r.exists("../letter.j2")  # no escape from the templates directory
    with pytest.raises(TemplateRenderError, match=r"^nope\.j2: template not found"):
        r.render("nope.j2", {})
    with pytest.raises(TemplateRenderError, match=r"^outer\.j2:2: template 'nope\.j2' not found"):
        r.render("outer.j2", {})


def test_filter_errors_name_template_and_line(tmp_renderer) -> None:
    r = tmp_renderer(letter="x\n{{ 1.5|money }}\n")
    with pytest.raises(TemplateRenderError, match=r"^letter\.j2:2: TypeError: .*float"):
        r.render("letter.j2", sample_context())


def test_values_are_escaped_for_paragraph_markup(tmp_renderer) -> None:
    r = tmp_renderer(letter="<b>Кому:</b> {{ counterparty.name }}\n")
    out = r.render("letter.j2", sample_context(counterparty_name='ООО "<b>Рога</b> & Копыта"'))
    assert out == "<b>Кому:</b> ООО &#34;&lt;b&gt;Рога&lt;/b&gt; &amp; Копыта&#34;\n"


def test_values_cannot_change_the_letter_structure(tmp_renderer) -> None:
    r = tmp_renderer(letter="| {{ counterparty.name }} | 1 |\n")
    out = r.render("letter.j2", sample_context(counterparty_name="А | Б\n# В\n~~~"))
    assert out == "| А &#124; Б &#35; В ~~~ | 1 |\n"


def test_filters(tmp_renderer) -> None:
    r = tmp_renderer(letter=(
        "{{ total_open|money }}; {{ total_open|money('USD') }}; {{ total_open|number }}; {{ as_of|date }};\n"
        "{{ total_open|words }}; {{ total_open|Words }}; {{ contract.penalty_rate_per_day|percent }};\n"
        "{{ contract.currency|currency }}; {{ 3|plural('день', 'дня', 'дней') }}\n"
    ))
    out = flat(r.render("letter.j2", sample_context(n_invoices=1)))
    assert out == ("59 000,50 руб.; 59 000,50 USD; 59 000,50; 11.02.2026; "
                   "пятьдесят девять тысяч рублей 50 копеек; Пятьдесят девять тысяч рублей 50 копеек; 0,1 %; "
                   "руб.; дня ")


@pytest.mark.parametrize("name", LETTERS)
@pytest.mark.parametrize("penalty", [Decimal("0.001"), None])
def test_every_shipped_letter_renders(name: str, penalty: Decimal | None) -> None:
    ctx = sample_context(penalty=penalty)
    out = TemplateRenderer(SHIPPED_DIR).render(name, ctx)
    text = flat(out)
    assert "ООО &#34;Ромашка&#34;" in text
    assert "ДП-17/2025" in text and "ARB-2026-000123" in text
    for inv in ctx["invoices"]:
        assert inv["number"] in text
    assert "177 004,50 руб." in text  # the total in figures
    assert "сто семьдесят семь тысяч четыре рубля 50 копеек" in text  # and in words
    assert "И. И. Петров" in text
    # The whole invoice table: a header and one row per invoice plus the total.
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert len(rows) == 1 + len(ctx["invoices"]) + 1


def test_pretrial_demand_cites_deadline_and_penalty() -> None:
    r = TemplateRenderer(SHIPPED_DIR)
    with_penalty = flat(r.render("pretrial_demand.j2", sample_context(penalty=Decimal("0.001"))))
    assert "10 (десяти) календарных дней" in with_penalty
    assert "0,1 % от неоплаченной суммы за каждый день просрочки" in with_penalty
    without = flat(r.render("pretrial_demand.j2", sample_context(penalty=None)))
    assert "статьёй 395" in without and "неустойка" not in without


def test_reminder_shows_a_dash_for_invoices_not_yet_due() -> None:
    ctx = sample_context(n_invoices=1)
    ctx["invoices"][0]["days_past_due"] = -3
    out = TemplateRenderer(SHIPPED_DIR).render("reminder_before_due.j2", ctx)
    assert "| 59 000,50 | —" in out.replace(NBSP, " ")


@pytest.mark.parametrize("name", LETTERS)
def test_shipped_letters_use_only_the_documented_context(name: str) -> None:
    """Strict undefined makes any variable outside the context fail; each top-level key is needed."""
    r = TemplateRenderer(SHIPPED_DIR)
    assert r.exists(name)
    for key in ("company", "counterparty", "contract", "invoices", "total_open", "document"):
        ctx = sample_context()
        del ctx[key]
        with pytest.raises(TemplateRenderError, match=f"'{key}' is undefined"):
            r.render(name, ctx)
