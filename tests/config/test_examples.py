"""Every shipped connector example loads as the connectors of a whole schedules.yaml: what users paste works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from robots.config import load_config
from robots.engine.sync import build_connectors

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").rglob("*.yaml"))


def test_there_are_examples_for_every_connector_kind():
    kinds = {block["kind"] for path in EXAMPLES for block in YAML(typ="safe").load(path.read_text(encoding="utf-8"))}
    assert kinds >= {"rest", "ui"}, EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(REPO / "examples")))
def test_an_example_is_a_valid_connectors_list_and_builds(tmp_path, monkeypatch, example):
    for var in ("ERP_PASSWORD", "FAVA_PASSWORD"):
        monkeypatch.setenv(var, "not-used-here")
    yaml = YAML()
    settings = yaml.load((REPO / "schedules.yaml").read_text(encoding="utf-8"))
    settings["connectors"] = yaml.load(example.read_text(encoding="utf-8"))
    with (tmp_path / "schedules.yaml").open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    shutil.copytree(REPO / "scenarios", tmp_path / "scenarios")
    if not any("write_back" in c for c in settings["connectors"]):
        drop_shipment_steps(tmp_path / "scenarios")  # what a user of a read-only source does (docs/fava.md)
    config = load_config(tmp_path / "schedules.yaml")
    assert "password:" not in example.read_text(encoding="utf-8")  # secrets only by reference
    connectors = build_connectors(config)
    try:
        assert {e for c in connectors for e in c.entities} == {"counterparties", "contracts", "invoices", "payments"}
    finally:
        for c in connectors:
            c.close()


def drop_shipment_steps(folder: Path) -> None:
    """Remove block_shipments/unblock_shipments steps: a source without write-back cannot stop shipments."""
    yaml = YAML()
    for path in folder.glob("*.yaml"):
        scenario = yaml.load(path.read_text(encoding="utf-8"))
        steps = [s for s in scenario["steps"] if s["kind"] not in ("block_shipments", "unblock_shipments")]
        if len(steps) != len(scenario["steps"]):
            scenario["steps"] = steps
            with path.open("w", encoding="utf-8") as f:
                yaml.dump(scenario, f)
