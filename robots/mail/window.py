"""The sending window (pure): when letters to debtors may go out, from ``email.sending_window``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from robots.mail.config import SendingWindow


def next_window_start(now: datetime, window: SendingWindow, is_working: Callable[[date], bool]) -> datetime | None:
    """None when ``now`` (aware) is inside the sending window; otherwise when the next window opens, in UTC."""
    zone = ZoneInfo(window.timezone)
    local = now.astimezone(zone)

    def open_day(day: date) -> bool:
        return not window.working_days_only or is_working(day)

    if open_day(local.date()) and window.start <= local.time() < window.end:
        return None
    day = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    for _ in range(366):
        if open_day(day):
            return datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError("no working day within a year: check calendar: in schedules.yaml")
