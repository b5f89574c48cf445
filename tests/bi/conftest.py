"""A small realistic world for BI tests: the demo ledger, the repository's config, real ticks.

The config is the repository's schedules.yaml and scenarios with signing stripped (no officers, no sign steps),
so the world needs no PKI; everything else (render, archive, tasks, the store) is the real thing.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from connectors.files.ledger_csv import write_ledger_csv
from demo.ledger import generate_demo_ledger, ledger_as_of
from robots.config import Config, load_config
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.store import Store
from robots.support.clock import SystemClock
from tests.worlds import CSV_CONNECTOR, mail_sink

REPO = Path(__file__).resolve().parents[2]
WORLD_START = date(2026, 1, 12)
WORLD_DAYS = 56
#: The robots tick every this many days (catch-up handles the days in between).
WORLD_STEP = 2


def unsigned_config(root: Path) -> Path:
    """Copy the repository's config into ``root`` without signing; return the schedules.yaml path."""
    yaml = YAML()
    settings = yaml.load((REPO / "schedules.yaml").read_text(encoding="utf-8"))
    for key in ("officers", "signing"):
        settings.pop(key, None)
    settings["connectors"] = [{**CSV_CONNECTOR, "write_back": dict(CSV_CONNECTOR["write_back"])}]
    settings["email"]["smtp"]["port"] = mail_sink().port  # the letters go to the session's mail sink
    settings["email"]["window"] = None  # ticks on weekends must not wait for Monday here
    with (root / "schedules.yaml").open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    shutil.copytree(REPO / "scenarios", root / "scenarios")
    for path in (root / "scenarios").glob("*.yaml"):
        scenario = yaml.load(path.read_text(encoding="utf-8"))
        scenario["steps"] = [s for s in scenario["steps"] if s["kind"] != "sign"]
        with path.open("w", encoding="utf-8") as f:
            yaml.dump(scenario, f)
    return root / "schedules.yaml"


def build_world(root: Path, *, days: int = WORLD_DAYS, step: int = WORLD_STEP) -> tuple[Config, Store, date]:
    """Tick the demo ledger every ``step`` days over ``days`` days; return (config, open store, last as-of)."""
    config = load_config(unsigned_config(root))
    ledger = generate_demo_ledger(seed=7, start=WORLD_START, days=days)
    ledger_dir = config.resolve(config.settings.connectors[0].path)
    store = Store.open(config.database_url())
    services = services_for(config, store, SystemClock())
    day = last = WORLD_START
    end = WORLD_START + timedelta(days=days - 1)
    while day <= end:
        write_ledger_csv(ledger_as_of(ledger, day), ledger_dir)
        tick(services, day, datetime.combine(day, time(8), UTC))
        last, day = day, day + timedelta(days=step)
    services.close()
    return config, store, last


@pytest.fixture(scope="session")
def bi_world(tmp_path_factory: pytest.TempPathFactory):
    """(config, store, as_of) after real ticks over eight weeks of the demo ledger. Read it, don't change it."""
    config, store, as_of = build_world(tmp_path_factory.mktemp("bi-world"))
    yield config, store, as_of
    store.close()
