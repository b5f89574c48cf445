"""Receivables KPIs, step effectiveness and the figures of the readable report (pure).

Everything here is computed from a :class:`KpiInputs` snapshot: the ledger, the evaluation day and the facts the
store holds (tasks, scenario runs). No I/O, no clock; money is :class:`~decimal.Decimal` from end to end. The
definitions are the reference in ``docs/kpi.md``; the short version:

* receivables = open amount of the invoices issued on or before ``as_of`` (:func:`robots.core.balances.open_balances`);
* overdue = the part of it whose days past due (the debtor group's day count) are above zero;
* revenue = non-credit-note invoices issued in the period ``(as_of - period_days, as_of]``.

Shares and ratios are quantized to 4 decimals, days to 1 decimal, money to 0.01, all ROUND_HALF_UP.
"""

from __future__ import annotations

import bisect
import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from robots.core.balances import Balances, open_balances, total_open_on
from robots.core.domain import ZERO, Invoice, Ledger

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")
TENTH = Decimal("0.1")
RUB, SHARE_UNIT, TIMES, DAYS, COUNT = "RUB", "share", "times", "days", "count"


@dataclass(frozen=True)
class TaskFact:
    task_id: int
    role: str
    due_on: date
    status: str  # "open" / "done"


@dataclass(frozen=True)
class RunFact:
    """A scenario run as decided: the invoices it was about and their open amounts on its day."""

    run_id: int
    scenario: str
    column_id: str
    as_of: date
    invoices: tuple[tuple[str, Decimal], ...]  # (invoice_id, open amount at the run)


@dataclass(frozen=True)
class PromiseFact:
    """A promise to pay open on ``as_of`` (robots/people.py): an expected inflow at its date."""

    promise_id: int
    contract_id: str
    amount: Decimal
    promised_on: date


@dataclass(frozen=True)
class KpiInputs:
    ledger: Ledger
    as_of: date
    period_days: int
    problem_debt_days: int
    working_capital: Decimal | None
    #: invoice id -> days past due on ``as_of`` by the debtor group's calendar (negative = not yet due).
    #: An invoice missing here counts in calendar days.
    days_past_due: Mapping[str, int]
    tasks: tuple[TaskFact, ...] = ()
    runs: tuple[RunFact, ...] = ()
    #: Unknown until connectors report shipments.
    shipments_while_blocked: int | None = None
    top_debtors: int = 10
    #: Promises to pay open on ``as_of`` (promise add, contacts with the outcome "promised", imports).
    promises: tuple[PromiseFact, ...] = ()


@dataclass(frozen=True)
class Kpi:
    code: str
    title: str
    value: Decimal | None
    unit: str
    note: str = ""


@dataclass(frozen=True)
class StepEffect:
    """How much of the debt a scenario's runs were about was paid within ``window_days`` of each run."""

    scenario: str
    column_id: str
    window_days: int
    runs: int  # runs whose window ended on or before as_of
    debt: Decimal  # open amounts at those runs
    paid: Decimal | None
    share: Decimal | None
    complete: bool  # False when some runs were left out because their window had not ended yet


@dataclass(frozen=True)
class AgingBar:
    """Open debt whose days past due fall in ``[start, end)``."""

    start: int
    end: int
    amount: Decimal
    invoices: int


@dataclass(frozen=True)
class DebtorRow:
    counterparty_id: str
    name: str
    inn: str
    open: Decimal
    overdue: Decimal
    max_days_past_due: int
    invoices: int


@dataclass(frozen=True)
class CashWeek:
    """One week (Monday..Sunday) of the cash-inflow plan."""

    start: date
    due: Decimal  # invoices (not credit notes) falling due in the week: the contractual plan
    open: Decimal  # of those, still open on as_of: the expected inflow (or, for past weeks, the shortfall)
    received: Decimal | None  # payments dated in the week up to as_of; None for weeks after as_of
    #: open promises to pay dated in the week: what customers said they would pay then
    promised: Decimal = ZERO


# --- rounding -----------------------------------------------------------------------------------------------

