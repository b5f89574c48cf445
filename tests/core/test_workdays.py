from datetime import date

import pytest

from robots.core.workdays import production_calendar


@pytest.fixture(scope="module")
def ru():
    return production_calendar("RU")


def test_russian_calendar_knows_transferred_days_off_and_working_saturdays(ru):
    assert not ru.is_working(date(2026, 1, 9))  # day off substituted from 03.01.2026
    assert ru.is_working(date(2025, 11, 1))  # a working Saturday
    assert not ru.is_working(date(2025, 11, 3))


def test_a_debt_due_on_friday_is_one_working_day_overdue_on_monday_and_zero_on_saturday(ru):
    due = date(2026, 3, 13)  # Friday
    assert ru.days_past_due(due, date(2026, 3, 14)) == 0
    assert ru.days_past_due(due, date(2026, 3, 16)) == 1


def test_days_before_due_count_working_days_from_as_of_up_to_the_due_date(ru):
    due = date(2026, 3, 19)  # Thursday
    assert ru.days_past_due(due, date(2026, 3, 16)) == -3  # Mon, Tue, Wed
    assert ru.days_past_due(due, date(2026, 3, 19)) == 0


def test_new_year_holidays_do_not_count(ru):
    # due 30.12.2025; 31.12 is a day off in 2025? the official 2026 calendar: 01-11.01 off, 12.01 works
    assert ru.days_past_due(date(2026, 1, 2), date(2026, 1, 12)) == 1


def test_extra_non_working_and_working_days_override_the_official_calendar():
    cal = production_calendar("RU", extra_non_working=[date(2026, 3, 16)], extra_working=[date(2026, 3, 14)])
    assert not cal.is_working(date(2026, 3, 16))
    assert cal.is_working(date(2026, 3, 14))
    assert cal.days_past_due(date(2026, 3, 13), date(2026, 3, 16)) == 1  # only the Saturday counts
