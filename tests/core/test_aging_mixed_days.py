"""A group counted in calendar days with one column counted in working days ("7 working days overdue")."""

from datetime import date, timedelta

from robots.core.aging import evaluate
from robots.core.domain import AgingPolicy, Column, DayCount, GroupSchedule
from robots.core.workdays import WorkCalendar
from tests.builders import D, inv, ledger

DUE = date(2026, 3, 10)  # a Tuesday
COLUMNS = (
    Column("overdue_2", 2, "demand"),
    Column("overdue_7wd", 7, "notice", days=DayCount.WORKING),
    Column("overdue_10", 10, "claim"),
)
# Weekends are off, and so is a long holiday from 2026-03-16 to 2026-03-20 (to make working days lag).
HOLIDAY = {DUE + timedelta(days=n) for n in range(6, 11)}
CAL = WorkCalendar(lambda d: d.weekday() < 5 and d not in HOLIDAY)


def policy() -> AgingPolicy:
    return AgingPolicy(groups={"default": GroupSchedule("default", DayCount.CALENDAR, COLUMNS)},
                       tolerance=D("1.00"))


def crossings(days: range, cal: WorkCalendar = CAL) -> list[tuple[date, str, str]]:
    history: dict = {}
    out = []
    for n in days:
        day = DUE + timedelta(days=n)
        ev = evaluate(ledger([inv("A", "100")]), policy(), cal, day, history)
        for x in ev.crossings:
            history[(x.invoice_id, x.epoch)] = max(history.get((x.invoice_id, x.epoch), x.offset), x.offset)
            out.append((day, x.column_id, x.status))
    return out


def test_the_working_day_column_waits_for_seven_working_days_in_a_calendar_group():
    plain = WorkCalendar(lambda d: d.weekday() < 5)
    got = crossings(range(0, 12), plain)
    # due Tue 10th: 7 working days after it is Thu 19th (9 calendar days); 10 calendar days is Fri 20th
    assert got == [(date(2026, 3, 12), "overdue_2", "run"), (date(2026, 3, 19), "overdue_7wd", "run"),
                   (date(2026, 3, 20), "overdue_10", "run")]


def test_when_holidays_push_the_working_day_column_past_a_later_calendar_column_it_never_goes_back():
    # With the holiday week, 7 working days come only on 2026-03-27; the 10-day claim goes out on the 20th first
    # and the penalty notice (a lower column) is never sent after the claim.
    got = crossings(range(0, 25))
    assert got == [(date(2026, 3, 12), "overdue_2", "run"), (date(2026, 3, 20), "overdue_10", "run")]


def test_a_first_evaluation_late_catches_up_only_the_columns_reached_in_their_own_days():
    ev = evaluate(ledger([inv("A", "100")]), policy(), CAL, DUE + timedelta(days=11), {})
    assert [(x.column_id, x.status) for x in ev.crossings] == [("overdue_2", "skipped"), ("overdue_10", "run")]
