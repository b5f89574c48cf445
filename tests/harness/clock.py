"""A clock shared by a test and the daemons it starts: the simulated moment lives in a file the test writes.

The test advances it (steadily while a simulated day is worked through, by jumps between days); each daemon reads
it. ``sleep`` waits a short real moment, so a daemon's loop keeps turning while the test moves the time.
Production never constructs this clock: only tests/harness/daemon.py, started by tests, does.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from robots.support.clock import ManualClock


class FileClock:
    """Reads the simulated moment (POSIX seconds, UTC) from ``path``."""

    def __init__(self, path: Path):
        self.path = path

    def now(self) -> datetime:
        for _ in range(50):
            try:
                return datetime.fromtimestamp(float(self.path.read_text()), UTC)
            except (OSError, ValueError):  # the writer replaces the file atomically; a race is retried
                time.sleep(0.01)
        raise RuntimeError(f"cannot read the simulated clock {self.path}")

    def sleep(self, seconds: float) -> None:
        time.sleep(min(max(seconds, 0.0), 0.05))


class DrivenClock(ManualClock):
    """The test's side: a manual clock whose every move is written to ``path``; while ``running`` (between
    :meth:`start` and :meth:`stop`) it also moves ``rate`` simulated seconds per real one."""

    def __init__(self, path: Path, start: datetime, rate: float = 20.0):
        super().__init__(start)
        self.path, self.rate = path, rate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write(start)

    def _write(self, moment: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(moment.timestamp()))
        os.replace(tmp, self.path)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment
            self._write(moment)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self._write(self._now)
            return self._now

    def start(self) -> None:
        def run() -> None:
            last = time.monotonic()
            while not self._stop.wait(0.05):
                t = time.monotonic()
                self.advance((t - last) * self.rate)
                last = t

        self._thread = threading.Thread(target=run, name="driven-clock", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
