"""End-to-end fixtures: a self-contained workdir (config, scenarios, ledger CSVs) and a CLI runner."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.files.ledger_csv import write_ledger_csv
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from tests.conftest import install_pki, use_csv_ledger

REPO = Path(__file__).resolve().parents[2]
DUE = date(2026, 3, 10)


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
    shutil.copy2(REPO / "schedules.yaml", tmp_path / "schedules.yaml")
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    use_csv_ledger(tmp_path)
    install_pki(tmp_path, officer_pki)
    return Workdir(tmp_path)


def simple_ledger(contracts: int = 3, due: date = DUE, paid: dict[str, str] | None = None) -> Ledger:
    """``contracts`` customers with one contract each; contract 0 has two invoices, the others one."""
    cps, cts, invs = [], [], []
    for n in range(contracts):
        cps.append(Counterparty(f"P{n:03d}", f"ООО «Клиент {n}»", f"77{n:08d}", f"c{n}@example.ru", "default"))
        cts.append(Contract(f"C{n:03d}", f"{n}/2026-Б", f"P{n:03d}", 30, "RUB", Decimal("0.001")))
        invs.append(Invoice(f"I{n:03d}", f"{100 + n}", f"C{n:03d}", due - timedelta(days=30), due,
                            Decimal("1000.00") + n))
    invs.append(Invoice("I-extra", "999", "C000", due - timedelta(days=30), due, Decimal("250.50")))
    pays = tuple(Payment(f"PAY-{i}", next(x.contract_id for x in invs if x.id == i), due - timedelta(days=10),
                         Decimal(a), i) for i, a in (paid or {}).items())
    return Ledger(tuple(cps), tuple(cts), tuple(invs), pays)
