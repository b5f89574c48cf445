"""The daemon's fixtures: a world whose triggers a test sets, and a daemon on a manual clock with fake work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from robots.config import load_config
from robots.engine import daemon as daemon_module
from robots.engine.daemon import Daemon
from robots.engine.services import services_for
from robots.store import Store
from robots.support.clock import ManualClock
from tests.builders import simple_ledger
from tests.worlds import edit_settings, open_world, shipped_world

#: 12:00 in Moscow on a Tuesday.
NOON = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def daemon_settings(root: Path, **daemon: Any) -> None:
    """Set the copied config's daemon section (http off unless given)."""

    def change(s: Any) -> None:
        s["daemon"] = {"timezone": "Europe/Moscow", "http": {"enabled": False}, **daemon}

    edit_settings(root, change)


class FakeWork:
    """What the daemon calls, recorded instead of done: ticks (as_of), housekeeping jobs, runner passes."""

    def __init__(self) -> None:
        self.ticks: list[tuple[str, Any]] = []
        self.jobs: list[str] = []
        self.passes: list[datetime] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def tick(services: Any, as_of: Any, now: datetime, **kw: Any) -> Any:
            from robots.engine.tick import TickReport

            self.ticks.append((as_of.isoformat(), now))
            return TickReport(as_of=as_of)

        def run_job(name: str, *args: Any, **kw: Any) -> None:
            self.jobs.append(name)

        def runner_pass(services: Any, now: datetime, **kw: Any) -> Any:
            from robots.engine.runner import RunnerReport

            self.passes.append(now)
            return RunnerReport()

        monkeypatch.setattr(daemon_module, "tick", tick)
        monkeypatch.setattr(daemon_module, "run_job", run_job)
        monkeypatch.setattr(daemon_module, "runner_pass", runner_pass)


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> FakeWork:
    w = FakeWork()
    w.install(monkeypatch)
    return w


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return shipped_world(tmp_path)


class Daemons:
    """Daemons on one store, each on the same manual clock; closed at the end."""

    def __init__(self, root: Path):
        self.root = root
        self.clock = ManualClock(NOON)
        self.store: Store | None = None
        self.made: list[Daemon] = []

    def make(self, **kw: Any) -> Daemon:
        config = load_config(self.root / "schedules.yaml")
        if self.store is None:
            self.store = Store.open(config.database_url())
        d = Daemon(services_for(config, self.store, self.clock), clock=self.clock, beater=False,
                   loader=lambda: load_config(self.root / "schedules.yaml"), **kw)
        self.made.append(d)
        return d

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


@pytest.fixture
def daemons(world: Path):
    d = Daemons(world)
    yield d
    d.close()


#: The moment of the ``ticked`` world's tick: inside the officers' validity (tests/pki.py).
TICKED_AT = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def ticked(tmp_path: Path, officer_pki: Any):
    """(config, store, services) of the shipped world after one real tick at TICKED_AT: two letters, two days
    overdue, rendered, signed, archived and e-mailed."""
    from robots.engine.tick import tick

    as_of = TICKED_AT.date()
    root = shipped_world(tmp_path, pki=officer_pki, ledger=simple_ledger(2, due=as_of - timedelta(days=2)))
    config, store, services = open_world(root)
    report = tick(services, as_of, TICKED_AT)
    assert len(report.runner.done) == 2
    yield config, store, services
    services.close()
    store.close()
