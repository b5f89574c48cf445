"""/healthz, /readyz and /metrics of one daemon's HTTP server, in process, on a manual clock."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from robots.config.models import DaemonConfig, HttpConfig
from robots.engine.housekeeping import CertificateCache
from robots.engine.observe import DaemonState, ObserveServer, readiness
from robots.store.daemons import claim_fire, finish_fire
from robots.support.clock import ManualClock
from tests.daemon.conftest import TICKED_AT

PORT = 19431


@pytest.fixture
def served(ticked):
    _, store, _ = ticked
    clock = ManualClock(TICKED_AT + timedelta(minutes=5))
    certs = CertificateCache()
    certs.set({"head_of_legal": 700}, TICKED_AT)
    cfg = DaemonConfig(http=HttpConfig(port=PORT))
    state = DaemonState(store, clock, cfg, "here:1:aa", certs, leader=lambda: True)
    server = ObserveServer(state, cfg.http)
    server.start()
    yield state, clock
    server.stop()


def get(path: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}{path}", timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def test_readiness_needs_a_good_tick_and_a_recent_sync(served):
    state, clock = served
    code, kind, body = get("/readyz")
    assert code == 503 and kind == "application/json"
    assert json.loads(body)["reasons"] == ["no tick has finished successfully yet"]
    window = TICKED_AT.replace(minute=0)
    claim_fire(state.store, "tick:morning", window, "here:1:aa", TICKED_AT)
    finish_fire(state.store, "tick:morning", window, TICKED_AT + timedelta(minutes=1))
    assert get("/readyz")[0] == 200
    clock.advance(27 * 3600)  # past both 26-hour thresholds
    ok, reasons = readiness(state)
    assert not ok and len(reasons) == 2
    assert "max_tick_age_hours" in reasons[0] and "max_sync_age_hours" in reasons[1]
    assert get("/healthz")[0] == 200
    state.alive = False
    assert get("/healthz")[0] == 503
    assert get("/nothing")[0] == 404


def test_metrics_are_read_from_the_store_at_scrape_time(served):
    state, clock = served
    code, kind, body = get("/metrics")
    assert code == 200 and kind.startswith("text/plain")
    m = {f.name: f.samples for f in text_string_to_metric_families(body)}
    assert {s.labels["status"]: s.value for s in m["arbots_runs"]} == \
           {"pending": 0, "running": 0, "waiting": 0, "done": 2, "failed": 0}
    assert m["arbots_documents_signed"][0].value == 2
    assert {s.labels["status"]: s.value for s in m["arbots_emails"]}["sent"] == 2
    assert m["arbots_last_good_sync_age_seconds"][0].value == pytest.approx(300, abs=1)
    assert [(s.labels["officer"], s.value) for s in m["arbots_certificate_days_left"]] == [("head_of_legal", 700)]
    assert sum(s.value for s in m["arbots_crossings"] if s.labels["status"] == "run") == 3  # 3 invoices, 2 runs
    assert m["arbots_leader"][0].labels == {"owner": "here:1:aa"} and m["arbots_leader"][0].value == 1
    clock.advance(60)
    m = {f.name: f.samples for f in text_string_to_metric_families(get("/metrics")[2])}
    assert m["arbots_last_good_sync_age_seconds"][0].value == pytest.approx(360, abs=1)
