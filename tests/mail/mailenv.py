"""The end-to-end environment of the mail tests: the repository's config with an email: section pointing at the
test SMTP server and its own scenario (render → sign → archive → send_email → task)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from connectors.files.ledger_csv import write_ledger_csv
from robots.config import load_config
from robots.engine.services import services_for
from robots.store import Store
from tests.conftest import install_pki, use_csv_ledger
from tests.e2e.conftest import DUE, REPO, simple_ledger

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, a Thursday
AS_OF = DUE + timedelta(days=2)                           # overdue_2: the pre-trial demand
SEND = {"kind": "send_email", "document": "demand",
        "subject": "Досудебное требование по договору {{ contract.number }}",
        "body": "Уважаемые господа!\n\n{{ counterparty.name }}, просим погасить {{ total_open }} руб.\n"}


def edit_yaml(path: Path, change) -> None:
    yaml = YAML()
    data = yaml.load(path.read_text(encoding="utf-8"))
    change(data)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)


SCENARIO = {"title": "Досудебное требование по почте", "steps": [
    {"kind": "render", "id": "demand", "template": "pretrial_demand.j2", "title": "Досудебное требование"},
    {"kind": "sign", "document": "demand", "officer": "head_of_sales"},
    {"kind": "archive", "document": "demand"},
    dict(SEND),
    {"kind": "task", "role": "head_of_sales", "title": "Проконтролировать оплату: {{ counterparty.name }}"},
]}


@pytest.fixture
def env(tmp_path: Path, officer_pki, smtp_server):
    """The repository's config with its own scenarios folder (one scenario: render → sign → archive → send_email →
    task), so that the test does not depend on how the shipped scenarios evolve."""
    shutil.copy2(REPO / "schedules.yaml", tmp_path / "schedules.yaml")
    shutil.copytree(REPO / "scenarios" / "templates", tmp_path / "templates")
    (tmp_path / "mail-scenarios").mkdir()
    with (tmp_path / "mail-scenarios" / "mail_demand.yaml").open("w", encoding="utf-8") as f:
        YAML().dump(SCENARIO, f)
    use_csv_ledger(tmp_path)
    install_pki(tmp_path, officer_pki)
    write_ledger_csv(simple_ledger(2), tmp_path / "var" / "ledger")

    def settings(s):
        s["paths"].update(scenarios="mail-scenarios", templates="templates")
        s["groups"] = {"default": {"days": "calendar", "columns": [
            {"id": "overdue_2", "offset": 2, "scenario": "mail_demand", "title": "2 дня просрочки"}]}}
        s.pop("events", None)
        s["email"] = {"smtp": {"host": smtp_server.host, "port": smtp_server.port, "security": "none",
                               "timeout_seconds": 5},
                      "sender": "ООО «Арботс Демо» <debt@arbots.example>"}
    edit_yaml(tmp_path / "schedules.yaml", settings)
    return tmp_path


def _open(root: Path):
    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())
    return config, store, services_for(config, store)
