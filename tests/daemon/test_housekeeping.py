"""The housekeeping jobs on a real world: the archive check takes only the bags written since the last good one
and fails on a damaged bag; the certificates job fills the cache /metrics reads."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from structlog.testing import capture_logs

from robots.core.errors import ArbotsError
from robots.engine.housekeeping import CertificateCache, run_job
from robots.store.daemons import claim_fire, finish_fire
from tests.daemon.conftest import TICKED_AT

NOW = TICKED_AT


def verify(services, at: datetime) -> dict:
    with capture_logs() as logs:
        try:
            run_job("archive_verify", services, at, cache=CertificateCache(), bi_job=None)
        finally:
            done = [e for e in logs if e["event"] == "archive_verified"]
    return {**done[0], "problems_logged": [e for e in logs if e["event"] == "archive_problem"]}


def test_archive_verify_takes_the_bags_written_since_the_last_good_check(ticked):
    config, store, services = ticked
    first = verify(services, NOW + timedelta(hours=1))
    assert first["bags"] == 2 and first["problems"] == 0 and first["since"] is None
    check_at = NOW + timedelta(hours=1, minutes=1)
    assert claim_fire(store, "housekeeping:archive_verify", NOW + timedelta(hours=1), "me:1:aa", check_at)
    finish_fire(store, "housekeeping:archive_verify", NOW + timedelta(hours=1), check_at)
    again = verify(services, NOW + timedelta(days=1))
    assert again["bags"] == 0 and again["since"] == check_at.isoformat()


def test_archive_verify_fails_on_a_damaged_bag_and_logs_each_problem(ticked):
    config, store, services = ticked
    pdf = sorted(config.archive_dir.rglob("*.pdf"))[0]
    pdf.write_bytes(pdf.read_bytes() + b"\n% edited")
    with pytest.raises(ArbotsError, match="problems in 2 bags"):
        verify(services, NOW + timedelta(hours=1))
    with capture_logs() as logs, pytest.raises(ArbotsError):
        run_job("archive_verify", services, NOW, cache=CertificateCache(), bi_job=None)
    assert any(e["event"] == "archive_problem" and pdf.name in e["where"] for e in logs), logs


def test_the_certificates_job_fills_the_days_left_cache(ticked):
    _, _, services = ticked
    cache = CertificateCache()
    run_job("certificates", services, NOW, cache=cache, bi_job=None)
    days = cache.days()
    assert set(days) == set(services.config.settings.officers) and all(d > 300 for d in days.values())