def money(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def share(x: Decimal) -> Decimal:
    return x.quantize(SHARE, rounding=ROUND_HALF_UP)


def days(x: Decimal) -> Decimal:
    return x.quantize(TENTH, rounding=ROUND_HALF_UP)


def _ratio(num: Decimal, den: Decimal) -> Decimal | None:
    return None if den == ZERO else share(num / den)


# --- the snapshot on as_of ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Position:
    """Open debt on ``as_of``: per invoice its open amount and days past due."""

    open: dict[str, Decimal]
    dpd: dict[str, int]
    invoices: dict[str, Invoice]

    @property
    def total(self) -> Decimal:
        return sum(self.open.values(), ZERO)

    def overdue_over(self, threshold: int) -> Decimal:
        return sum((a for i, a in self.open.items() if self.dpd[i] > threshold), ZERO)


def position(inputs: KpiInputs, balances: Balances | None = None) -> Position:
    """Each open invoice's amount and days past due on ``inputs.as_of`` (one :func:`open_balances` call)."""
    balances = balances or open_balances(inputs.ledger, inputs.as_of)
    by_id = {i.id: i for i in inputs.ledger.invoices}
    dpd: dict[str, int] = {}
    for inv_id in balances.open:
        known = inputs.days_past_due.get(inv_id)
        dpd[inv_id] = known if known is not None else (inputs.as_of - by_id[inv_id].due_date).days
    return Position(balances.open, dpd, by_id)


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
        k("kpr", _ratio(overdue, total), SHARE_UNIT,
          "просроченная / вся дебиторская задолженность" if total else "задолженности нет"),
    ]
    turnover = _ratio(sales, avg)
    kpis.append(k("ko_turnover", turnover, TIMES,
                  f"выручка {per} / средняя задолженность по {points} точкам" if turnover is not None
                  else "средняя задолженность за период равна нулю"))
    if inputs.working_capital is None:
        kpis.append(k("kdz", None, SHARE_UNIT, "не рассчитан: оборотные активы не заданы (kpi.working_capital)"))
    else:
        kpis.append(k("kdz", _ratio(total, inputs.working_capital), SHARE_UNIT,
                      "дебиторская задолженность / оборотные активы"))
    note = f"выручка {per}"
    if exhausted:
        note = f"задолженность больше выручки {per}: DSO не меньше {period} дн."
    kpis.append(k("dso", days(dso), DAYS, note))
    kpis.append(k("add", days(dso) - days(best), DAYS, "наилучший DSO: тот же расчёт по непросроченной задолженности"))
    collectable = begin + sales - current
    kpis.append(k("cei", _ratio(begin + sales - total, collectable), SHARE_UNIT,
                  f"(начальная + выручка − конечная) / (начальная + выручка − конечная текущая), {per}"
                  if collectable else "нечего было инкассировать за период"))
    kpis.append(k("problem_share", _ratio(pos.overdue_over(inputs.problem_debt_days), total), SHARE_UNIT,
                  f"просрочка более {inputs.problem_debt_days} дн."))
    late = sum(1 for t in inputs.tasks if t.status == "open" and t.due_on < as_of)
    kpis.append(k("tasks_overdue", Decimal(late), COUNT, f"открытые задачи со сроком до {as_of.strftime('%d.%m.%Y')}"))
    if inputs.shipments_while_blocked is None:
        kpis.append(k("shipments_while_blocked", None, COUNT,
                      "пока неизвестно: коннекторы ещё не передают отгрузки"))
    else:
        kpis.append(k("shipments_while_blocked", Decimal(inputs.shipments_while_blocked), COUNT))
    return tuple(kpis)


# --- step effectiveness -------------------------------------------------------------------------------------

def _restricted(ledger: Ledger, invoice_ids: Iterable[str]) -> Ledger:
    """The ledger of only the contracts holding ``invoice_ids``. Contracts never share money, so their open
    balances are exactly those of the whole ledger, for a fraction of the work."""
    ids = set(invoice_ids)
    contracts = {i.contract_id for i in ledger.invoices if i.id in ids}
    return Ledger(ledger.counterparties, tuple(c for c in ledger.contracts if c.id in contracts),
                  tuple(i for i in ledger.invoices if i.contract_id in contracts),
                  tuple(p for p in ledger.payments if p.contract_id in contracts))


