"""One alert per outage and one per recovery, whatever the number of retries and daemons: the breakers' listener
(robots.engine.outages) on a real store (SQLite and PostgreSQL), the alerter on a real webhook receiver and SMTP
server, the database's own watch, and the alerts: section's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from robots.config import load_config
from robots.core.errors import ConfigError, Unavailable
from robots.engine.outages import Alert, Alerter, DatabaseWatch, OutageRecorder
from robots.store import outages as db
from robots.support.breaker import Breakers, BreakerState
from robots.support.clock import ManualClock
from tests.outages.conftest import RecordingAlerter
from tests.worlds import edit_settings, shipped_world

T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
TOKEN = "alert-token-5d1e9c"


def daemon(store, clock, alerter, threshold=3, cooldown=300.0) -> Breakers:
    """One daemon's breakers, recording into the shared ``store``."""
    return Breakers(clock, threshold=threshold, cooldown=cooldown,
                    listener=OutageRecorder(store, clock, alerter, threshold=threshold))  # type: ignore[arg-type]


def down(breakers: Breakers, system: str = "erp") -> Unavailable:
    def fail():
        raise Unavailable(system, None, "connect timeout (5 s) password=hunter2")

    with pytest.raises(Unavailable) as exc:
        breakers(system).call(fail)
    return exc.value


def test_two_daemons_send_one_down_alert_and_one_recovery_alert(store):
    clock, alerter = ManualClock(T0), RecordingAlerter()
    a, b = daemon(store, clock, alerter), daemon(store, clock, alerter)
    down(a)
    down(b)
    assert alerter.sent == [] and db.system_state(store, "erp").consecutive_failures == 2
    down(a)  # the third consecutive failure, counted across both daemons
    assert alerter.kinds() == [("down", "erp")]
    sent = alerter.sent[0]
    assert sent.failures == 3 and sent.down_since == T0 and "hunter2" not in sent.reason
    for _ in range(5):  # every further retry, by either daemon: no second alert
        clock.advance(301)
        down(a)
        down(b)
    assert alerter.kinds() == [("down", "erp")]
    state = db.system_state(store, "erp")
    assert state.state == "open" and state.consecutive_failures == 13 and "hunter2" not in (state.last_error or "")

    clock.advance(301)
    assert a("erp").call(lambda: "fetched") == "fetched"  # the probe of daemon a succeeds
    assert b("erp").state is BreakerState.OPEN  # daemon b's own breaker has not probed yet...
    clock.advance(301)
    b("erp").call(lambda: "fetched")  # ...and its success sends nothing more
    assert alerter.kinds() == [("down", "erp"), ("recovered", "erp")]
    assert alerter.sent[1].down_since == T0
    state = db.system_state(store, "erp")
    assert state.state == "closed" and state.consecutive_failures == 0 and state.alerted_down_at is None

    # The next outage is a new one: its own alert.
    for _ in range(3):
        clock.advance(10)
        down(a)
    assert alerter.kinds() == [("down", "erp"), ("recovered", "erp"), ("down", "erp")]


def test_an_alert_that_could_not_go_is_tried_again_by_the_next_failure(store):
    clock, alerter = ManualClock(T0), RecordingAlerter()
    a = daemon(store, clock, alerter, threshold=2, cooldown=0)
    alerter.fail = True
    down(a, "smtp")
    down(a, "smtp")
    assert alerter.sent == [] and db.system_state(store, "smtp").alerted_down_at is None
    alerter.fail = False
    down(a, "smtp")
    assert alerter.kinds() == [("down", "smtp")]
    alerter.fail = True
    a("smtp").call(lambda: None)
    assert db.system_state(store, "smtp").alerted_down_at is not None  # the recovery is still owed
    alerter.fail = False
    clock.advance(120)  # past the interval in which a process does not write every success again
    a("smtp").call(lambda: None)
    assert alerter.kinds() == [("down", "smtp"), ("recovered", "smtp")]


def test_a_success_without_an_outage_does_not_write_on_every_call(store, monkeypatch):
    clock, alerter = ManualClock(T0), RecordingAlerter()
    a = daemon(store, clock, alerter)
    writes = []
    real = db.record_success
    monkeypatch.setattr(db, "record_success", lambda *args: writes.append(args) or real(*args))
    for _ in range(50):
        a("smtp").call(lambda: None)
    assert len(writes) == 1
    clock.advance(61)
    a("smtp").call(lambda: None)
    assert len(writes) == 2


def test_the_recorder_never_breaks_the_call_it_listens_to(store):
    clock, alerter = ManualClock(T0), RecordingAlerter()
    a = daemon(store, clock, alerter)
    store.close()  # the database is away as well
    exc = down(a, "tsa")
    assert exc.system == "tsa"
    assert a("tsa").call(lambda: 7) == 7


def refused(message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, ConnectionRefusedError(message))


