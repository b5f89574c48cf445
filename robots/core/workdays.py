"""Days past due, in calendar or in working days (pure).

A working-day count needs to know which days are working days. :class:`WorkCalendar` takes that as a predicate,
so the engine stays pure; :func:`production_calendar` builds the predicate from the ``holidays`` package, which
knows the Russian production calendar, its transferred days off and its working Saturdays.

The definitions, which make both counts agree on working days:

* on or after the due date, days past due = the working days in (due, as_of];
* before the due date, days past due = minus the working days in [as_of, due).

So a debt due on Friday is 1 working day overdue on Monday, and on Saturday it is still 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from functools import lru_cache

from robots.core.domain import DayCount

_ONE = timedelta(days=1)


class WorkCalendar:
    """Counts working days with a memoised ``is_working`` predicate."""

    def __init__(self, is_working: Callable[[date], bool]):
        self._is_working = lru_cache(maxsize=None)(is_working)

    def is_working(self, day: date) -> bool:
        return self._is_working(day)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in the half-open range [start, end)."""
        n, d = 0, start
        while d < end:
            n += self._is_working(d)
            d += _ONE
        return n

    def days_past_due(self, due: date, as_of: date) -> int:
        if as_of >= due:
            return self.working_days_between(due + _ONE, as_of + _ONE)
        return -self.working_days_between(as_of, due)


def calendar_days_past_due(due: date, as_of: date) -> int:
    return (as_of - due).days


class DaysPastDue:
    """Days past due for one evaluation day, memoised per due date (there are few distinct due dates)."""

    def __init__(self, calendar: WorkCalendar, as_of: date):
        self._calendar = calendar
        self._as_of = as_of
        self._working: dict[date, int] = {}

    def __call__(self, due: date, days: DayCount) -> int:
        if days is DayCount.CALENDAR:
            return (self._as_of - due).days
        cached = self._working.get(due)
        if cached is None:
            cached = self._working[due] = self._calendar.days_past_due(due, self._as_of)
        return cached


def production_calendar(
    country: str = "RU",
    extra_non_working: Iterable[date] = (),
    extra_working: Iterable[date] = (),
) -> WorkCalendar:
    """A calendar from the ``holidays`` package plus the company's own exceptions.

    ``extra_non_working`` adds days off (a regional holiday, a company shutdown); ``extra_working`` turns days off
    into working days (a working Saturday the package does not know yet). Extra working days win.
    """
    import holidays  # the data package; imported here so the engine can run with any predicate

    official = holidays.country_holidays(country)
    off = frozenset(extra_non_working)
    on = frozenset(extra_working)
    checker = getattr(official, "is_working_day", None)

    def is_working(day: date) -> bool:
        if day in on:
            return True
        if day in off:
            return False
        if checker is not None:
            return bool(checker(day))
        return day.weekday() < 5 and day not in official

    return WorkCalendar(is_working)