def step_effectiveness(inputs: KpiInputs, windows: tuple[int, ...] = (7, 14, 30)) -> tuple[StepEffect, ...]:
    """For each (scenario, column) and window N: of the debt its runs were about, the share paid within N days.

    paid = sum over the runs and their invoices of max(0, open at the run - open on run day + N). Runs whose
    window ends after ``as_of`` are left out (``complete=False``); with none left, paid and share are None.
    Open balances are computed once per distinct day.
    """
    groups: dict[tuple[str, str], list[RunFact]] = defaultdict(list)
    for run in inputs.runs:
        groups[(run.scenario, run.column_id)].append(run)
    days_needed = {r.as_of + timedelta(days=n) for r in inputs.runs for n in windows}
    days_needed = {d for d in days_needed if d <= inputs.as_of}
    sub = _restricted(inputs.ledger, (i for r in inputs.runs for i, _ in r.invoices)) if days_needed else None
    open_on = {d: open_balances(sub, d).open for d in sorted(days_needed)} if sub else {}

    result = []
    for (scenario, column_id), runs in sorted(groups.items()):
        for n in windows:
            done = [r for r in runs if r.as_of + timedelta(days=n) <= inputs.as_of]
            debt, paid = ZERO, ZERO
            for r in done:
                later = open_on[r.as_of + timedelta(days=n)]
                for inv_id, amount in r.invoices:
                    debt += amount
                    # an invoice gone from the ledger is not counted as paid
                    paid += max(ZERO, amount - later.get(inv_id, amount))
            complete = len(done) == len(runs)
            if not done:
                result.append(StepEffect(scenario, column_id, n, 0, money(ZERO), None, None, False))
            else:
                result.append(StepEffect(scenario, column_id, n, len(done), money(debt), money(paid),
                                         _ratio(paid, debt), complete))
    return tuple(result)


# --- figures of the report ---------------------------------------------------------------------------------

def _group_of(ledger: Ledger) -> dict[str, str]:
    """contract id -> debtor group."""
    cp_group = {c.id: c.group for c in ledger.counterparties}
    return {c.id: cp_group.get(c.counterparty_id, "default") for c in ledger.contracts}