def test_the_database_watch_alerts_once_and_announces_the_recovery_once(store):
    clock, alerter = ManualClock(T0), RecordingAlerter()
    first, second = DatabaseWatch(clock, alerter, threshold=3), DatabaseWatch(clock, alerter, threshold=3)
    assert first.failed(ValueError("a bug, not an outage")) is None and not first.down
    for _ in range(6):
        clock.advance(30)
        assert "Connection refused" in (first.failed(refused("Connection refused password=pw1")) or "")
    for _ in range(3):
        second.failed(refused("Connection refused"))
    # No shared place while the database is away: each daemon announces the outage it saw, once.
    assert alerter.kinds() == [("down", "database"), ("down", "database")]
    assert all("pw1" not in a.reason for a in alerter.sent)

    clock.advance(30)
    first.recovered(store)
    second.recovered(store)
    first.recovered(store)  # nothing more: no streak
    assert alerter.kinds()[2:] == [("recovered", "database")] and not first.down
    state = db.system_state(store, "database")
    assert state.state == "closed" and state.consecutive_failures == 0 and state.last_success_at == clock.now()


def test_alerts_go_to_the_webhook_with_the_secret_header_and_by_email(tmp_path, hooks, smtp, monkeypatch):
    smtp.start()
    root = shipped_world(tmp_path)
    monkeypatch.setenv("ARBOTS_TEST_ALERT_TOKEN", f"Bearer {TOKEN}")

    def settings(s):
        s["email"] = {"smtp": {"host": smtp.host, "port": smtp.port, "security": "none"},
                      "sender": "ООО «Арботс» <debt@arbots.example>"}
        s["alerts"] = {"after_failures": 3, "email": {"to": ["ops@arbots.example"]},
                       "webhook": {"url": hooks.url, "secret_env": "ARBOTS_TEST_ALERT_TOKEN"}}

    edit_settings(root, settings)
    alerter = Alerter(load_config(root / "schedules.yaml"))
    assert alerter.send(Alert("down", "erp", T0, 3, "connect timeout", T0 - timedelta(minutes=15)))
    [(headers, body)] = hooks.calls
    assert headers["authorization"] == f"Bearer {TOKEN}" and len(headers["idempotency-key"]) == 32
    assert body == {"event": "system_down", "system": "erp", "at": T0.isoformat(), "failures": 3,
                    "reason": "connect timeout", "host": body["host"],
                    "down_since": (T0 - timedelta(minutes=15)).isoformat()}
    [mail] = smtp.received
    assert mail.rcpt_tos == ["ops@arbots.example"] and mail.message["Subject"] == "[arbots] erp is down " \
        "(3 consecutive failures)"
    assert TOKEN not in mail.data.decode()

    # An SMTP outage is never announced by e-mail: only the webhook carries it.
    assert alerter.send(Alert("down", "smtp", T0, 3, "Connection refused", T0))
    assert hooks.events() == [("system_down", "erp"), ("system_down", "smtp")] and len(smtp.received) == 1
    # A dead webhook and a dead SMTP server: nothing went, and the caller hears it (to release its claim).
    smtp.stop()
    monkeypatch.setattr("robots.engine.outages.WEBHOOK_ATTEMPTS", 1)
    edit_settings(root, lambda s: s["alerts"]["webhook"].update(url="http://127.0.0.1:19599/none"))
    dead = Alerter(load_config(root / "schedules.yaml"), sleep=lambda s: None)
    assert dead.send(Alert("recovered", "erp", T0, 0, "", T0)) is False


@pytest.mark.parametrize(("alerts", "where", "says"), [
    ({"after_failures": 0}, "alerts.after_failures", "greater than or equal to 1"),
    ({"webhook": {"url": "ftp://x"}}, "alerts.webhook", "http:// or https://"),
    ({"webhook": {"url": "https://x.example/h", "url_env": "X"}}, "alerts.webhook", "exactly one of url or url_env"),
    ({"webhook": {"url": "https://x.example/h", "secret": "inline"}}, "alerts.webhook.secret", "never written"),
    ({"email": {"to": ["not an address"]}}, "alerts.email.to", "not an e-mail address"),
])
def test_a_bad_alerts_section_is_a_config_error_naming_its_path(tmp_path: Path, alerts, where, says):
    root = shipped_world(tmp_path)
    edit_settings(root, lambda s: s.__setitem__("alerts", alerts))
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    text = str(exc.value) + "\n".join(exc.value.problems)
    assert where in text and says in text, text


def test_alerts_by_email_without_the_email_section_are_named_for_the_config_check():
    from robots.config.alerts import alerts_problems

    raw = {"alerts": {"email": {"to": ["ops@arbots.example"]}}}
    assert alerts_problems(raw) == [(("alerts", "email"), alerts_problems(raw)[0][1])]
    assert "email: section" in alerts_problems(raw)[0][1]
    assert alerts_problems({**raw, "email": {"sender": "x@y.ru"}}) == []
    assert alerts_problems({"alerts": {"webhook": {"url": "https://x.example/h"}}}) == []


def test_loading_a_config_with_alerts_by_email_and_no_email_section_names_the_line(tmp_path: Path):
    root = shipped_world(tmp_path)

    def change(s) -> None:
        s["alerts"] = {"email": {"to": ["ops@arbots.example"]}}
        s.pop("email")

    edit_settings(root, change)
    with pytest.raises(ConfigError) as exc:
        load_config(root / "schedules.yaml")
    [problem] = [p for p in exc.value.problems if "alerts.email" in p]
    assert problem.startswith("schedules.yaml:") and "add it, or send the alerts by webhook only" in problem
