"""An archive made by the real robots: ticks over a small ledger sign and archive real letters.

The world is built once per session and copied for each test, so a test may tamper with its copy freely.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from robots.config import load_config
from robots.engine.tick import tick
from robots.store import Store
from tests.builders import DUE, simple_ledger
from tests.worlds import open_world, shipped_world

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
#: Reminder (-3), request (1), demand (2), legal notice (10): four documents per contract, over four ticks.
DAYS = (-3, 1, 2, 10)


@dataclass
class World:
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "schedules.yaml"

    @property
    def archive(self) -> Path:
        return self.root / "var" / "archive"

    def open(self):
        config = load_config(self.config_path)
        return config, Store.open(config.database_url())

    def bags(self) -> list[Path]:
        return sorted(p.parent for p in self.archive.rglob("bagit.txt"))

    def pdfs(self) -> list[Path]:
        return sorted(self.archive.rglob("*.pdf"))


@pytest.fixture(scope="session")
def archive_world_template(tmp_path_factory, officer_pki) -> Path:
    root = tmp_path_factory.mktemp("archive-world")
    shipped_world(root, pki=officer_pki, ledger=simple_ledger(3))
    _, store, services = open_world(root)
    try:
        for offset in DAYS:
            report = tick(services, DUE + timedelta(days=offset), NOW + timedelta(days=offset))
            assert not report.runner.failed and not report.runner.retry
    finally:
        services.close()
        store.close()
    return root


@pytest.fixture
def world(archive_world_template: Path, tmp_path: Path) -> World:
    root = tmp_path / "world"
    shutil.copytree(archive_world_template, root)
    return World(root)
