"""Worlds of the tests: the repository's config copied into a folder, with a CSV ledger instead of the demo
accounting system, the session's officer PKI and mail sink, and the store and services opened on it.

    shipped_world   the shipped schedules.yaml and scenarios as they are (the e2e, archive, BI, daemon tests)
    workflow_root   every scenario being the test's own steps (the step and runner tests)
    penalty_world   a signed letter on overdue_2 and the lawsuit decision on overdue_60 (the penalty steps)
    mail_world      one scenario render → sign → archive → send_email → task, mailing a test SMTP server

Pure values (ledgers, policies) are in tests/builders.py; the PKI in tests/pki.py; the SMTP servers in tests/smtp.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from connectors.files.ledger_csv import write_ledger_csv
from demo.pki import free_port
from robots.config import Config, load_config
from robots.core.domain import Ledger
from robots.store import Store
from tests.builders import DUE, simple_ledger

REPO = Path(__file__).resolve().parents[1]

#: The moment the world tests tick at (12:00 in Moscow, a Thursday), two days after DUE.
NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
#: Both contracts of simple_ledger(2) cross overdue_2 (pretrial_demand); C000 owes 1250.50, C001 1001.00.
AS_OF = DUE + timedelta(days=2)

#: The loopback port of the demo PKI in the repository's schedules.yaml; tests move it to a free port.
DEMO_PKI_ADDRESS = "127.0.0.1:8779"
#: The demo SMTP server of the repository's schedules.yaml; tests move it to the session's mail sink.
DEMO_SMTP = "{host: 127.0.0.1, port: 8781, security: none}"
#: The connector tests use when they write the ledger as CSV files (write_ledger_csv) instead of serving it.
CSV_CONNECTOR = {"id": "ledger", "kind": "file", "path": "var/ledger",
                 "write_back": {"journal": "var/write-back.csv"}}


class MailSink:
    """A real SMTP server (aiosmtpd) for the whole session that keeps every message it receives."""

    def __init__(self) -> None:
        import atexit

        from aiosmtpd.controller import Controller

        self.messages: list[bytes] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        atexit.register(self.controller.stop)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content)
        return "250 2.0.0 Ok: queued"


_SINK: list[MailSink] = []


def mail_sink() -> MailSink:
    if not _SINK:
        _SINK.append(MailSink())
    return _SINK[0]


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    """Load the YAML file, let ``change`` edit the data in place, write it back (comments and order kept)."""
    yaml = YAML()
    data = yaml.load(path.read_text(encoding="utf-8"))
    change(data)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)


def edit_settings(root: Path, change: Callable[[Any], None]) -> None:
    """edit_yaml on the copied config, root/schedules.yaml."""
    edit_yaml(root / "schedules.yaml", change)


def use_csv_ledger(root: Path) -> Path:
    """Make a copied config (root/schedules.yaml) read the ledger from CSV files in root/var/ledger, instead of the
    demo accounting system the repository's config names; return the folder."""

    def csv(settings: Any) -> None:
        settings["connectors"] = [{**CSV_CONNECTOR, "write_back": dict(CSV_CONNECTOR["write_back"])}]

    edit_settings(root, csv)
    return root / "var" / "ledger"


def install_pki(root: Path, pki: Any, *, window: bool = False) -> None:
    """Give a copied config (root/schedules.yaml) the session's PKI: its files in var/pki, its port in the URLs;
    and the session's mail sink as its SMTP server (the shipped scenarios e-mail every letter).

    The sending window is dropped unless ``window``: many tests tick through the CLI, whose ``now`` is the wall
    clock, and letters must not wait for 09:00 there (tests/mail and the simulation test the window)."""
    shutil.copytree(pki.folder, root / "var" / "pki")
    config = root / "schedules.yaml"
    text_ = config.read_text(encoding="utf-8")
    assert DEMO_PKI_ADDRESS in text_, "schedules.yaml no longer names the demo PKI's address"
    text_ = text_.replace(DEMO_PKI_ADDRESS, f"127.0.0.1:{pki.port}")
    if DEMO_SMTP in text_:
        text_ = text_.replace(DEMO_SMTP, f"{{host: 127.0.0.1, port: {mail_sink().port}, security: none}}")
    if not window:
        text_ = re.sub(r"(?m)^  window: .*$", "  window: null", text_)
    config.write_text(text_, encoding="utf-8")


def shipped_world(root: Path, *, pki: Any = None, scenarios: bool = True, csv: bool = True,
                  ledger: Ledger | None = None) -> Path:
    """The repository's schedules.yaml in ``root`` with its scenarios (or, without ``scenarios``, only their
    templates), reading a CSV ledger (``csv``; ``ledger`` written into it) and signing with ``pki``; return root."""
    shutil.copy2(REPO / "schedules.yaml", root / "schedules.yaml")
    if scenarios:
        shutil.copytree(REPO / "scenarios", root / "scenarios")
    else:
        shutil.copytree(REPO / "scenarios" / "templates", root / "scenarios" / "templates")
    if csv:
        use_csv_ledger(root)
    if pki is not None:
        install_pki(root, pki)
    if ledger is not None:
        write_ledger_csv(ledger, root / "var" / "ledger")
    return root


def open_world(root: Path) -> tuple[Config, Store, Any]:
    """(config, store, services) of the config in ``root``; close the services (or the store) afterwards."""
    from robots.engine.services import services_for
    from robots.support.clock import SystemClock

    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())
    return config, store, services_for(config, store, SystemClock())


def open_services(root: Path) -> tuple[Store, Any]:
    """(store, services) of the config in ``root``."""
    _, store, services = open_world(root)
    return store, services


