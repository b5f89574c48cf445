"""What an evaluation says about each open invoice for the next one (``with_state``), and skipped columns kept
inside the crossing that passed them."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from robots.core.aging import evaluate, state_key
from robots.core.domain import AgingPolicy, Column, CrossingStatus, DayCount, GroupSchedule, Hold, HoldKind
from robots.core.workdays import WorkCalendar
from tests.builders import DUE, inv, ledger, pay, policy, weekdays

CAL = weekdays()
MIXED = AgingPolicy(groups={"default": GroupSchedule("default", DayCount.CALENDAR, (
    Column("before_due_3", -3, "reminder"), Column("overdue_1", 1, "request"),
    Column("overdue_5wd", 5, "demand", days=DayCount.WORKING), Column("overdue_10", 10, "legal")))},
    tolerance=Decimal("1.00"))
WORKING = policy(days=DayCount.WORKING)
HOLIDAYS = WorkCalendar(lambda d: d.weekday() < 5 and d not in {DUE + timedelta(days=k) for k in (-4, 2, 3, 9)})


def test_a_catch_up_keeps_its_skipped_columns_in_the_crossing_that_runs():
    ev = evaluate(ledger([inv("A", "100")]), policy(), CAL, DUE + timedelta(days=12), {})
    assert [(x.column_id, x.status, x.skipped) for x in ev.decided] == [
        ("overdue_10", CrossingStatus.RUN, (("before_due_3", -3), ("overdue_1", 1), ("overdue_2", 2)))]
    assert [(x.column_id, x.status) for x in ev.crossings] == [
        ("before_due_3", "skipped"), ("overdue_1", "skipped"), ("overdue_2", "skipped"), ("overdue_10", "run")]
    assert ev.crossing_count == 4 == len(ev.crossings)


def test_the_state_of_an_open_invoice_says_when_it_reaches_its_next_column_and_falls_overdue():
    ev = evaluate(ledger([inv("A", "100"), inv("B", "0.50")]), policy(), CAL, DUE - timedelta(days=5), {},
                  with_state=True)
    assert set(ev.states) == {"A"}  # B is paid (within the tolerance)
    a = ev.states["A"]
    assert (a.contract_id, a.open_amount) == ("C1", Decimal("100"))
    assert a.next_on == DUE - timedelta(days=3) and a.overdue_from == DUE + timedelta(days=1)
    assert evaluate(ledger([inv("A", "100")]), policy(), CAL, DUE + timedelta(days=11), {},
                    with_state=True).states["A"].next_on is None  # every column reached


def test_a_held_invoice_is_looked_at_again_the_next_day_and_later_entries_date_their_contract():
    day = DUE + timedelta(days=4)
    lg = ledger([inv("A", "100"), inv("B", "50", issued=day + timedelta(days=3))],
                [pay("P", "10", day + timedelta(days=2))])
    ev = evaluate(lg, policy(), CAL, day, {}, {"A": Hold("A", HoldKind.PAUSE, "обещали")}, with_state=True)
    assert ev.states["A"].next_on == day + timedelta(days=1)
    assert ev.contracts_next == {"C1": day + timedelta(days=2)}


def _positions(lg, pol, cal, day):
    ev = evaluate(lg, pol, cal, day, {}, with_positions=True)
    return {i: (p[1], p[0] > 0) for i, p in ev.positions.items()}


@settings(max_examples=60, deadline=None)
@given(due=st.integers(-30, 30), start=st.integers(-20, 20), which=st.sampled_from(["calendar", "working", "mixed"]),
       holidays=st.booleans())
def test_nothing_about_an_invoice_changes_before_its_next_on_nor_its_overdue_before_overdue_from(
        due, start, which, holidays):
    pol = {"calendar": policy(), "working": WORKING, "mixed": MIXED}[which]
    cal = HOLIDAYS if holidays else CAL
    lg = ledger([inv("A", "100", due=DUE + timedelta(days=due), issued=DUE - timedelta(days=90))])
    day = DUE + timedelta(days=start)
    state = evaluate(lg, pol, cal, day, {}, with_state=True).states["A"]
    first = evaluate(lg, pol, cal, day, {}, with_positions=True)
    reached = {x.column_id for x in first.crossings}
    for k in range(1, 60):
        later = day + timedelta(days=k)
        ev = evaluate(lg, pol, cal, later, {}, with_positions=True)
        now_reached = {x.column_id for x in ev.crossings}
        if state.next_on is None or later < state.next_on:
            assert now_reached == reached, (later, state)
        elif later == state.next_on:
            assert now_reached > reached, (later, state)
        days = ev.positions["A"][0]
        assert (days > 0) == (later >= state.overdue_from), (later, state)


def test_the_state_key_changes_with_the_policy_and_the_calendar():
    key = state_key(policy(), CAL, DUE)
    assert key == state_key(policy(), CAL, DUE + timedelta(days=30))
    assert key != state_key(WORKING, CAL, DUE)
    assert key != state_key(policy(), HOLIDAYS, DUE)
    assert key != state_key(policy(), CAL, date(DUE.year + 1, 1, 1))  # the calendar window moves once a year


@settings(max_examples=100, deadline=None)
@given(dues=st.lists(st.integers(-1500, 400), min_size=1, max_size=30), as_of=st.integers(-30, 30))
def test_days_past_due_from_the_running_count_are_the_calendars(dues, as_of):
    from robots.core.aging import _DaysPastDue

    day = DUE + timedelta(days=as_of)
    count = _DaysPastDue(HOLIDAYS, day)
    for due in dues:  # in any order: the running count grows both ways
        d = DUE + timedelta(days=due)
        assert count(d, DayCount.WORKING) == HOLIDAYS.days_past_due(d, day)
        assert count(d, DayCount.CALENDAR) == (day - d).days
