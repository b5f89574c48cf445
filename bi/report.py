"""The readable receivables report for people (Russian): PDF by default, or one self-contained HTML file.

The content is built once (:func:`build_report`: headings, paragraphs, tables, charts) from the pure figures of
:mod:`robots.core.kpi.kpis`, then laid out as PDF (reportlab, embedded DejaVu fonts) or HTML (charts inline as base64
PNG).
Nothing reads the clock: the same inputs and config give byte-identical files.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from bi import charts
from bi.report_html import render_html
from bi.report_model import Block, Heading, Picture, Report, Section, Table
from bi.report_pdf import render_pdf
from robots.config import Config
from robots.core.domain import DayCount
from robots.core.errors import UsageError
from robots.core.kpi.effectiveness import StepEffect, step_effectiveness
from robots.core.kpi.facts import KpiInputs, Position, position
from robots.core.kpi.figures import aging_bands, aging_histogram, cash_plan, overdue_before, top_debtors
from robots.core.kpi.kpis import COUNT, DAYS, RUB, SHARE_UNIT, TIMES, compute_kpis
from robots.documents.formatting import NBSP, format_date, format_number
from robots.support.durable import write_atomic

Format = Literal["pdf", "html"]
CASH_WEEKS_BACK, CASH_WEEKS_AHEAD = 8, 8


# --- the content -------------------------------------------------------------------------------------------

def _money(v: Decimal | None) -> str:
    return "—" if v is None else format_number(v)


def _percent(v: Decimal | None) -> str:
    if v is None:
        return "—"
    return f"{(v * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}".replace(".", ",") + f"{NBSP}%"


def _signed(n: int) -> str:
    return f"−{-n}" if n < 0 else str(n)


_UNITS = {RUB: "руб.", SHARE_UNIT: "%", TIMES: "раз", DAYS: "дн.", COUNT: "шт."}


def _kpi_value(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == RUB:
        return format_number(value)
    if unit == SHARE_UNIT:
        return _percent(value)[: -len(f"{NBSP}%")]
    if unit == TIMES:
        return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}".replace(".", ",")
    if unit == DAYS:
        return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}".replace(".", ",").replace("-", "−")
    return str(int(value))


def build_report(inputs: KpiInputs, config: Config) -> Report:
    """Everything the report says, in order; no layout yet."""
    pos = position(inputs)
    kpis = {k.code: k for k in compute_kpis(inputs)}
    company = config.settings.company
    day = format_date(inputs.as_of)
    total, overdue = kpis["total_receivables"].value, kpis["overdue_receivables"].value
    contract_cp = {c.id: c.counterparty_id for c in inputs.ledger.contracts}
    open_ids = [i for i, a in pos.open.items() if a > 0]
    debtors = {contract_cp.get(pos.invoices[i].contract_id) for i in open_ids}
    problem = sum((a for i, a in pos.open.items() if pos.dpd[i] > inputs.problem_debt_days), Decimal(0))
    lead = (
        company.name + (f", ИНН {company.inn}" if company.inn else ""),
        f"Отчёт на {day}",
        f"Дебиторская задолженность: <b>{_money(total)}{NBSP}руб.</b>, из неё просрочено "
        f"<b>{_money(overdue)}{NBSP}руб.</b> ({_percent(kpis['kpr'].value)}).",
        f"Открытых счетов: {len(open_ids)}; должников: {len(debtors)}; проблемная задолженность "
        f"(просрочка более {inputs.problem_debt_days} дн.): {_money(problem)}{NBSP}руб.",
    )
    sections = (
        _aging_section(inputs, config, pos),
        _debtors_section(inputs, pos),
        _cash_section(inputs, pos),
        _kpi_section(tuple(kpis.values())),
        _steps_section(inputs, config),
    )
    return Report(title="Дебиторская задолженность", lead=lead, sections=sections,
                  footer=f"{company.name}: отчёт о дебиторской задолженности на {day}")


def _aging_section(inputs: KpiInputs, config: Config, pos: Position) -> Section:
    blocks: list[Block] = [
        "Открытые суммы по дням просрочки. Пунктирные линии: колонки старения из schedules.yaml; долг попадает "
        "в колонку, когда его просрочка достигает её порога. Каждая группа должников считает дни по-своему.",
    ]
    cp_group = {c.id: c.group for c in inputs.ledger.counterparties}
    group_of = {c.id: cp_group.get(c.counterparty_id, "default") for c in inputs.ledger.contracts}
    dpds_of: dict[str, list[int]] = {}
    for inv_id, amount in pos.open.items():
        if amount > 0:
            dpds_of.setdefault(group_of.get(pos.invoices[inv_id].contract_id, "default"), []).append(pos.dpd[inv_id])
    for name, schedule in config.policy().groups.items():
        dpds = dpds_of.get(name)
        if not dpds:
            continue
        working = schedule.days is DayCount.WORKING
        width = charts.bin_width(min(dpds), max(dpds))
        bars = aging_histogram(inputs, width=width, group=name, pos=pos)
        kind = "рабочие" if working else "календарные"
        blocks.append(Heading(f"Группа должников «{name}» (дни просрочки {kind}; ширина столбца: {width} дн.)"))
        blocks.append(Picture(charts.aging_chart(bars, schedule.columns, working),
                              f"Старение задолженности, группа {name}"))
        bands = aging_bands(inputs, tuple(c.offset for c in schedule.columns), group=name, pos=pos)
        band_total = sum((b.amount for b in bands), Decimal(0))
        rows = []
        for i, band in enumerate(bands):
            label = "Ещё не в колонках" if i == 0 else (schedule.columns[i - 1].title or schedule.columns[i - 1].id)
            if band.low is None:
                span = f"меньше {_signed(band.high)}"
            elif band.high is None:
                span = f"{_signed(band.low)} и больше"
            else:
                span = (f"от {_signed(band.low)} до {_signed(band.high - 1)}" if band.high - band.low > 1
                        else _signed(band.low))
            rows.append((label, span, str(band.invoices), _money(band.amount),
                         _percent(band.amount / band_total if band_total else None)))
        blocks.append(Table(("Колонка", "Дней просрочки", "Счетов", "Сумма, руб.", "Доля"), tuple(rows),
                            (False, False, True, True, True), (3.2, 1.6, 0.8, 1.6, 0.9)))
    if not dpds_of:
        blocks.append("Открытой задолженности нет.")
    return Section("1. Старение задолженности", tuple(blocks))


def _debtors_section(inputs: KpiInputs, pos: Position) -> Section:
    rows = tuple(
        (str(n), d.name, d.inn, _money(d.open), _money(d.overdue),
         str(d.max_days_past_due) if d.max_days_past_due > 0 else "—")
        for n, d in enumerate(top_debtors(inputs, pos=pos), 1))
    blocks: tuple[Block, ...] = (
        f"{inputs.top_debtors} контрагентов с наибольшей открытой задолженностью на {format_date(inputs.as_of)}.",
        Table(("№", "Контрагент", "ИНН", "Задолженность, руб.", "Просрочено, руб.", "Макс. просрочка, дн."), rows,
              (True, False, False, True, True, True), (0.4, 3.2, 1.3, 1.6, 1.6, 1.1)),
    ) if rows else ("Открытой задолженности нет.",)
    return Section("2. Крупнейшие должники", blocks)


def _cash_section(inputs: KpiInputs, pos: Position) -> Section:
    weeks = cash_plan(inputs, CASH_WEEKS_BACK, CASH_WEEKS_AHEAD, pos=pos)
    earlier = overdue_before(inputs, weeks[0].start, pos=pos)
    rows = tuple(
        (f"{format_date(w.start)} – {format_date(w.start + timedelta(days=6))}", _money(w.due), _money(w.open),
         _money(w.promised), _money(w.received) if w.received is not None else "ещё не наступила")
        for w in weeks)
    return Section("3. План поступлений по неделям", (
        "Ожидаемые поступления: открытые счета по сроку оплаты (серые столбцы: к оплате по договорам, оранжевые: "
        "из них не оплачено на дату отчёта, для прошедших недель это просрочка). Зелёные: фактически поступило "
        "за неделю. Синие точки: открытые обещания оплаты (команда promise, журнал контактов) на обещанную дату; "
        "сдержанные, нарушенные и отменённые обещания в план не входят.",
        Picture(charts.cash_chart(weeks, inputs.as_of), "План поступлений по неделям"),
        Table(("Неделя", "К оплате по сроку, руб.", "Из них не оплачено, руб.", "Обещано, руб.", "Поступило, руб."),
              rows, (False, True, True, True, True), (2.0, 1.4, 1.4, 1.3, 1.3)),
        f"Кроме того, просрочено по счетам со сроком оплаты до {format_date(weeks[0].start)}: "
        f"{_money(earlier)}{NBSP}руб.",
    ))


def _kpi_section(kpis) -> Section:
    rows = tuple((k.title, _kpi_value(k.value, k.unit), _UNITS.get(k.unit, k.unit), k.note) for k in kpis)
    return Section("4. Показатели", (
        "Определения и источники: docs/kpi.md.",
        Table(("Показатель", "Значение", "Ед.", "Примечание"), rows, (False, True, False, False),
              (3.0, 1.2, 0.5, 3.0)),
    ))


STEP_WINDOWS = (7, 14, 30)


def _steps_section(inputs: KpiInputs, config: Config) -> Section:
    effects = step_effectiveness(inputs, STEP_WINDOWS)
    place: dict[tuple[str, str], tuple[int, str]] = {}
    for schedule in config.policy().groups.values():
        for col in schedule.columns:
            place.setdefault((col.scenario, col.id), (col.offset, col.title or col.id))
    runs = Counter((r.scenario, r.column_id) for r in inputs.runs)
    debt: dict[tuple[str, str], Decimal] = {}
    for r in inputs.runs:
        key = (r.scenario, r.column_id)
        debt[key] = debt.get(key, Decimal(0)) + sum((a for _, a in r.invoices), Decimal(0))
    by_step: dict[tuple[str, str], dict[int, StepEffect]] = {}
    for e in effects:
        by_step.setdefault((e.scenario, e.column_id), {})[e.window_days] = e

    def order(key: tuple[str, str]) -> tuple[int, str, str]:
        return (place.get(key, (10**6, ""))[0], *key)

    rows = []
    for key in sorted(by_step, key=order):
        scenario = config.scenarios.get(key[0])
        cells = []
        for n in STEP_WINDOWS:
            e = by_step[key][n]
            cells.append(f"{_percent(e.share)}\n{e.runs} из {runs[key]}")
        rows.append((scenario.title if scenario and scenario.title else key[0], place.get(key, (0, key[1]))[1],
                     str(runs[key]), _money(debt[key]), *cells))
    blocks: list[Block] = [
        "Какая доля долга, о котором был шаг (письмо, задача сотруднику), оплачена в течение 7, 14 и 30 дней "
        "после запуска; под долей: сколько запусков учтено. Запуски, окно которых к дате отчёта ещё не истекло, "
        "не учитываются.",
    ]
    if rows:
        blocks.append(Table(("Сценарий", "Колонка", "Запуски", "Долг при запусках, руб.",
                             *(f"Оплачено за {n} дн." for n in STEP_WINDOWS)), tuple(rows),
                            (False, False, True, True, True, True, True), (2.2, 1.7, 1.0, 1.5, 1.2, 1.2, 1.2)))
    else:
        blocks.append("Завершённых запусков сценариев пока нет.")
    return Section("5. Эффективность шагов", tuple(blocks))


# --- writing ----------------------------------------------------------------------------------------------

def write_report(inputs: KpiInputs, config: Config, out: Path, fmt: Format | None = None) -> Path:
    """Write the report to ``out``; PDF unless ``fmt`` is "html" or ``out`` ends in .html. Returns ``out``."""
    out = Path(out)
    fmt = fmt or ("html" if out.suffix.lower() in (".html", ".htm") else "pdf")
    if fmt not in ("pdf", "html"):
        raise UsageError(f"report format must be pdf or html, not {fmt!r}")
    report = build_report(inputs, config)
    if fmt == "pdf":
        data = render_pdf(report)
    else:
        data = render_html(report).encode("utf-8")
    write_atomic(out, data)  # a reader never sees half a report
    return out
