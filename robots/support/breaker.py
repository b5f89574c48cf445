"""Circuit breakers, one per external system (a connector id, ``smtp``, ``tsa``, ``database``), on a Clock.

A breaker keeps a dead system from being hammered and turns "it is down" into a wait instead of a failure:

* **closed**: calls go through. Each failure that is an outage (no connection, a timeout, a 5xx or 4xx-temporary
  after the adapter's own retries) counts; ``threshold`` consecutive ones **open** the breaker;
* **open**: calls do not go through; they raise :class:`~robots.core.errors.Unavailable` at once, with
  ``retry_at`` = the moment the cool-down ends;
* **half-open**: the first call after the cool-down is let through as a probe (the others keep waiting). Success
  closes the breaker; failure opens it again for another cool-down.

A call that fails with something else (the server answered and refused: a 5xx for a bad letter, a 400) proves the
system is up and counts as a success of the breaker. The breaker is in-process state; what several daemons see
(the shared failure count, the alerts) is the :class:`BreakerListener`'s job (``robots.engine.outages``).
Reasons are scrubbed of passwords and tokens before they are kept or handed on.
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from robots.core.errors import Unavailable
from robots.support.clock import Clock
from robots.support.redact import hide_url_password

T = TypeVar("T")

#: Longest reason kept (an error page quoted in full helps nobody at 3 a.m.).
MAX_REASON = 500
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_KEYVAL = re.compile(r"(?i)\b(password|passwd|token|api_?key|secret)=([^&\s]+)")


def scrub(text: str, limit: int = MAX_REASON) -> str:
    """``text`` without URL passwords, Authorization values or ``password=...`` pairs, at most ``limit`` long."""
    text = hide_url_password(text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} ***", text)
    text = _KEYVAL.sub(lambda m: f"{m.group(1)}=***", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerListener(Protocol):
    """Told of every outcome (outside the breaker's lock): records the shared state and sends the alerts."""

    def failed(self, system: str, reason: str, failures: int, state: BreakerState) -> None: ...

    def succeeded(self, system: str, failures: int) -> None:
        """A call succeeded; ``failures`` is the streak it ended (0: there was none in this process)."""
        ...


#: Classifies an exception of a guarded call: the outage's reason, or None when it is not an outage.
Classifier = Callable[[BaseException], str | None]


def only_unavailable(exc: BaseException) -> str | None:
    """The default classifier: only :class:`Unavailable` (the adapter already decided) is an outage."""
    return exc.reason or str(exc) if isinstance(exc, Unavailable) else None


class Breaker:
    def __init__(self, system: str, clock: Clock, *, threshold: int = 3, cooldown: float = 300.0,
                 listener: BreakerListener | None = None):
        if threshold < 1 or cooldown < 0:
            raise ValueError("a breaker needs threshold >= 1 and cooldown >= 0")
        self.system = system
        self.clock = clock
        self.threshold = threshold
        self.cooldown = timedelta(seconds=cooldown)
        self.listener = listener
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at: datetime | None = None
        self._last_error = ""
        self._probing = False

    # -- what it is
    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    @property
    def last_error(self) -> str:
        with self._lock:
            return self._last_error

    def retry_at(self) -> datetime | None:
        """When a call may go through again: the end of the cool-down while open, else None (now)."""
        with self._lock:
            return self._retry_at_locked()

    def _retry_at_locked(self) -> datetime | None:
        if self._state is BreakerState.CLOSED or self._opened_at is None:
            return None
        return self._opened_at + self.cooldown

    def _unavailable_locked(self) -> Unavailable:
        n = self._failures
        return Unavailable(self.system, self._retry_at_locked(),
                           f"circuit open after {n} consecutive failure{'s' if n != 1 else ''}"
                           + (f"; last: {self._last_error}" if self._last_error else ""))

    # -- the three moves
    def before(self) -> None:
        """Let a call through, or raise Unavailable (open; or half-open with the probe already under way)."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            if self._state is BreakerState.OPEN:
                retry_at = self._retry_at_locked()
                if retry_at is not None and self.clock.now() >= retry_at:
                    self._state, self._probing = BreakerState.HALF_OPEN, True
                    return  # this caller is the probe
            elif not self._probing:  # half-open and the probe gave up without an outcome
                self._probing = True
                return
            raise self._unavailable_locked()

    def success(self) -> None:
        with self._lock:
            ended = self._failures
            self._state, self._failures, self._opened_at, self._probing = BreakerState.CLOSED, 0, None, False
        if self.listener is not None:
            self.listener.succeeded(self.system, ended)

    def failure(self, reason: str) -> Unavailable:
        """Count an outage; the Unavailable to raise (``retry_at``: the cool-down's end once open, else a short
        backoff that doubles with the failures)."""
        reason = scrub(reason)
        with self._lock:
            self._failures += 1
            self._last_error = reason
            now = self.clock.now()
            if self._state is BreakerState.HALF_OPEN or (
                    self._state is BreakerState.CLOSED and self._failures >= self.threshold):
                self._state, self._opened_at = BreakerState.OPEN, now
            self._probing = False
            state, failures = self._state, self._failures
            if state is BreakerState.OPEN:
                exc = self._unavailable_locked()
            else:
                backoff = min(self.cooldown.total_seconds(), 30.0 * 2 ** (failures - 1))
                exc = Unavailable(self.system, now + timedelta(seconds=backoff), reason)
        if self.listener is not None:
            self.listener.failed(self.system, reason, failures, state)
        return exc

    def call(self, fn: Callable[[], T], outage: Classifier = only_unavailable) -> T:
        """``fn()`` through the breaker. An exception that ``outage`` classifies as an outage counts as a failure
        and becomes :class:`Unavailable`; any other outcome (a value, or a refusal) proves the system up."""
        self.before()
        try:
            result = fn()
        except BaseException as exc:
            reason = outage(exc) if isinstance(exc, Exception) else None
            if reason is None:
                if isinstance(exc, Exception):
                    self.success()
                else:  # KeyboardInterrupt, SystemExit: no outcome; free the probe
                    with self._lock:
                        self._probing = False
                raise
            raise self.failure(reason) from None
        self.success()
        return result


class Breakers:
    """The breakers of one process, by system, made on first use with the same settings and listener."""

    def __init__(self, clock: Clock, *, threshold: int = 3, cooldown: float = 300.0,
                 listener: BreakerListener | None = None):
        self.clock, self.threshold, self.cooldown, self.listener = clock, threshold, cooldown, listener
        self._lock = threading.Lock()
        self._by_system: dict[str, Breaker] = {}

    def __call__(self, system: str) -> Breaker:
        with self._lock:
            found = self._by_system.get(system)
            if found is None:
                found = self._by_system[system] = Breaker(system, self.clock, threshold=self.threshold,
                                                          cooldown=self.cooldown, listener=self.listener)
            return found

    def all(self) -> list[Breaker]:
        with self._lock:
            return list(self._by_system.values())


__all__ = ["Breaker", "BreakerListener", "BreakerState", "Breakers", "Classifier", "only_unavailable", "scrub"]
