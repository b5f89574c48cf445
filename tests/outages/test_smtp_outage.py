"""The SMTP server down for a day, with real parts: an aiosmtpd server stopped and started again on its port, the
mail world's scenario (render → sign → archive → send_email → task), a manual clock moved through the day, and a
webhook receiver for the alerts. The letters wait (never failed), ops hear of it once, and once of the recovery,
and every letter reaches the server exactly once, after it is back."""

from __future__ import annotations

from sqlalchemy import select

from robots.config import load_config
from robots.engine.runner import Runner
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.store import Store, outages
from robots.store import deliveries as db
from robots.store import schema as t
from robots.support.clock import ManualClock
from tests.worlds import AS_OF, NOW, edit_settings, mail_world

TOKEN = "Bearer smtp-outage-7f2a"


def world(tmp_path, officer_pki, smtp, hooks, monkeypatch):
    root = mail_world(tmp_path, officer_pki, smtp)
    monkeypatch.setenv("ARBOTS_TEST_ALERT_TOKEN", TOKEN)

    def settings(s):
        s["email"]["smtp"].update(connect_attempts=1, timeout_seconds=2)
        s["alerts"] = {"after_failures": 3, "cooldown_seconds": 300, "email": {"to": ["ops@arbots.example"]},
                       "webhook": {"url": hooks.url, "secret_env": "ARBOTS_TEST_ALERT_TOKEN"}}

    edit_settings(root, settings)
    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())
    clock = ManualClock(NOW)
    return store, clock, services_for(config, store, clock)


def statuses(store) -> list[str]:
    return sorted(r.status for r in store.rows(select(t.runs.c.status)))


def test_smtp_down_for_a_day_the_letters_wait_one_alert_then_they_go_once(tmp_path, officer_pki, smtp, hooks,
                                                                           monkeypatch):
    store, clock, services = world(tmp_path, officer_pki, smtp, hooks, monkeypatch)
    # The SMTP server is down (not started): the day's tick renders, signs and archives, and the letters wait.
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.waiting) == 2 and not report.runner.failed and not report.runner.retry
    assert statuses(store) == ["waiting", "waiting"]
    steps = {(r.run_id, r.idx): r.status for r in store.rows(select(t.run_steps))}
    assert sorted(s for (_, idx), s in steps.items() if idx == 3) == ["waiting", "waiting"]

    # A day of runner passes every 10 minutes: still waiting, never failed; one alert when the streak reached 3.
    for _ in range(6 * 24):
        clock.advance(600)
        report = Runner(services).run_pending(clock.now())
        assert not report.failed and not report.done
    assert statuses(store) == ["waiting", "waiting"] and smtp.received == []
    assert hooks.events() == [("system_down", "smtp")]
    headers, body = hooks.calls[0]
    assert headers["authorization"] == TOKEN and body["failures"] == 3 and body["down_since"] == NOW.isoformat()
    state = outages.system_state(store, "smtp")
    assert state is not None and state.state == "open" and state.consecutive_failures > 3
    runs = store.rows(select(t.runs))
    assert all(r.attempts <= 2 for r in runs), [r.attempts for r in runs]  # waiting is not an attempt

    # The server is back: the next passes send each letter once and ops hear of the recovery once.
    smtp.start()
    for _ in range(3):
        clock.advance(600)
        Runner(services).run_pending(clock.now())
    assert statuses(store) == ["done", "done"]
    ids = [r.message["Message-ID"] for r in smtp.received]
    assert len(ids) == 2 and len(set(ids)) == 2
    # Waiting out the outage was no attempt at sending: the receipts do not say "sent more than once".
    assert {(r.status, r.attempts) for r in store.rows(select(db.deliveries))} == {("sent", 1)}
    outputs = [s.output for s in store.rows(select(t.run_steps).where(t.run_steps.c.idx == 3))]
    assert [o["attempts"] for o in outputs] == [1, 1]
    assert hooks.events() == [("system_down", "smtp"), ("system_recovered", "smtp")]
    assert outages.system_state(store, "smtp").state == "closed"
    # Alerts about SMTP never went by e-mail (it was the system down): only the two letters reached the server.
    assert all(r.rcpt_tos != ["ops@arbots.example"] for r in smtp.received)
    services.close()
    store.close()
