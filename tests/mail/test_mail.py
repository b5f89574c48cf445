"""The SMTP adapter against a real server (aiosmtpd): security modes, AUTH, failure classes, the letter's shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo.pki import free_port
from robots.mail.config import EmailConfig
from robots.mail.message import Attachment, build_message, message_id, split_addresses
from robots.mail.smtp import Mailer, PermanentMailError, TransientMailError
from tests.smtp import PASSWORD, USER, start

NOW = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def config(server, security="none", **smtp) -> EmailConfig:
    return EmailConfig.model_validate({
        "sender": "ООО «Арботс» <debt@arbots.example>",
        "smtp": {"host": server.host, "port": server.port, "security": security, "timeout_seconds": 5, **smtp}})


def letter(to=("client@example.ru",)):
    return build_message(sender="ООО «Арботс» <debt@arbots.example>", to=list(to), subject="Досудебное требование № 5",
                         body="Уважаемые господа!\nПросим погасить задолженность.\n", date_=NOW,
                         msg_id=message_id("C1|overdue_2|2026-03-12", 3, "arbots.example"),
                         attachments=[Attachment("Досудебное требование № ARB-2026-000001.pdf", PDF)])


def test_the_message_id_is_stable_per_step_and_shaped_for_bounce_matching():
    a = message_id("C1|overdue_2|2026-03-12", 3, "arbots.example")
    assert a == message_id("C1|overdue_2|2026-03-12", 3, "arbots.example")
    assert a != message_id("C1|overdue_2|2026-03-12", 4, "arbots.example")
    assert re.fullmatch(r"<arbots\.[0-9a-f]{32}@arbots\.example>", a)


def test_addresses_split_on_commas_and_semicolons_and_bad_ones_are_named():
    assert split_addresses(" a@x.ru; b@y.ru ,Иван <c@z.ru>;") == ["a@x.ru", "b@y.ru", "c@z.ru"]
    assert split_addresses("") == []
    with pytest.raises(ValueError, match="'not-an-address'"):
        split_addresses("a@x.ru; not-an-address")


def test_a_plain_relay_receives_the_russian_letter_and_the_pdf_byte_for_byte(smtp_server, tmp_path):
    result = Mailer(config(smtp_server), tmp_path).send(letter(), ["client@example.ru", "boss@example.ru"])
    assert result.response == "250 2.0.0 Ok: queued as ARB1" and result.refused == {}
    [got] = smtp_server.received
    assert got.mail_from == "debt@arbots.example" and got.rcpt_tos == ["client@example.ru", "boss@example.ru"]
    assert re.search(rb"^Subject: =\?utf-8\?", got.data, re.M | re.I)  # RFC 2047 on the wire
    assert re.search(rb"filename\*(0\*)?=utf-8''%D0", got.data, re.I)  # RFC 2231 for the Russian file name
    msg = got.message
    assert msg["Subject"] == "Досудебное требование № 5"
    assert "Просим погасить" in msg.get_body(("plain",)).get_content()
    [att] = list(msg.iter_attachments())
    assert att.get_content_type() == "application/pdf"
    assert att.get_filename() == "Досудебное требование № ARB-2026-000001.pdf"
    assert att.get_content() == PDF


def test_auth_with_the_password_from_an_environment_variable(tmp_path, monkeypatch):
    for server in start(tmp_path, "auth"):
        monkeypatch.setenv("SMTP_PW", PASSWORD)
        Mailer(config(server, username=USER, password_env="SMTP_PW"), tmp_path).send(letter(), ["c@example.ru"])
        assert len(server.received) == 1
        monkeypatch.setenv("SMTP_PW", "wrong")
        with pytest.raises(PermanentMailError, match="535") as exc:
            Mailer(config(server, username=USER, password_env="SMTP_PW"), tmp_path).send(letter(), ["c@example.ru"])
        assert "wrong" not in str(exc.value)
        assert len(server.received) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_modes_verify_the_server_against_the_given_ca(tmp_path, security):
    (tmp_path / "pw").write_text(PASSWORD)
    (tmp_path / "pw").chmod(0o600)
    for server in start(tmp_path, security):
        cfg = config(server, security, username=USER, password_file="pw", ca_file=str(server.ca_file))
        Mailer(cfg, tmp_path).send(letter(), ["c@example.ru"])
        assert len(server.received) == 1
        # without the CA the self-signed certificate is refused: transient (the runner retries, ops fix config)
        with pytest.raises(TransientMailError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            Mailer(config(server, security, username=USER, password_file="pw"), tmp_path).send(letter(), ["c@x.ru"])
        assert len(server.received) == 1


def test_starttls_required_by_the_server_is_refused_in_plain_mode(tmp_path):
    for server in start(tmp_path, "starttls"):
        with pytest.raises(PermanentMailError, match="530"):
            Mailer(config(server), tmp_path).send(letter(), ["c@example.ru"])


def test_refused_recipients_are_permanent_bounces_and_a_partial_refusal_is_reported(smtp_server, tmp_path):
    mailer = Mailer(config(smtp_server), tmp_path)
    with pytest.raises(PermanentMailError, match="550 5.1.1") as exc:
        mailer.send(letter(["bad@example.ru"]), ["bad@example.ru"])
    assert exc.value.bounced and smtp_server.received == []
    result = mailer.send(letter(), ["ok@example.ru", "bad2@example.ru"])
    assert list(result.refused) == ["bad2@example.ru"] and result.refused["bad2@example.ru"].startswith("550")
    assert smtp_server.received[0].rcpt_tos == ["ok@example.ru"]


def test_4xx_and_no_server_are_transient(smtp_server, tmp_path):
    smtp_server.handler.busy = True
    with pytest.raises(TransientMailError, match="451"):
        Mailer(config(smtp_server), tmp_path).send(letter(), ["c@example.ru"])
    smtp_server.handler.busy = False

    class Nowhere:
        host, port = "127.0.0.1", free_port()
    with pytest.raises(TransientMailError, match="ConnectionRefused"):
        Mailer(config(Nowhere), tmp_path).send(letter(), ["c@example.ru"])


def test_smtp_config_wants_the_password_by_reference_only_with_a_username():
    base = {"sender": "a@b.ru", "smtp": {"host": "h"}}
    with pytest.raises(ValueError, match="exactly one of password_env or password_file"):
        EmailConfig.model_validate({**base, "smtp": {"host": "h", "username": "u"}})
    with pytest.raises(ValueError, match="username is not"):
        EmailConfig.model_validate({**base, "smtp": {"host": "h", "password_env": "X"}})
    with pytest.raises(ValueError, match="not an e-mail address"):
        EmailConfig.model_validate({**base, "sender": "Арботс"})
    assert EmailConfig.model_validate(base).sender_domain == "b.ru"
    _ = Path
