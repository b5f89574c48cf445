"""The aging rules, one test each, plus properties over random ledgers and evaluation schedules."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robots.core.aging import Evaluation, check_order, evaluate
from robots.core.domain import CatchUp, CrossingStatus, DayCount, Hold, HoldKind
from robots.core.errors import ConfigError, EvaluationOrderError
from tests.builders import DUE, inv, ledger, pay, policy, weekdays

CAL = weekdays()


def day(offset: int) -> date:
    return DUE + timedelta(days=offset)


def record(history: dict, ev: Evaluation) -> dict:
    """What the store does with an evaluation's crossings, kept in memory."""
    for x in ev.crossings:
        key = (x.invoice_id, x.epoch)
        history[key] = max(history.get(key, x.offset), x.offset)
    return history


def run_days(lg, pol, days, holds=None):
    history: dict = {}
    evs = []
    for d in days:
        ev = evaluate(lg, pol, CAL, d, history, holds or {})
        record(history, ev)
        evs.append(ev)
    return evs, history


def test_a_debt_crosses_a_column_when_its_days_past_due_reach_the_offset():
    lg = ledger([inv("A", "100")])
    assert evaluate(lg, policy(), CAL, day(-4), {}).crossings == ()
    ev = evaluate(lg, policy(), CAL, day(-3), {})
    assert [(x.column_id, x.status) for x in ev.crossings] == [("before_due_3", CrossingStatus.RUN)]
    assert ev.runs[0].scenario == "reminder" and ev.runs[0].invoice_ids == ("A",)


def test_a_crossing_never_repeats_on_later_days():
    evs, _ = run_days(ledger([inv("A", "100")]), policy(), [day(n) for n in range(-5, 20)])
    columns = [x.column_id for ev in evs for x in ev.crossings]
    assert columns == ["before_due_3", "overdue_1", "overdue_2", "overdue_10"]


def test_catch_up_latest_runs_only_the_highest_column_and_records_the_rest_as_skipped():
    ev = evaluate(ledger([inv("A", "100")]), policy(), CAL, day(12), {})
    assert [(x.column_id, x.status) for x in ev.crossings] == [
        ("before_due_3", "skipped"), ("overdue_1", "skipped"), ("overdue_2", "skipped"), ("overdue_10", "run")]
    assert [r.column_id for r in ev.runs] == ["overdue_10"]


def test_catch_up_all_runs_every_crossed_column_lowest_first():
    ev = evaluate(ledger([inv("A", "100")]), policy(CatchUp.ALL), CAL, day(2), {})
    assert [r.column_id for r in ev.runs] == ["before_due_3", "overdue_1", "overdue_2"]
    assert all(x.status is CrossingStatus.RUN for x in ev.crossings)


def test_a_missed_day_is_caught_up_on_the_next_evaluation():
    lg = ledger([inv("A", "100")])
    evs, _ = run_days(lg, policy(), [day(0), day(3)])  # robots were down on days 1 and 2
    assert [(x.column_id, x.status) for x in evs[1].crossings] == [("overdue_1", "skipped"), ("overdue_2", "run")]


def test_after_the_due_date_is_extended_a_lower_column_is_not_run_again():
    history = record({}, evaluate(ledger([inv("A", "100")]), policy(), CAL, day(2), {}))
    extended = ledger([inv("A", "100", due=day(10))])
    for d in range(3, 30):
        ev = evaluate(extended, policy(), CAL, day(d), history)
        record(history, ev)
        assert all(x.offset > 2 for x in ev.crossings)
    assert ("A", "") in history and history[("A", "")] == 10


def test_rearm_on_due_date_change_arms_every_column_again_for_the_new_term():
    pol = policy(rearm_on_due_date_change=True)
    history = record({}, evaluate(ledger([inv("A", "100")]), pol, CAL, day(2), {}))
    ev = evaluate(ledger([inv("A", "100", due=day(10))]), pol, CAL, day(7), history)
    assert [x.column_id for x in ev.crossings] == ["before_due_3"]
    assert ev.crossings[0].epoch == day(10).isoformat()


def test_a_paid_debt_does_not_cross_and_is_closed():
    lg = ledger([inv("A", "100")], [pay("p", "99.50", day(0))])  # 0.50 left: within the 1.00 tolerance
    ev = evaluate(lg, policy(), CAL, day(5), {})
    assert ev.crossings == () and ev.closed == ("A",)


def test_a_partly_paid_debt_crosses_with_its_open_amount():
    lg = ledger([inv("A", "100")], [pay("p", "60", day(0))])
    ev = evaluate(lg, policy(), CAL, day(1), {})
    assert ev.crossings[-1].open_amount == pytest.approx(40) and str(ev.crossings[-1].open_amount) == "40"


