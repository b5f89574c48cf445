"""`mail bounces FILE`: RFC 3464 delivery status notifications mark deliveries bounced by the original Message-ID."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from sqlalchemy import select

from robots.cli.tasks import _bounces
from robots.mail.bounces import parse_bounce
from robots.mail.message import message_id
from robots.store import deliveries as db

NOW = datetime(2026, 3, 13, 10, 0, tzinfo=UTC)
MID = message_id("C000|overdue_2|2026-03-12", 3, "arbots.example")


def dsn(original_id: str, action: str = "failed") -> Message:
    """A DSN as Postfix writes it: multipart/report with message/delivery-status and the original's headers."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.ru (Mail Delivery System)"
    report["To"] = "debt@arbots.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("This is the mail system at host mx.example.ru.\nI'm sorry to have to inform you...\n"))
    status = MIMEBase("message", "delivery-status")
    per_message, per_rcpt = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.ru"
    per_rcpt["Final-Recipient"] = "rfc822; c0@example.ru"
    per_rcpt["Action"] = action
    per_rcpt["Status"] = "5.1.1"
    per_rcpt["Diagnostic-Code"] = "smtp; 550 5.1.1 <c0@example.ru>: Recipient address rejected: User unknown"
    status.set_payload([per_message, per_rcpt])
    report.attach(status)
    headers = MIMEText(f"From: debt@arbots.example\nTo: c0@example.ru\nMessage-ID: {original_id}\n"
                       "Subject: =?utf-8?b?0JTQvtGB0YPQtNC10LHQvdC+0LU=?=\n", "rfc822-headers")
    report.attach(headers)
    return report


def test_a_dsn_names_the_original_letter_the_recipient_and_the_diagnostic():
    from email import message_from_bytes

    bounce = parse_bounce(message_from_bytes(dsn(MID).as_bytes()))
    assert bounce is not None and bounce.message_id == MID
    assert bounce.recipients == ("c0@example.ru",) and bounce.status == "5.1.1"
    assert "User unknown" in bounce.diagnostic
    assert parse_bounce(message_from_bytes(dsn(MID, action="delayed").as_bytes())) is None
    other = message_id("x", 1, "elsewhere.example").replace("arbots.", "other.")
    assert parse_bounce(message_from_bytes(dsn(other).as_bytes())) is None


def _delivery(store, run_id: int, mid: str) -> None:
    db.begin_delivery(store, run_id, 3, mid, {"to": ["c0@example.ru"]}, "Требование", NOW)
    db.mark_sent(store, run_id, 3, "250 OK", {}, NOW)


def test_bounces_from_an_mbox_and_a_maildir_mark_the_delivery_once(store, tmp_path, capsys):
    _delivery(store, 1, MID)
    _delivery(store, 2, message_id("C001|overdue_2|2026-03-12", 3, "arbots.example"))
    box = mailbox.mbox(tmp_path / "bounces.mbox")
    box.add(dsn(MID))
    hello = EmailMessage()
    hello["Subject"], hello["From"] = "Привет", "friend@example.ru"
    hello.set_content("not a bounce")
    box.add(hello)
    box.close()
    assert _bounces(tmp_path / "bounces.mbox", store, NOW) == 0
    out = capsys.readouterr().out
    assert "1 deliveries marked bounced" in out and "1 not bounces" in out
    rows = {r.run_id: r for r in store.rows(select(db.deliveries))}
    assert rows[1].status == "bounced" and "User unknown" in rows[1].error and rows[1].bounced_at is not None
    assert rows[2].status == "sent"

    md = mailbox.Maildir(tmp_path / "Maildir", create=True)
    md.add(dsn(MID))
    md.close()
    _bounces(tmp_path / "Maildir", store, NOW)
    assert "0 deliveries marked bounced, 1 bounces matched no pending delivery" in capsys.readouterr().out
