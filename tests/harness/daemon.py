"""``python tests/harness/daemon.py CONFIG CLOCK_FILE``: the production daemon (robots.engine.daemon.Daemon), its
services and store as ``run_robots.py run`` builds them, on the test's FileClock instead of the wall clock."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main(config_path: str, clock_file: str) -> int:
    from robots.config import load_config
    from robots.engine.daemon import Daemon
    from robots.engine.services import services_for
    from robots.store import Store
    from robots.support import logs
    from tests.harness.clock import FileClock

    logs.configure("info", json=True)
    path = Path(config_path)
    config = load_config(path)
    clock = FileClock(Path(clock_file))
    store = Store.open(config.database_url())
    daemon = Daemon(services_for(config, store, clock), clock=clock, loader=lambda: load_config(path))
    return daemon.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
