"""The daemon's section of schedules.yaml: every problem with its YAML path, at once."""

from __future__ import annotations

import pytest

from robots.config import load_config
from robots.core.errors import ConfigError
from tests.daemon.conftest import daemon_settings


def test_daemon_problems_name_their_yaml_paths(world):
    daemon_settings(world, timezone="Mars/Olympus", ticks=[{"id": "a", "cron": "0 8 * * *"},
                                                           {"id": "a", "cron": "sometimes"}],
                    heartbeat_seconds=10, stale_after_seconds=15, housekeeping={"archive_verify": "nightly"})
    with pytest.raises(ConfigError) as e:
        load_config(world / "schedules.yaml")
    text = "\n".join(e.value.problems)
    for path in ("daemon.timezone", "daemon.ticks[1].cron", "daemon.ticks[1].id", "daemon.stale_after_seconds",
                 "daemon.housekeeping.archive_verify"):
        assert path in text, text


def test_short_intervals_for_tests_are_accepted(world):
    daemon_settings(world, leader_poll_seconds=0.1, heartbeat_seconds=0.1, stale_after_seconds=1)
    assert load_config(world / "schedules.yaml").settings.daemon.leader_poll_seconds == 0.1
