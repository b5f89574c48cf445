"""How each adapter tells an outage from an answer: real servers (aiosmtpd, the demo ERP over HTTP), each failure
classified as the runner needs it (Unavailable of which system, counted by its breaker or not, may it have been
applied), never carrying a secret."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from connectors.base import ConnectorUnavailable
from connectors.rest.config import RestConnectorConfig
from connectors.rest.connector import RestConnector
from connectors.rest.http import ConnectorDown
from demo.erp import create_app, serve
from robots.core.errors import Unavailable
from robots.mail.config import EmailConfig
from robots.mail.message import build_message
from robots.mail.smtp import Mailer, TransientMailError
from robots.support.breaker import Breaker, BreakerState
from robots.support.clock import ManualClock
from tests.steps.test_shipments import PASSWORD, ledger_of

T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def email_config(port: int, attempts: int = 3) -> EmailConfig:
    return EmailConfig.model_validate({"smtp": {"host": "127.0.0.1", "port": port, "security": "none",
                                                "timeout_seconds": 2, "connect_attempts": attempts},
                                       "sender": "debt@arbots.example", "window": None})


def letter():
    return build_message(sender="debt@arbots.example", to=["c@example.ru"], subject="Тест", body="Текст",
                         msg_id="<t.1@arbots.example>", date_=T0)


def test_smtp_unreachable_is_retried_then_an_outage_of_smtp_counted_by_its_breaker(tmp_path: Path):
    sleeps: list[float] = []
    breaker = Breaker("smtp", ManualClock(T0), threshold=2, cooldown=300)
    mailer = Mailer(email_config(19541), tmp_path, breaker=breaker, sleep=sleeps.append)
    with pytest.raises(TransientMailError) as exc:
        mailer.send(letter(), ["c@example.ru"])
    err = exc.value
    assert isinstance(err, Unavailable) and err.system == "smtp" and err.outage and err.before_data
    assert len(sleeps) == 2 and breaker.failures == 1 and err.retry_at is not None
    with pytest.raises(TransientMailError):
        mailer.send(letter(), ["c@example.ru"])
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(TransientMailError, match="circuit open") as exc:  # no connection tried while open
        mailer.send(letter(), ["c@example.ru"])
    assert len(sleeps) == 4 and exc.value.retry_at == T0 + breaker.cooldown
    assert pickle.loads(pickle.dumps(exc.value)).system == "smtp"


def test_a_busy_smtp_server_is_up_the_letter_waits_and_data_is_never_sent_twice_at_once(tmp_path, smtp):
    smtp.start()
    smtp.handler.busy = True  # 451 to DATA
    sleeps: list[float] = []
    breaker = Breaker("smtp", ManualClock(T0), threshold=1, cooldown=300)
    with pytest.raises(TransientMailError, match="451") as exc:
        Mailer(email_config(smtp.port), tmp_path, breaker=breaker, sleep=sleeps.append).send(letter(),
                                                                                            ["c@example.ru"])
    assert not exc.value.outage and not exc.value.before_data
    assert sleeps == [] and breaker.state is BreakerState.CLOSED  # an answer about this letter: SMTP is up
    smtp.handler.busy = False
    result = Mailer(email_config(smtp.port), tmp_path, breaker=breaker).send(letter(), ["c@example.ru"])
    assert result.response.startswith("250") and len(smtp.received) == 1


def rest(url: str, tmp_path: Path) -> RestConnector:
    """The repository's REST connector of the demo ERP (schedules.yaml), at ``url``, retrying once at once."""
    (tmp_path / "pw").write_text(PASSWORD, encoding="utf-8")
    (tmp_path / "pw").chmod(0o600)
    cfg = dict(YAML(typ="safe").load((REPO / "schedules.yaml").read_text(encoding="utf-8"))["connectors"][0])
    cfg.update(base_url=url + "api/v1/", auth={"basic": {"username": "робот", "password_file": "pw"}},
               retries={"attempts": 2, "backoff": 0.01, "max_backoff": 0.02})
    return RestConnector(RestConnectorConfig.model_validate(cfg), base_dir=tmp_path, state_dir=tmp_path / "state")


@pytest.mark.parametrize(("status", "maybe_applied"), [(503, False), (429, False), (500, False), (504, True)])
def test_the_erp_answering_5xx_or_429_is_down_for_the_connector_id(tmp_path, status, maybe_applied):
    app = create_app(ledger_of(), username="робот", password=PASSWORD)
    if status == 429:
        app.state.erp.faults.rate_limit("invoices", retry_after=0, times=None)
    else:
        app.state.erp.faults.fail("invoices", status=status, times=None)
    with serve(app) as url:
        conn = rest(url, tmp_path)
        try:
            with pytest.raises(ConnectorDown) as exc:
                conn.fetch()
        finally:
            conn.close()
    err = exc.value
    assert isinstance(err, ConnectorUnavailable) and isinstance(err, Unavailable)
    assert err.system == err.connector_id == "erp" and err.maybe_applied is maybe_applied
    assert f"HTTP {status}" in str(err) and "after 2 attempts" in str(err) and PASSWORD not in str(err)


def test_an_erp_that_is_not_listening_is_down_and_nothing_was_applied(tmp_path):
    conn = rest("http://127.0.0.1:19542/", tmp_path)
    try:
        with pytest.raises(ConnectorDown, match="cannot connect") as exc:
            conn.block_shipments("P0", "C0", "test")
    finally:
        conn.close()
    assert not exc.value.maybe_applied and PASSWORD not in str(exc.value)