def aging_histogram(inputs: KpiInputs, width: int = 1, group: str | None = None, origin: int = 1,
                    pos: Position | None = None) -> tuple[AgingBar, ...]:
    """Open debt by days past due in bins ``[origin + k*width, origin + (k+1)*width)``, non-empty bins only,
    ascending. With the default origin 1 no bin mixes overdue debt with debt not yet overdue.

    ``group`` keeps only the debtors of one group (each group counts days its own way).
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    pos = pos or position(inputs)
    group_of = _group_of(inputs.ledger) if group is not None else {}
    amounts: dict[int, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[int, int] = defaultdict(int)
    for inv_id, amount in pos.open.items():
        if amount <= ZERO:
            continue
        if group is not None and group_of.get(pos.invoices[inv_id].contract_id, "default") != group:
            continue
        b = (pos.dpd[inv_id] - origin) // width
        amounts[b] += amount
        counts[b] += 1
    return tuple(AgingBar(origin + b * width, origin + (b + 1) * width, money(amounts[b]), counts[b])
                 for b in sorted(amounts))


@dataclass(frozen=True)
class AgingBand:
    """Open debt whose days past due are in ``[low, high)``; None = unbounded on that side."""

    low: int | None
    high: int | None
    amount: Decimal
    invoices: int


def aging_bands(inputs: KpiInputs, offsets: tuple[int, ...], group: str | None = None,
                pos: Position | None = None) -> tuple[AgingBand, ...]:
    """Open debt between consecutive aging column offsets: before the first column, then one band per column
    (from its offset up to the next one's). ``offsets`` must increase, as schedules.yaml guarantees."""
    if list(offsets) != sorted(set(offsets)):
        raise ValueError(f"offsets must strictly increase: {offsets}")
    pos = pos or position(inputs)
    group_of = _group_of(inputs.ledger) if group is not None else {}
    edges: list[int | None] = [None, *offsets, None]
    amounts = [ZERO] * (len(offsets) + 1)
    counts = [0] * (len(offsets) + 1)
    for inv_id, amount in pos.open.items():
        if amount <= ZERO:
            continue
        if group is not None and group_of.get(pos.invoices[inv_id].contract_id, "default") != group:
            continue
        b = bisect.bisect_right(offsets, pos.dpd[inv_id])
        amounts[b] += amount
        counts[b] += 1
    return tuple(AgingBand(edges[b], edges[b + 1], money(amounts[b]), counts[b]) for b in range(len(amounts)))


def top_debtors(inputs: KpiInputs, pos: Position | None = None) -> tuple[DebtorRow, ...]:
    """The ``inputs.top_debtors`` counterparties owing the most on ``as_of``, largest first."""
    pos = pos or position(inputs)
    ledger = inputs.ledger
    cp_of = {c.id: c.counterparty_id for c in ledger.contracts}
    open_: dict[str, Decimal] = defaultdict(lambda: ZERO)
    overdue: dict[str, Decimal] = defaultdict(lambda: ZERO)
    worst: dict[str, int] = {}
    count: dict[str, int] = defaultdict(int)
    for inv_id, amount in pos.open.items():
        if amount <= ZERO:
            continue
        cp = cp_of.get(pos.invoices[inv_id].contract_id, "")
        d = pos.dpd[inv_id]
        open_[cp] += amount
        count[cp] += 1
        if d > 0:
            overdue[cp] += amount
        worst[cp] = max(worst.get(cp, d), d)
    cps = {c.id: c for c in ledger.counterparties}
    rows = []
    for cp_id, amount in open_.items():
        cp = cps.get(cp_id)
        rows.append(DebtorRow(cp_id, cp.name if cp else cp_id, cp.inn if cp else "", money(amount),
                              money(overdue[cp_id]), worst[cp_id], count[cp_id]))
    rows.sort(key=lambda r: (-r.open, r.name, r.counterparty_id))
    return tuple(rows[: inputs.top_debtors])


def week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def cash_plan(inputs: KpiInputs, weeks_back: int = 8, weeks_ahead: int = 8,
              pos: Position | None = None) -> tuple[CashWeek, ...]:
    """Weeks from ``weeks_back`` before the week of ``as_of`` to ``weeks_ahead`` after it.

    Per week: what falls due by contract, how much of that is still open on ``as_of`` (for coming weeks: the
    expected inflow), what was received (payments dated in the week, up to ``as_of``) and what open promises to
    pay fall in the week by their promised date (a promise dated before the first week is left out, like the
    debt already overdue before it, which is not spread over the weeks).
    """
    pos = pos or position(inputs)
    this = week_start(inputs.as_of)
    first = this - timedelta(weeks=weeks_back)
    weeks = [first + timedelta(weeks=k) for k in range(weeks_back + weeks_ahead + 1)]
    due: dict[date, Decimal] = defaultdict(lambda: ZERO)
    still: dict[date, Decimal] = defaultdict(lambda: ZERO)
    got: dict[date, Decimal] = defaultdict(lambda: ZERO)
    promised: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for pr in inputs.promises:
        promised[week_start(pr.promised_on)] += pr.amount
    for inv in inputs.ledger.invoices:
        if inv.is_credit_note or inv.date > inputs.as_of:
            continue
        w = week_start(inv.due_date)
        due[w] += inv.amount
        still[w] += pos.open.get(inv.id, ZERO)
    for p in inputs.ledger.payments:
        if p.date <= inputs.as_of:
            got[week_start(p.date)] += p.amount
    return tuple(CashWeek(w, money(due[w]), money(still[w]), money(got[w]) if w <= inputs.as_of else None,
                          money(promised[w])) for w in weeks)


def overdue_before(inputs: KpiInputs, day: date, pos: Position | None = None) -> Decimal:
    """Open debt on ``as_of`` of invoices due before ``day`` (the part of the overdue debt no week plans)."""
    pos = pos or position(inputs)
    return money(sum((a for i, a in pos.open.items() if pos.invoices[i].due_date < day), ZERO))
