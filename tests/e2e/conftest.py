"""End-to-end fixtures: a self-contained workdir (config, scenarios, ledger CSVs) and a CLI runner."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.files.ledger_csv import write_ledger_csv
from robots.core.domain import Ledger
from tests.worlds import REPO, shipped_world


@dataclass
class Workdir:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "schedules.yaml"

    @property
    def ledger_dir(self) -> Path:
        return self.root / "var" / "ledger"

    @property
    def db(self) -> Path:
        return self.root / "var" / "arbots.db"

    @property
    def archive(self) -> Path:
        return self.root / "var" / "archive"

    def write_ledger(self, ledger: Ledger, dialect: str = "utf8") -> None:
        write_ledger_csv(ledger, self.ledger_dir, dialect)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(REPO / "run_robots.py"), "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, str(REPO / "run_robots.py"), "--config", str(self.config), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.root)

    def count(self, sql: str) -> int:
        """Read the SQLite store directly (a plain reader; WAL lets it look while a tick writes)."""
        if not self.db.exists():
            return 0
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
            try:
                return conn.execute(sql).fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    def archived_pdfs(self) -> list[Path]:
        return sorted(self.archive.rglob("*.pdf")) if self.archive.exists() else []


@pytest.fixture
def workdir(tmp_path: Path, officer_pki) -> Workdir:
    """The shipped config and scenarios in tmp_path, reading CSV files (Workdir.write_ledger), signing with the
    session's officer PKI."""
    return Workdir(shipped_world(tmp_path, pki=officer_pki))

