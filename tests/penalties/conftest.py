"""A work folder with the repository's config and templates but scenarios of the tests' own, a CSV ledger, the
session's officer PKI: the penalty steps run through the real runner, signer and archive."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from connectors.files.ledger_csv import write_ledger_csv
from robots.core.domain import Ledger
from tests.conftest import use_csv_ledger
from tests.e2e.conftest import REPO

#: A signed, archived letter (2 days overdue) and the 60-day lawsuit decision, without e-mail or approvals.
LETTER = """title: Тестовое требование
steps:
  - {kind: render, id: demand, template: t_letter.j2, title: Досудебное требование}
  - {kind: sign, document: demand, officer: head_of_sales}
  - {kind: archive, document: demand}
"""
LAWSUIT = """title: Тестовое решение об иске
steps:
  - {kind: compute_penalty, id: penalty}
  - {kind: render, id: claim, template: t_letter.j2, title: Исковое заявление}
  - {kind: sign, document: claim, officer: head_of_legal}
  - {kind: archive, document: claim}
  - {kind: lawsuit_pack, id: pack, when: "debt + penalty > thresholds.lawsuit", claim: claim, penalty: penalty}
"""
TEMPLATE = """{% extends "_letter.j2" %}
{% import "_macros.j2" as m %}
{% block heading %}
# ТРЕБОВАНИЕ
{% endblock %}
{% block body %}
{{ m.invoice_table(invoices, total_open, contract) }}
{% endblock %}
"""


def make_workdir(root: Path, ledger: Ledger, **penalties) -> Path:
    """Copy the config into ``root`` with the test scenarios on columns overdue_2 and overdue_60; return the
    schedules.yaml path."""
    shutil.copy2(REPO / "schedules.yaml", root / "schedules.yaml")
    shutil.copytree(REPO / "scenarios" / "templates", root / "scenarios" / "templates")
    (root / "scenarios" / "t_letter.yaml").write_text(LETTER, encoding="utf-8")
    (root / "scenarios" / "t_lawsuit.yaml").write_text(LAWSUIT, encoding="utf-8")
    (root / "scenarios" / "templates" / "t_letter.j2").write_text(TEMPLATE, encoding="utf-8")
    write_ledger_csv(ledger, use_csv_ledger(root))
    yaml = YAML()
    path = root / "schedules.yaml"
    settings = yaml.load(path.read_text(encoding="utf-8"))
    settings["groups"] = {"default": {"days": "calendar", "columns": [
        {"id": "overdue_2", "offset": 2, "scenario": "t_letter", "title": "2 дня"},
        {"id": "overdue_60", "offset": 60, "scenario": "t_lawsuit", "title": "60 дней"}]}}
    settings.pop("events", None)
    settings["penalties"].update(penalties)
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(settings, fh)
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """robots.cli.main.main points structlog at pytest's capture of the moment, closed after the test: reset it, so the
    session's fixtures (the officers' PKI server) never log into a closed stream."""
    yield
    import structlog

    structlog.reset_defaults()