@pytest.mark.parametrize("kind", list(HoldKind))
def test_a_held_debt_does_not_cross_until_the_hold_ends(kind):
    lg = ledger([inv("A", "100")])
    holds = {"A": Hold("A", kind, "спор по качеству", until=day(4))}
    evs, _ = run_days(lg, policy(), [day(n) for n in range(0, 7)], holds)
    crossed = [(ev.as_of, x.column_id, x.status) for ev in evs for x in ev.crossings]
    assert crossed and all(d > day(4) for d, _, _ in crossed)  # nothing while the hold lasts
    assert (day(5), "overdue_2", "run") in crossed and (day(5), "overdue_1", "skipped") in crossed
    assert evs[2].held == 1


def test_one_run_per_contract_and_column_lists_all_its_invoices_crossing_that_day():
    lg = ledger([inv("A", "100"), inv("B", "50"), inv("C", "70", contract="C2")], contracts=("C1", "C2"))
    ev = evaluate(lg, policy(), CAL, day(1), record({}, evaluate(lg, policy(), CAL, day(0), {})))
    assert sorted((r.contract_id, r.invoice_ids) for r in ev.runs) == [("C1", ("A", "B")), ("C2", ("C",))]
    assert len({r.key for r in ev.runs}) == 2


def test_working_day_groups_count_working_days():
    friday = date(2026, 3, 13)
    lg = ledger([inv("A", "100", due=friday)])
    pol = policy(days=DayCount.WORKING)
    assert [x.column_id for x in evaluate(lg, pol, CAL, date(2026, 3, 15), {}).crossings] == ["before_due_3"]
    ev = evaluate(lg, pol, CAL, date(2026, 3, 16), {("A", ""): -3})
    assert [x.column_id for x in ev.crossings] == ["overdue_1"]


def test_credit_notes_and_invoices_not_yet_issued_never_cross():
    lg = ledger([inv("CN", "-10", due=day(-20)), inv("F", "100", issued=day(5), due=day(6))])
    assert evaluate(lg, policy(), CAL, day(4), {}).crossings == ()


def test_an_unknown_debtor_group_is_a_config_error():
    with pytest.raises(ConfigError, match="debtor group 'vip'"):
        evaluate(ledger([inv("A", "1")], group="vip"), policy(), CAL, day(0), {})


def test_an_evaluation_dated_before_the_last_one_is_refused():
    check_order(day(3), day(3))
    with pytest.raises(EvaluationOrderError, match="before the last evaluation"):
        check_order(day(2), day(3))


def test_totals_count_open_and_overdue_amounts():
    lg = ledger([inv("A", "100", due=day(-1)), inv("B", "40", due=day(5))])
    ev = evaluate(lg, policy(), CAL, day(0), {})
    assert (str(ev.total_open), str(ev.total_overdue), ev.open_invoices) == ("140", "100", 2)


# -- properties -------------------------------------------------------------------------------------------

invoices_st = st.lists(
    st.tuples(st.integers(-40, 40), st.decimals(min_value=1, max_value=10_000, places=2), st.integers(0, 1)),
    min_size=1, max_size=8,
)


def _ledger(specs):
    return ledger([inv(f"I{i}", str(a), due=day(o), contract=f"C{c}") for i, (o, a, c) in enumerate(specs)],
                  contracts=("C0", "C1"))


@settings(max_examples=60, deadline=None)
@given(invoices_st, st.lists(st.integers(1, 6), min_size=1, max_size=15), st.sampled_from(list(DayCount)),
       st.sampled_from(list(CatchUp)))
def test_a_crossing_never_repeats_whatever_the_evaluation_schedule(specs, gaps, days, catch_up):
    lg, pol = _ledger(specs), policy(catch_up, days)
    dates, d = [], day(-45)
    for g in gaps:
        d += timedelta(days=g)
        dates.append(d)
    evs, _ = run_days(lg, pol, dates)
    keys = [(x.invoice_id, x.column_id) for ev in evs for x in ev.crossings]
    assert len(keys) == len(set(keys))
    runs = [r.key for ev in evs for r in ev.runs]
    assert len(runs) == len(set(runs))


@settings(max_examples=60, deadline=None)
@given(invoices_st, st.integers(0, 90), st.sampled_from(list(DayCount)))
def test_day_by_day_and_jumping_straight_to_day_n_end_in_the_same_column(specs, n, days):
    lg, pol = _ledger(specs), policy(days=days)
    start = day(-45)
    _, stepped = run_days(lg, pol, [start + timedelta(days=k) for k in range(n + 1)])
    _, jumped = run_days(lg, pol, [start + timedelta(days=n)])
    assert stepped == jumped


@settings(max_examples=40, deadline=None)
@given(invoices_st, st.integers(0, 60))
def test_every_reached_column_is_recorded_either_run_or_skipped(specs, n):
    lg, pol = _ledger(specs), policy()
    evs, _ = run_days(lg, pol, [day(-45) + timedelta(days=k) for k in range(0, n + 1, 3)])
    recorded = {(x.invoice_id, x.column_id) for ev in evs for x in ev.crossings}
    final = evaluate(lg, pol, CAL, evs[-1].as_of, {}, with_positions=True)
    for inv_id, (_dpd, column) in final.positions.items():
        if column is not None:
            reached = [c.id for c in pol.groups["default"].columns if c.offset <= _dpd]
            assert {(inv_id, c) for c in reached} <= recorded
