"""The daemon warns before an officer's certificate expires, and loudly when one cannot sign."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from robots.config import load_config
from robots.engine.daemon import warn_certificates
from robots.engine.services import services_for
from robots.store import Store
from robots.support.clock import SystemClock
from tests.worlds import shipped_world

#: A moment of the daemon's check, inside the officers' validity (tests/pki.py: they expire on 2028-02-01).
MOMENT = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def root(tmp_path: Path, officer_pki) -> Path:
    """The shipped config signing with the session's officer PKI."""
    return shipped_world(tmp_path, pki=officer_pki)


def _services(root: Path, warn_days: int):
    cfg = root / "schedules.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("expiry_warning_days: 30", f"expiry_warning_days: "
                                                                                          f"{warn_days}"),
                   encoding="utf-8")
    config = load_config(cfg)
    store = Store.open(config.database_url())
    return services_for(config, store, SystemClock()), store


def test_certificates_expiring_within_the_warning_window_are_warned_about(root):
    # the session PKI's officer certificates end on 2028-02-01 00:00 UTC, 579 whole days after MOMENT
    services, store = _services(root, 600)
    try:
        with capture_logs() as logs:
            alerts = warn_certificates(services, MOMENT)
        warned = [e for e in logs if e["event"] == "certificate_expires_soon"]
        assert alerts == 3 and {e["officer"] for e in warned} == {"chief_accountant", "head_of_sales",
                                                                   "head_of_legal"}
        assert [(e["days_left"], e["log_level"]) for e in warned] == [(579, "warning")] * 3
    finally:
        services.close()
        store.close()


def test_no_warning_outside_the_window_and_an_error_for_an_unusable_certificate(root):
    (root / "var" / "pki" / "officers" / "head_of_sales.p12").unlink()
    services, store = _services(root, 30)
    try:
        with capture_logs() as logs:
            alerts = warn_certificates(services, datetime(2026, 1, 15, tzinfo=UTC))
        assert alerts == 1
        assert [(e["event"], e["officer"], e["log_level"]) for e in logs] == [
            ("certificate_unusable", "head_of_sales", "error")]
        assert "cannot read it" in logs[0]["problems"]
    finally:
        services.close()
        store.close()
