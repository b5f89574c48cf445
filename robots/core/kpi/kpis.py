"""Receivables KPIs (pure): the receivables, their overdue share, turnover, DSO and CEI, on one day.

Everything here is computed from a :class:`~robots.core.kpi.facts.KpiInputs` snapshot. No I/O, no clock; money is
:class:`~decimal.Decimal` from end to end. The definitions are the reference in ``docs/kpi.md``; the short version:

* receivables = open amount of the invoices issued on or before ``as_of`` (:func:`robots.core.balances.open_balances`);
* overdue = the part of it whose days past due (the debtor group's day count) are above zero;
* revenue = non-credit-note invoices issued in the period ``(as_of - period_days, as_of]``.

Rounding follows :mod:`robots.core.kpi.facts`.
"""

from __future__ import annotations

import bisect
import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from robots.core.balances import total_open_on
from robots.core.domain import ZERO, Ledger
from robots.core.kpi.facts import KpiInputs, days, money, position, ratio

RUB, SHARE_UNIT, TIMES, DAYS, COUNT = "RUB", "share", "times", "days", "count"


@dataclass(frozen=True)
class Kpi:
    code: str
    title: str
    value: Decimal | None
    unit: str
    note: str = ""


# --- revenue and the countback ----------------------------------------------------------------------------

def revenue(ledger: Ledger, start: date, end: date) -> Decimal:
    """Invoiced in ``(start, end]``: invoices and installments, credit notes excluded."""
    return sum((i.amount for i in ledger.invoices if start < i.date <= end and not i.is_credit_note), ZERO)


def month_end(d: date) -> date:
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def _is_month_end(d: date) -> bool:
    return d == month_end(d)


def months_back(as_of: date, k: int) -> date:
    """The day ``k`` calendar months before ``as_of``; a month-end stays a month-end (31.03 -> 28.02 -> 31.01)."""
    y, m = divmod(as_of.year * 12 + as_of.month - 1 - k, 12)
    last = calendar.monthrange(y, m + 1)[1]
    return date(y, m + 1, last if _is_month_end(as_of) else min(as_of.day, last))


def month_slices(as_of: date, period_days: int) -> tuple[tuple[date, date], ...]:
    """The period cut into calendar months counted back from ``as_of``: ``(start, end]`` pairs, newest first;
    the oldest is cut at the period's start."""
    period_start = as_of - timedelta(days=period_days)
    slices, k = [], 0
    while True:
        end = months_back(as_of, k)
        if end <= period_start:
            break
        slices.append((max(months_back(as_of, k + 1), period_start), end))
        k += 1
    return tuple(slices)


def _slice_revenue(ledger: Ledger, slices: tuple[tuple[date, date], ...]) -> list[Decimal]:
    starts = sorted(s for s, _ in slices)  # ascending; slice i (newest first) is starts[-1 - i]
    sums = [ZERO] * len(slices)
    first, last = slices[-1][0], slices[0][1]
    for inv in ledger.invoices:
        if first < inv.date <= last and not inv.is_credit_note:
            pos = bisect.bisect_left(starts, inv.date) - 1  # the slice whose start is before the date
            sums[len(slices) - 1 - pos] += inv.amount
    return sums


def countback(receivables: Decimal, slices: tuple[tuple[date, date], ...], revenues: list[Decimal]
              ) -> tuple[Decimal, bool]:
    """Days of the latest sales that the receivables amount to (the countback method).

    Walks the months back from the newest: while the receivables exceed a month's revenue, that month's days
    count in full and its revenue is taken off; the month that covers the rest counts in proportion. Returns
    (days, exhausted); exhausted means the receivables exceed all revenue of the period, so the result is a
    lower bound (the period's length).
    """
    remaining, total = receivables, ZERO
    for (start, end), rev in zip(slices, revenues):
        if remaining <= ZERO:
            break
        length = Decimal((end - start).days)
        if remaining <= rev:
            return total + remaining / rev * length, False
        total += length
        remaining -= rev
    return total, remaining > ZERO


# --- the KPIs ---------------------------------------------------------------------------------------------

TITLES = {
    "total_receivables": "Дебиторская задолженность, всего",
    "overdue_receivables": "Просроченная дебиторская задолженность",
    "kpr": "Коэффициент просроченной дебиторской задолженности (Кпр)",
    "ko_turnover": "Коэффициент оборачиваемости дебиторской задолженности (Коб)",
    "kdz": "Доля дебиторской задолженности в оборотных активах (Кдз)",
    "dso": "Период оборота дебиторской задолженности (DSO, метод countback)",
    "add": "Средняя просрочка оплаты (ADD = DSO − наилучший DSO)",
    "cei": "Индекс эффективности инкассации (CEI)",
    "problem_share": "Доля проблемной задолженности",
    "tasks_overdue": "Просроченные задачи сотрудников (нарушения регламента)",
    "shipments_while_blocked": "Отгрузки должникам при блокировке",
}


