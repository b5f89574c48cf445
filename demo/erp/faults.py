"""Fault injection for the demo accounting system: make a page fail, stall, lie or break, on purpose.

Tests of the connectors configure faults on ``app.state.erp.faults`` while the server runs::

    faults = app.state.erp.faults
    faults.fail("invoices", page=2, status=503, times=2)     # page 2 answers 503 twice, then works
    faults.rate_limit("invoices", retry_after=3)             # the next invoices page answers 429, Retry-After: 3
    faults.delay("payments", 2.5, page=1)                    # page 1 of payments answers 2.5 s late, once
    faults.html("contracts", times=None)                     # every contracts page is an HTML login page
    faults.malformed("invoices", page=3)                     # page 3 is cut-off JSON, once
    faults.corrupt("invoices", "INV-00007", "amount", "12,34,56")   # that record shows this value until clear()
    faults.corrupt("payments", "PAY-00001", "date", DROP)    # ... or lacks the field
    faults.apply_then_delay("block", 5.0)                    # the next block is applied, then answered 5 s late
    faults.clear()

A *target* is an entity (``counterparties``, ``contracts``, ``invoices``, ``payments``) for list pages, or a
write-back action (``block``, ``unblock``, ``notes``). ``page`` is the 1-based page of the request (for cursor
and offset paging: ``offset // size + 1``); None matches every page. ``times`` is how many requests the fault
hits before it is used up (None: every request). ``surface`` chooses the JSON API (``api``, the default), the
HTML pages (``ui``) or both (``any``). Thread-safe: tests configure faults while the server thread reads them.
"""

from __future__ import annotations

import enum
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any


class FaultKind(enum.StrEnum):
    STATUS = "status"  # answer with an HTTP error status
    RATE_LIMIT = "rate_limit"  # 429 Too Many Requests with Retry-After
    DELAY = "delay"  # answer late (combines with the others)
    HTML = "html"  # a 200 HTML login page instead of JSON
    MALFORMED = "malformed"  # a 200 application/json body that is not valid JSON
    APPLY_LATE = "apply_late"  # a write-back is applied, then answered late (a client's read timeout)


class Surface(enum.StrEnum):
    API = "api"
    UI = "ui"
    ANY = "any"


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Value for :meth:`Faults.corrupt` that removes the field from the record instead of changing it.
DROP: Any = _Drop()


@dataclass
class Fault:
    kind: FaultKind
    target: str
    page: int | None = None
    surface: Surface = Surface.API
    #: Requests left before the fault is used up; None = every request.
    remaining: int | None = 1
    status: int = 503
    retry_after: int = 1
    seconds: float = 0.0

    def matches(self, surface: Surface, target: str, page: int | None) -> bool:
        return (self.target == target and (self.surface is Surface.ANY or self.surface is surface)
                and (self.page is None or self.page == page) and (self.remaining is None or self.remaining > 0))


class Faults:
    """The faults configured on one demo accounting system, plus a count of the requests it served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._corrupt: dict[str, dict[str, dict[str, Any]]] = {}
        #: Requests served, by (surface, target, page); failed ones included. For asserting retries.
        self.hits: Counter[tuple[str, str, int | None]] = Counter()

    def _add(self, fault: Fault) -> Fault:
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("times must be at least 1, or None for every request")
        if fault.page is not None and fault.page < 1:
            raise ValueError("page is 1-based")
        with self._lock:
            self._faults.append(fault)
        return fault

    def fail(self, target: str, *, page: int | None = None, status: int = 503, times: int | None = 1,
             surface: str = "api") -> Fault:
        """Answer ``status`` (with a JSON or HTML error body) instead of the page."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400..599), not {status}")
        return self._add(Fault(FaultKind.STATUS, target, page, Surface(surface), times, status=status))

    def rate_limit(self, target: str, *, page: int | None = None, retry_after: int = 1, times: int | None = 1,
                   surface: str = "api") -> Fault:
        """Answer 429 with ``Retry-After: <retry_after>`` (seconds)."""
        return self._add(Fault(FaultKind.RATE_LIMIT, target, page, Surface(surface), times, status=429,
                               retry_after=retry_after))

    def delay(self, target: str, seconds: float, *, page: int | None = None, times: int | None = 1,
              surface: str = "api") -> Fault:
        """Answer ``seconds`` late; the answer itself is normal unless another fault hits too."""
        return self._add(Fault(FaultKind.DELAY, target, page, Surface(surface), times, seconds=seconds))

    def html(self, target: str, *, page: int | None = None, times: int | None = 1) -> Fault:
        """Answer 200 with an HTML login page instead of JSON (what a lost session looks like)."""
        return self._add(Fault(FaultKind.HTML, target, page, Surface.API, times))

    def malformed(self, target: str, *, page: int | None = None, times: int | None = 1) -> Fault:
        """Answer 200 ``application/json`` with a body cut off in the middle."""
        return self._add(Fault(FaultKind.MALFORMED, target, page, Surface.API, times))

    def apply_then_delay(self, target: str, seconds: float, *, times: int | None = 1) -> Fault:
        """For a write-back action (``block``, ``unblock``, ``notes``): apply the request, then answer ``seconds``
        late. A client whose read timeout is shorter sees a timeout for a write that took effect."""
        if target not in ("block", "unblock", "notes"):
            raise ValueError(f"apply_then_delay is for write-back actions (block, unblock, notes), not {target!r}")
        return self._add(Fault(FaultKind.APPLY_LATE, target, None, Surface.API, times, seconds=seconds))

    def corrupt(self, entity: str, record_id: str, field: str, value: Any) -> None:
        """Show ``value`` (or no field at all, for :data:`DROP`) for one field of one record, until :meth:`clear`.

        In JSON the value is written as its JSON type (a str stays a string); in HTML the cell shows ``str(value)``
        both as text and as ``data-value``.
        """
        with self._lock:
            self._corrupt.setdefault(entity, {}).setdefault(record_id, {})[field] = value

    def clear(self) -> None:
        """Remove every fault and corruption (the hit counts stay)."""
        with self._lock:
            self._faults.clear()
            self._corrupt.clear()

    def take(self, surface: Surface, target: str, page: int | None) -> tuple[float, Fault | None]:
        """Count the request and use up what hits it: (seconds to wait, the fault that replaces the answer)."""
        with self._lock:
            self.hits[(surface.value, target, page)] += 1
            wait, answer = 0.0, None
            for f in self._faults:
                if not f.matches(surface, target, page):
                    continue
                if f.kind is FaultKind.DELAY:
                    wait += f.seconds
                elif answer is None:
                    answer = f
                else:
                    continue
                if f.remaining is not None:
                    f.remaining -= 1
            self._faults = [f for f in self._faults if f.remaining is None or f.remaining > 0]
            return wait, answer

    def corruptions(self, entity: str) -> dict[str, dict[str, Any]]:
        """A copy of the corrupted fields of ``entity``'s records: {record id: {field: value}}."""
        with self._lock:
            return {rid: dict(v) for rid, v in self._corrupt.get(entity, {}).items()}