def workflow_root(root: Path, steps: str, *, pki: Any = None,
                  settings: Callable[[Any], None] | None = None) -> Path:
    """``root`` with the repository's schedules.yaml and templates, every scenario (columns and events) being
    ``steps`` (a YAML list), and the CSV ledger simple_ledger(2)."""
    shipped_world(root, pki=pki, scenarios=False)
    text = (root / "schedules.yaml").read_text(encoding="utf-8")
    for name in set(re.findall(r"scenario: (\w+)", text)) | set(re.findall(r"^  (?:paid|promise_broken): (\w+)",
                                                                          text, re.M)):
        (root / "scenarios" / f"{name}.yaml").write_text(f"title: {name}\nsteps:\n{steps}", encoding="utf-8")
    if settings is not None:
        edit_settings(root, settings)
    write_ledger_csv(simple_ledger(2), root / "var" / "ledger")
    return root


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


# --------------------------------------------------------------------------------------------------------------------
# The penalty steps' world

#: A signed, archived letter (2 days overdue) and the 60-day lawsuit decision, without e-mail or approvals.
PENALTY_LETTER = """title: Тестовое требование
steps:
  - {kind: render, id: demand, template: t_letter.j2, title: Досудебное требование}
  - {kind: sign, document: demand, officer: head_of_sales}
  - {kind: archive, document: demand}
"""
PENALTY_LAWSUIT = """title: Тестовое решение об иске
steps:
  - {kind: compute_penalty, id: penalty}
  - {kind: render, id: claim, template: t_letter.j2, title: Исковое заявление}
  - {kind: sign, document: claim, officer: head_of_legal}
  - {kind: archive, document: claim}
  - {kind: lawsuit_pack, id: pack, when: "debt + penalty > thresholds.lawsuit", claim: claim, penalty: penalty}
"""
PENALTY_TEMPLATE = """{% extends "_letter.j2" %}
{% import "_macros.j2" as m %}
{% block heading %}
# ТРЕБОВАНИЕ
{% endblock %}
{% block body %}
{{ m.invoice_table(invoices, total_open, contract) }}
{% endblock %}
"""


def penalty_world(root: Path, ledger: Ledger, **penalties: Any) -> Path:
    """The config in ``root`` with the test scenarios on columns overdue_2 and overdue_60 (no events) and
    ``penalties`` merged into its penalties: section; return the schedules.yaml path."""
    shipped_world(root, scenarios=False, ledger=ledger)
    (root / "scenarios" / "t_letter.yaml").write_text(PENALTY_LETTER, encoding="utf-8")
    (root / "scenarios" / "t_lawsuit.yaml").write_text(PENALTY_LAWSUIT, encoding="utf-8")
    (root / "scenarios" / "templates" / "t_letter.j2").write_text(PENALTY_TEMPLATE, encoding="utf-8")

    def settings(s: Any) -> None:
        s["groups"] = {"default": {"days": "calendar", "columns": [
            {"id": "overdue_2", "offset": 2, "scenario": "t_letter", "title": "2 дня"},
            {"id": "overdue_60", "offset": 60, "scenario": "t_lawsuit", "title": "60 дней"}]}}
        s.pop("events", None)
        s["penalties"].update(penalties)

    edit_settings(root, settings)
    return root / "schedules.yaml"


# --------------------------------------------------------------------------------------------------------------------
# The mail world

#: The send_email step of the mail world's scenario.
SEND = {"kind": "send_email", "document": "demand",
        "subject": "Досудебное требование по договору {{ contract.number }}",
        "body": "Уважаемые господа!\n\n{{ counterparty.name }}, просим погасить {{ total_open }} руб.\n"}
MAIL_SCENARIO = {"title": "Досудебное требование по почте", "steps": [
    {"kind": "render", "id": "demand", "template": "pretrial_demand.j2", "title": "Досудебное требование"},
    {"kind": "sign", "document": "demand", "officer": "head_of_sales"},
    {"kind": "archive", "document": "demand"},
    dict(SEND),
    {"kind": "task", "role": "head_of_sales", "title": "Проконтролировать оплату: {{ counterparty.name }}"},
]}


def mail_world(root: Path, pki: Any, smtp: Any) -> Path:
    """The repository's config with its own scenarios folder (one scenario on overdue_2: render → sign → archive →
    send_email → task), mailing ``smtp`` (tests/smtp.py), so the tests do not depend on the shipped scenarios."""
    shutil.copy2(REPO / "schedules.yaml", root / "schedules.yaml")
    shutil.copytree(REPO / "scenarios" / "templates", root / "templates")
    (root / "mail-scenarios").mkdir()
    with (root / "mail-scenarios" / "mail_demand.yaml").open("w", encoding="utf-8") as f:
        YAML().dump(MAIL_SCENARIO, f)
    use_csv_ledger(root)
    install_pki(root, pki)
    write_ledger_csv(simple_ledger(2), root / "var" / "ledger")

    def settings(s: Any) -> None:
        s["paths"].update(scenarios="mail-scenarios", templates="templates")
        s["groups"] = {"default": {"days": "calendar", "columns": [
            {"id": "overdue_2", "offset": 2, "scenario": "mail_demand", "title": "2 дня просрочки"}]}}
        s.pop("events", None)
        s["email"] = {"smtp": {"host": smtp.host, "port": smtp.port, "security": "none", "timeout_seconds": 5},
                      "sender": "ООО «Арботс Демо» <debt@arbots.example>"}

    edit_settings(root, settings)
    return root


@pytest.fixture
def mail_env(tmp_path: Path, officer_pki: Any, smtp_server: Any) -> Path:
    """mail_world in tmp_path, mailing the test's plain SMTP server (the smtp_server fixture)."""
    return mail_world(tmp_path, officer_pki, smtp_server)