def period_points(as_of: date, period_days: int) -> set[date]:
    """The days the average receivables are taken on: the period's two ends and every month-end inside it."""
    start = as_of - timedelta(days=period_days)
    points = {start, as_of}
    d = month_end(start)
    while d < as_of:
        if d > start:
            points.add(d)
        d = month_end(d + timedelta(days=1))
    return points


def average_receivables(ledger: Ledger, as_of: date, period_days: int,
                        known: Mapping[date, Decimal] | None = None) -> tuple[Decimal, int]:
    """Mean of the receivables at the period's two ends and at every month-end inside it; (mean, points).

    ``known`` passes totals already computed (as_of, the period's start) so they are not computed again.
    """
    points = period_points(as_of, period_days)
    known = known or {}
    computed = total_open_on(ledger, sorted(points - set(known)))
    totals = [known[p] if p in known else computed[p] for p in sorted(points)]
    return sum(totals, ZERO) / len(totals), len(totals)


def compute_kpis(inputs: KpiInputs) -> tuple[Kpi, ...]:
    """Every KPI on ``inputs.as_of``, in a stable order (see ``docs/kpi.md`` for the definitions)."""
    ledger, as_of, period = inputs.ledger, inputs.as_of, inputs.period_days
    pos = position(inputs)
    total = pos.total
    overdue = pos.overdue_over(0)
    current = total - overdue
    start = as_of - timedelta(days=period)
    past = total_open_on(ledger, sorted(period_points(as_of, period) - {as_of}))  # one pass for every day
    begin = past[start]
    sales = revenue(ledger, start, as_of)
    avg, points = average_receivables(ledger, as_of, period, {**past, as_of: total})
    slices = month_slices(as_of, period)
    revenues = _slice_revenue(ledger, slices)
    dso, exhausted = countback(total, slices, revenues)
    best, _ = countback(current, slices, revenues)
    per = f"за {period} дн. до {as_of.strftime('%d.%m.%Y')}"

    def k(code: str, value: Decimal | None, unit: str, note: str = "") -> Kpi:
        return Kpi(code, TITLES[code], value, unit, note)

    kpis = [
        k("total_receivables", money(total), RUB, "открытые суммы счетов, выставленных не позднее даты отчёта"),
        k("overdue_receivables", money(overdue), RUB, "открытые суммы с просрочкой более 0 дн."),
        k("kpr", ratio(overdue, total), SHARE_UNIT,
          "просроченная / вся дебиторская задолженность" if total else "задолженности нет"),
    ]
    turnover = ratio(sales, avg)
    kpis.append(k("ko_turnover", turnover, TIMES,
                  f"выручка {per} / средняя задолженность по {points} точкам" if turnover is not None
                  else "средняя задолженность за период равна нулю"))
    if inputs.working_capital is None:
        kpis.append(k("kdz", None, SHARE_UNIT, "не рассчитан: оборотные активы не заданы (kpi.working_capital)"))
    else:
        kpis.append(k("kdz", ratio(total, inputs.working_capital), SHARE_UNIT,
                      "дебиторская задолженность / оборотные активы"))
    note = f"выручка {per}"
    if exhausted:
        note = f"задолженность больше выручки {per}: DSO не меньше {period} дн."
    kpis.append(k("dso", days(dso), DAYS, note))
    kpis.append(k("add", days(dso) - days(best), DAYS, "наилучший DSO: тот же расчёт по непросроченной задолженности"))
    collectable = begin + sales - current
    kpis.append(k("cei", ratio(begin + sales - total, collectable), SHARE_UNIT,
                  f"(начальная + выручка − конечная) / (начальная + выручка − конечная текущая), {per}"
                  if collectable else "нечего было инкассировать за период"))
    kpis.append(k("problem_share", ratio(pos.overdue_over(inputs.problem_debt_days), total), SHARE_UNIT,
                  f"просрочка более {inputs.problem_debt_days} дн."))
    late = sum(1 for t in inputs.tasks if t.status == "open" and t.due_on < as_of)
    kpis.append(k("tasks_overdue", Decimal(late), COUNT, f"открытые задачи со сроком до {as_of.strftime('%d.%m.%Y')}"))
    if inputs.shipments_while_blocked is None:
        kpis.append(k("shipments_while_blocked", None, COUNT,
                      "пока неизвестно: коннекторы ещё не передают отгрузки"))
    else:
        kpis.append(k("shipments_while_blocked", Decimal(inputs.shipments_while_blocked), COUNT))
    return tuple(kpis)
