"""The clock the engine asks for the time of leases, heartbeats, retries and triggers.

Business time (``as_of``, the ``now`` recorded on a run) stays an argument everywhere. What needs the *current*
time to stay correct — a lease taken at claim time and renewed while a step runs, a circuit breaker's cool-down,
the daemon's next trigger — asks a :class:`Clock` object. Production passes :class:`SystemClock` (built only by the
daemon and the CLI edge); tests drive a :class:`ManualClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (a manual clock may return at once)."""
        ...


class SystemClock:
    """The wall clock. Only the daemon and the CLI edge construct one."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to (tests); thread-safe. ``sleep`` advances it."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)


__all__ = ["Clock", "ManualClock", "SystemClock"]
