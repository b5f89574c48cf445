"""The sending window (pure): no mail at night or on non-working days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from robots.core.workdays import production_calendar
from robots.mail.config import SendingWindow
from robots.mail.window import next_window_start

MSK = ZoneInfo("Europe/Moscow")
RU = production_calendar("RU").is_working
WINDOW = SendingWindow()  # 09:00-19:00 Europe/Moscow, working days only


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)


def test_inside_the_window_the_letter_goes():
    assert next_window_start(msk(2026, 3, 12, 9, 0), WINDOW, RU) is None
    assert next_window_start(msk(2026, 3, 12, 18, 59), WINDOW, RU) is None


def test_friday_evening_waits_for_monday_morning():
    assert date(2026, 3, 13).weekday() == 4
    opens = next_window_start(msk(2026, 3, 13, 19, 30), WINDOW, RU)
    assert opens == msk(2026, 3, 16, 9, 0) and opens.tzinfo == UTC


def test_early_morning_waits_for_nine_the_same_day():
    assert next_window_start(msk(2026, 3, 12, 6, 15), WINDOW, RU) == msk(2026, 3, 12, 9, 0)


def test_a_holiday_waits_for_the_next_working_day():
    # 8 March 2026 is a Sunday, so the day off moves to Monday 9 March
    assert not RU(date(2026, 3, 9))
    assert next_window_start(msk(2026, 3, 9, 11, 0), WINDOW, RU) == msk(2026, 3, 10, 9, 0)
    # the new-year holidays: from 31 Dec evening to the first working day of January
    first = min(d for d in (date(2027, 1, n) for n in range(1, 20)) if RU(d))
    assert next_window_start(msk(2026, 12, 30, 20, 0), WINDOW, RU) == datetime.combine(first, WINDOW.start, MSK)


def test_the_window_is_read_in_its_own_time_zone():
    # 06:30 UTC is 09:30 in Moscow: inside; 16:30 UTC is 19:30: outside
    assert next_window_start(datetime(2026, 3, 12, 6, 30, tzinfo=UTC), WINDOW, RU) is None
    assert next_window_start(datetime(2026, 3, 12, 16, 30, tzinfo=UTC), WINDOW, RU) == msk(2026, 3, 13, 9)


def test_all_days_when_working_days_only_is_off():
    every_day = SendingWindow(working_days_only=False)
    assert next_window_start(msk(2026, 3, 14, 12, 0), every_day, RU) is None  # a Saturday
    assert next_window_start(msk(2026, 3, 14, 12, 0), WINDOW, RU) == msk(2026, 3, 16, 9)


def test_a_window_must_be_ordered_and_in_a_known_zone():
    with pytest.raises(ValueError, match="must be before end"):
        SendingWindow(start="19:00", end="09:00")
    with pytest.raises(ValueError, match="unknown time zone"):
        SendingWindow(timezone="Mars/Olympus")
