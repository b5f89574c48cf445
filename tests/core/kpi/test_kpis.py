"""The KPIs on small ledgers computed by hand (robots/core/kpi/, docs/kpi.md)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import robots.core.kpi.effectiveness as effectiveness_module
import robots.core.kpi.facts as facts_module
from robots.core.balances import open_balances
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from robots.core.kpi.effectiveness import step_effectiveness
from robots.core.kpi.facts import KpiInputs, RunFact, TaskFact
from robots.core.kpi.figures import aging_bands, aging_histogram, cash_plan, top_debtors
from robots.core.kpi.kpis import Kpi, compute_kpis, month_slices, months_back
from tests.builders import D, inv, ledger, pay

AS_OF = date(2026, 3, 31)


def inputs(lg: Ledger, as_of: date = AS_OF, dpd: dict[str, int] | None = None, **kw) -> KpiInputs:
    """Inputs with calendar days past due unless ``dpd`` says otherwise."""
    days = {i.id: (as_of - i.due_date).days for i in lg.invoices if not i.is_credit_note}
    days.update(dpd or {})
    base = dict(period_days=90, problem_debt_days=90, working_capital=None)
    base.update(kw)
    return KpiInputs(ledger=lg, as_of=as_of, days_past_due=days, **base)


def kpis(i: KpiInputs) -> dict[str, Kpi]:
    return {k.code: k for k in compute_kpis(i)}


def three_invoices() -> Ledger:
    """C: 500 from November (120 days overdue, 100 of it settled by a credit note), A: 1000 in January, 400 paid
    (45 days overdue), B: 2000 due today."""
    return ledger(
        [inv("A", "1000", date(2026, 2, 14), issued=date(2026, 1, 15)),
         inv("B", "2000", date(2026, 3, 31), issued=date(2026, 3, 1)),
         inv("C", "500", date(2025, 12, 1), issued=date(2025, 11, 1)),
         inv("CN", "-100", date(2026, 3, 10), issued=date(2026, 3, 10))],
        [pay("p1", "400", date(2026, 2, 20), invoice="A")],
    )


def test_receivables_overdue_and_their_share():
    k = kpis(inputs(three_invoices()))
    assert k["total_receivables"].value == D("3000.00")  # A 600 + B 2000 + C 400 (the credit note took 100)
    assert k["overdue_receivables"].value == D("1000.00")  # A and C; B is due today, 0 days past due
    assert k["kpr"].value == D("0.3333")
    assert [k[c].unit for c in ("total_receivables", "kpr", "ko_turnover", "dso", "tasks_overdue")] == \
        ["RUB", "share", "times", "days", "count"]
    assert k["kpr"].title == "Коэффициент просроченной дебиторской задолженности (Кпр)"


def test_overdue_follows_the_given_days_past_due_not_the_calendar():
    # a working-day group: C is 0 working days past due although its due date is long gone
    k = kpis(inputs(three_invoices(), dpd={"C": 0, "B": 2}))
    assert k["overdue_receivables"].value == D("2600.00")  # A 600 + B 2000


def test_problem_share_counts_debt_overdue_longer_than_the_threshold():
    assert kpis(inputs(three_invoices()))["problem_share"].value == D("0.1333")  # C: 400 of 3000, 120 days
    assert kpis(inputs(three_invoices(), problem_debt_days=120))["problem_share"].value == D("0.0000")


def test_turnover_is_revenue_over_the_mean_of_month_end_receivables():
    # period (31.12.2025, 31.03.2026]: revenue A 1000 + B 2000 (C is older, the credit note is not revenue)
    # receivables on 31.12 = 500, 31.01 = 1500, 28.02 = 1100, 31.03 = 3000: mean 1525
    k = kpis(inputs(three_invoices()))
    assert k["ko_turnover"].value == D("1.9672")  # 3000 / 1525
    assert "4 точкам" in k["ko_turnover"].note


def test_kdz_needs_the_working_capital():
    k = kpis(inputs(three_invoices()))
    assert k["kdz"].value is None and "working_capital" in k["kdz"].note
    assert kpis(inputs(three_invoices(), working_capital=D("30000")))["kdz"].value == D("0.1000")


def test_cei_collected_over_collectable():
    # begin 500 + sales 3000 - end 3000 = 500 collected; begin + sales - current end (2000) = 1500 collectable
    assert kpis(inputs(three_invoices()))["cei"].value == D("0.3333")


def test_months_back_keeps_month_ends_and_clamps_other_days():
    assert months_back(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_back(date(2026, 3, 31), 2) == date(2026, 1, 31)
    assert months_back(date(2026, 3, 15), 1) == date(2026, 2, 15)
    assert months_back(date(2026, 5, 30), 3) == date(2026, 2, 28)
    assert months_back(date(2026, 1, 10), 1) == date(2025, 12, 10)
    slices = month_slices(date(2026, 3, 31), 90)
    assert slices == ((date(2026, 2, 28), date(2026, 3, 31)), (date(2026, 1, 31), date(2026, 2, 28)),
                      (date(2025, 12, 31), date(2026, 1, 31)))


def countback_ledger() -> Ledger:
    """Revenue: January 120 000 (paid), February 80 000 (50 000 open, overdue), March 100 000 (open, not due)."""
    return ledger(
        [inv("JAN", "120000", date(2026, 2, 9), issued=date(2026, 1, 10)),
         inv("FEB", "80000", date(2026, 3, 12), issued=date(2026, 2, 10)),
         inv("MAR", "100000", date(2026, 4, 9), issued=date(2026, 3, 10))],
        [pay("p1", "120000", date(2026, 2, 9), invoice="JAN"), pay("p2", "30000", date(2026, 3, 12), invoice="FEB")],
    )


def test_dso_by_countback_worked_example():
    k = kpis(inputs(countback_ledger(), period_days=365))
    assert k["total_receivables"].value == D("150000.00")
    # March: 150 000 > 100 000 -> 31 days, 50 000 left; February: 50 000 / 80 000 x 28 = 17.5 days
    assert k["dso"].value == D("48.5")
    # best possible DSO on the current 100 000: all of March's revenue -> 31 days; ADD = 48.5 - 31
    assert k["add"].value == D("17.5")


def test_dso_is_a_lower_bound_when_receivables_exceed_the_revenue_of_the_period():
    old = ledger([inv("OLD", "1000", date(2025, 1, 31), issued=date(2025, 1, 1)),
                  inv("NEW", "10", date(2026, 3, 30), issued=date(2026, 3, 1))])
    k = kpis(inputs(old, period_days=90))
    assert k["dso"].value == D("90.0") and "не меньше 90" in k["dso"].note


def test_an_empty_ledger_gives_zeros_and_no_ratios():
    k = kpis(inputs(Ledger()))
    assert k["total_receivables"].value == D("0.00") and k["dso"].value == D("0.0")
    assert k["kpr"].value is None and k["ko_turnover"].value is None and k["cei"].value is None


def test_tasks_overdue_counts_open_tasks_due_before_as_of():
    tasks = (TaskFact(1, "legal", AS_OF - timedelta(days=1), "open"),
             TaskFact(2, "legal", AS_OF, "open"),
             TaskFact(3, "legal", AS_OF - timedelta(days=9), "done"),
             TaskFact(4, "account_manager", AS_OF - timedelta(days=30), "open"))
    assert kpis(inputs(Ledger(), tasks=tasks))["tasks_overdue"].value == D("2")


def test_shipments_while_blocked_are_unknown_until_connectors_report_them():
    k = kpis(inputs(Ledger()))["shipments_while_blocked"]
    assert k.value is None and "неизвестно" in k.note
    assert kpis(inputs(Ledger(), shipments_while_blocked=3))["shipments_while_blocked"].value == D("3")


def test_kpi_codes_are_stable():
    assert [k.code for k in compute_kpis(inputs(Ledger()))] == [
        "total_receivables", "overdue_receivables", "kpr", "ko_turnover", "kdz", "dso", "add", "cei",
        "problem_share", "tasks_overdue", "shipments_while_blocked"]


def test_compute_kpis_computes_open_balances_a_bounded_number_of_times(monkeypatch):
    calls = []

    def counting(lg, day):
        calls.append(day)
        return open_balances(lg, day)

    monkeypatch.setattr(facts_module, "open_balances", counting)
    compute_kpis(inputs(three_invoices(), period_days=365))
    # once, for as_of's positions; the period's start and the month-ends come from total_open_on in one pass
    assert len(calls) == 1


# --- step effectiveness ------------------------------------------------------------------------------------

def step_ledger() -> Ledger:
    return ledger(
        [inv("X", "1000", date(2026, 3, 1)), inv("Y", "500", date(2026, 3, 19), contract="C2"),
         inv("Z", "200", date(2026, 3, 1), contract="C2")],
        [pay("p1", "300", date(2026, 3, 5), invoice="X"), pay("p2", "700", date(2026, 3, 20), invoice="X")],
        contracts=("C1", "C2"),
    )


def test_step_effectiveness_counts_what_was_paid_within_each_window():
    runs = (RunFact(1, "payment_request", "overdue_1", date(2026, 3, 2), (("X", D("1000")),)),
            RunFact(2, "payment_request", "overdue_1", date(2026, 3, 20), (("Y", D("500")),)))
    effects = {e.window_days: e for e in step_effectiveness(inputs(step_ledger(), as_of=date(2026, 3, 25), runs=runs))}
    # window 7: run 2's window ends 27.03, after as_of: left out. Run 1: X open 700 on 09.03, so 300 paid.
    assert effects[7].runs == 1 and effects[7].debt == D("1000.00") and effects[7].paid == D("300.00")
    assert effects[7].share == D("0.3000") and effects[7].complete is False
    assert effects[14].paid == D("300.00")  # 16.03: the second payment (20.03) has not come yet
    # window 30: no run has a complete window
    assert (effects[30].runs, effects[30].paid, effects[30].share, effects[30].complete) == (0, None, None, False)


def test_step_effectiveness_is_complete_when_every_window_ended():
    runs = (RunFact(1, "pretrial_demand", "overdue_2", date(2026, 3, 2), (("X", D("1000")), ("Z", D("200")))),)
    (e,) = step_effectiveness(inputs(step_ledger(), as_of=date(2026, 4, 30), runs=runs), windows=(30,))
    # by 01.04 X is paid in full, Z not at all
    assert (e.scenario, e.column_id, e.runs, e.debt, e.paid, e.share, e.complete) == \
        ("pretrial_demand", "overdue_2", 1, D("1200.00"), D("1000.00"), D("0.8333"), True)


def test_step_effectiveness_groups_by_scenario_and_column_and_never_counts_new_debt_as_negative():
    runs = (RunFact(1, "a", "c1", date(2026, 3, 2), (("X", D("500")),)),  # X is 700 open later: clipped at zero
            RunFact(2, "b", "c2", date(2026, 3, 2), (("Z", D("200")),)))
    effects = step_effectiveness(inputs(step_ledger(), as_of=date(2026, 3, 31), runs=runs), windows=(7,))
    assert [(e.scenario, e.column_id, e.paid) for e in effects] == [("a", "c1", D("0.00")), ("b", "c2", D("0.00"))]


def test_step_effectiveness_computes_each_days_balances_once(monkeypatch):
    calls = []

    def counting(lg, day):
        calls.append(day)
        return open_balances(lg, day)

    monkeypatch.setattr(effectiveness_module, "open_balances", counting)
    runs = tuple(RunFact(n, "s", f"col{n % 2}", date(2026, 3, 2), (("X", D("1000")),)) for n in range(6))
    step_effectiveness(inputs(step_ledger(), as_of=date(2026, 3, 31), runs=runs), windows=(7, 14))
    assert sorted(calls) == [date(2026, 3, 9), date(2026, 3, 16)]


# --- figures of the report -----------------------------------------------------------------------------------

def two_debtors() -> Ledger:
    return Ledger(
        counterparties=(Counterparty("P1", "ООО «Ромашка»", "7701234567", group="default"),
                        Counterparty("P2", "АО «Василёк»", "7702345678", group="key")),
        contracts=(Contract("C1", "1", "P1"), Contract("C2", "2", "P2")),
        invoices=(Invoice("A", "A", "C1", date(2026, 1, 1), date(2026, 3, 21), D("100")),  # 10 days overdue
                  Invoice("B", "B", "C1", date(2026, 1, 1), date(2026, 4, 10), D("50")),  # due in 10 days
                  Invoice("K", "K", "C2", date(2026, 1, 1), date(2026, 3, 30), D("300"))),  # 1 day overdue
        payments=(Payment("p", "C2", date(2026, 3, 2), D("30"), "K"),),
    )


def test_aging_histogram_bins_start_at_day_one_so_overdue_and_not_due_never_mix():
    bars = aging_histogram(inputs(two_debtors()), width=5)
    assert [(b.start, b.end, b.amount, b.invoices) for b in bars] == [
        (-14, -9, D("50.00"), 1), (1, 6, D("270.00"), 1), (6, 11, D("100.00"), 1)]
    assert [b.amount for b in aging_histogram(inputs(two_debtors()), group="key")] == [D("270.00")]


def test_aging_bands_split_the_debt_at_the_column_offsets():
    bands = aging_bands(inputs(two_debtors()), (-3, 1, 10))
    assert [(b.low, b.high, b.amount) for b in bands] == [
        (None, -3, D("50.00")), (-3, 1, D("0.00")), (1, 10, D("270.00")), (10, None, D("100.00"))]
    with pytest.raises(ValueError):
        aging_bands(inputs(two_debtors()), (1, 1))


def test_top_debtors_largest_first_with_overdue_and_worst_days():
    rows = top_debtors(inputs(two_debtors(), top_debtors=1))
    assert [(r.name, r.inn, r.open, r.overdue, r.max_days_past_due) for r in rows] == [
        ("АО «Василёк»", "7702345678", D("270.00"), D("270.00"), 1)]
    second = top_debtors(inputs(two_debtors()))[1]
    assert (second.open, second.overdue, second.max_days_past_due, second.invoices) == (D("150.00"), D("100.00"), 10, 2)


def test_cash_plan_puts_open_invoices_in_their_due_week_and_payments_in_theirs():
    weeks = {w.start: w for w in cash_plan(inputs(two_debtors()), weeks_back=5, weeks_ahead=2)}
    assert len(weeks) == 8 and min(weeks) == date(2026, 2, 23)  # Monday of 31.03's week, 5 weeks back
    assert weeks[date(2026, 3, 2)].received == D("30.00")
    assert (weeks[date(2026, 3, 16)].due, weeks[date(2026, 3, 16)].open) == (D("100.00"), D("100.00"))  # A, 21.03
    assert weeks[date(2026, 3, 30)].open == D("270.00")  # K, due 30.03, partly paid
    assert weeks[date(2026, 4, 6)].open == D("50.00") and weeks[date(2026, 4, 6)].received is None


# --- properties ------------------------------------------------------------------------------------------------

amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("100000"), places=2).filter(lambda a: a != 0)
days = st.integers(0, 120).map(lambda n: date(2026, 1, 1) + timedelta(days=n))


@st.composite
def ledgers(draw):
    invoices = []
    for n in range(draw(st.integers(0, 8))):
        issued = draw(days)
        invoices.append(Invoice(f"I{n}", f"I{n}", draw(st.sampled_from(["C1", "C2"])), issued,
                                issued + timedelta(days=draw(st.integers(0, 60))), draw(amounts)))
    payments = [Payment(f"P{n}", draw(st.sampled_from(["C1", "C2"])), draw(days),
                        draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50000"), places=2)),
                        draw(st.sampled_from([None, *[i.id for i in invoices]])))
                for n in range(draw(st.integers(0, 6)))]
    return ledger(invoices, payments, contracts=("C1", "C2"))


@settings(max_examples=150, deadline=None)
@given(ledgers(), days)
def test_total_receivables_is_exactly_the_sum_of_open_balances_and_overdue_never_exceeds_it(lg, as_of):
    k = kpis(inputs(lg, as_of=as_of, period_days=60))
    assert k["total_receivables"].value == sum(open_balances(lg, as_of).open.values(), Decimal("0"))
    assert Decimal(0) <= k["overdue_receivables"].value <= k["total_receivables"].value
    assert k["kpr"].value is None or Decimal(0) <= k["kpr"].value <= 1
