"""``demo``: a self-contained workdir, a generated Russian B2B ledger, and 60 simulated days of robot work.

The workdir gets a copy of the config and scenarios it used, the SQLite database, the ledger CSVs the built-in
demo accounting system exported, and the archive with every letter. Each simulated day the accounting system
exports what it knows on that day and the robots tick once. Running the demo again continues from the last
simulated day (re-ticking it, which finds nothing new if it had finished) and duplicates nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from connectors.demo_ledger import generate_demo_ledger, ledger_as_of
from connectors.files import write_ledger_csv
from robots.config import Config, load_config
from robots.store import Store
from robots.summary import Summary, summarize
from robots.tick import TickReport, services_for, tick

REPO = Path(__file__).resolve().parents[1]
DEMO_START = date(2026, 1, 12)
DEMO_SEED = 7


@dataclass
class DemoResult:
    workdir: Path
    config: Config
    days_run: list[date]
    summary: Summary


def prepare_workdir(workdir: Path) -> Path:
    """Copy schedules.yaml and scenarios/ into ``workdir`` once; later runs use (and keep) the copy."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "schedules.yaml"
    if not config_path.exists():
        shutil.copytree(REPO / "scenarios", workdir / "scenarios", dirs_exist_ok=True)
        shutil.copy2(REPO / "schedules.yaml", config_path)
    return config_path


def run_demo(
    workdir: Path,
    days: int,
    clock: Callable[[], datetime],
    on_day: Callable[[date, TickReport], None] | None = None,
) -> DemoResult:
    config = load_config(prepare_workdir(workdir))
    ledger = generate_demo_ledger(seed=DEMO_SEED, start=DEMO_START, days=days)
    ledger_dir = config.resolve(config.settings.connectors[0].path)
    store = Store.open(config.database_url())
    try:
        services = services_for(config, store)
        last = store.last_as_of()
        first = max(DEMO_START, last) if last else DEMO_START
        end = DEMO_START + timedelta(days=days - 1)
        ran: list[date] = []
        day = first
        while day <= end:
            write_ledger_csv(ledger_as_of(ledger, day), ledger_dir)
            report = tick(services, day, clock())
            ran.append(day)
            if on_day:
                on_day(day, report)
            day += timedelta(days=1)
        return DemoResult(workdir, config, ran, summarize(store))
    finally:
        store.close()
