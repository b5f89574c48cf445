"""Helpers of the workflow tests: a copy of the repository's schedules.yaml whose every scenario is the test's steps,
a CSV ledger of two contracts two days overdue, and the store on SQLite or PostgreSQL."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from connectors.files.ledger_csv import write_ledger_csv
from robots.config import load_config
from robots.store import Store
from tests.conftest import install_pki, use_csv_ledger
from tests.e2e.conftest import DUE, REPO, simple_ledger

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
#: Both contracts of simple_ledger(2) cross overdue_2 (pretrial_demand); C000 owes 1250.50, C001 1001.00.
AS_OF = DUE + timedelta(days=2)


def workflow_root(root: Path, steps: str, *, pki: Any = None,
                  settings: Callable[[dict], None] | None = None) -> Path:
    """``root`` with the repository's schedules.yaml and templates, every scenario being ``steps`` (a YAML list)."""
    shutil.copy2(REPO / "schedules.yaml", root / "schedules.yaml")
    use_csv_ledger(root)
    if pki is not None:
        install_pki(root, pki)
    shutil.copytree(REPO / "scenarios" / "templates", root / "scenarios" / "templates")
    text = (root / "schedules.yaml").read_text(encoding="utf-8")
    for name in set(re.findall(r"scenario: (\w+)", text)) | set(re.findall(r"^  (?:paid|promise_broken): (\w+)",
                                                                          text, re.M)):
        (root / "scenarios" / f"{name}.yaml").write_text(f"title: {name}\nsteps:\n{steps}", encoding="utf-8")
    if settings is not None:
        edit_settings(root, settings)
    write_ledger_csv(simple_ledger(2), root / "var" / "ledger")
    return root


def edit_settings(root: Path, change: Callable[[dict], None]) -> None:
    yaml = YAML()
    path = root / "schedules.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"))
    change(data)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)


def use_database(root: Path, backend: str, request: Any, monkeypatch: Any) -> None:
    """Point the copied config at PostgreSQL (a private schema) when ``backend`` says so; SQLite stays as is."""
    if backend != "postgresql":
        return
    from urllib.parse import quote

    url, schema = request.getfixturevalue("pg_schema")
    cfg = root / "schedules.yaml"
    text = cfg.read_text(encoding="utf-8")
    assert "url: sqlite:///var/arbots.db" in text
    cfg.write_text(text.replace("url: sqlite:///var/arbots.db", "url_env: ARBOTS_TEST_WORKFLOW_DB"), encoding="utf-8")
    monkeypatch.setenv("ARBOTS_TEST_WORKFLOW_DB", f"{url}?options={quote(f'-csearch_path={schema}')}")


def open_services(root: Path):
    from robots.engine.services import services_for

    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())
    return store, services_for(config, store)
