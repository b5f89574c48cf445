"""Sending letters over SMTP (the adapter), and how its failures are classified for the runner.

* :class:`PermanentMailError` (a :class:`~robots.core.errors.BusinessError`): the server said 5xx, or refused every
  recipient. Sending again will not help; a human must fix the address or the account.
* :class:`TransientMailError`: the server could not be reached, timed out, dropped the connection or said 4xx.
  The runner retries the step on its next pass; the letter keeps its Message-ID.

The letters themselves are built by :mod:`robots.mail.message`.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

from robots.core.errors import BusinessError, RuntimeFailure
from robots.mail.config import EmailConfig, SmtpConfig
from robots.support.secret_refs import read_secret


class PermanentMailError(BusinessError):
    """The server refused the letter for good (5xx). ``bounced``: it refused the recipients themselves."""

    def __init__(self, message: str, *, bounced: bool = False):
        super().__init__(message)
        self.bounced = bounced


class TransientMailError(RuntimeFailure):
    """The letter may go through later: no connection, a timeout, a 4xx answer."""


@dataclass(frozen=True)
class SendResult:
    #: The server's answer to DATA, e.g. "250 2.0.0 Ok: queued as 4F1A2".
    response: str
    #: Recipients the server refused while accepting the others (address -> "550 ...").
    refused: dict[str, str]


class Mailer:
    """Sends letters through the SMTP server of ``email.smtp``. One connection per letter: runs are spread over
    time and a long-lived connection would only time out in between."""

    def __init__(self, config: EmailConfig, base: Path):
        self.config = config
        self.smtp: SmtpConfig = config.smtp
        self.base = base
        self._password: str | None = None
        if self.smtp.username:
            # Read once, at construction: a missing secret is a configuration problem, reported as such.
            self._password = read_secret(self.smtp.password_env, self.smtp.password_file,
                                         "email.smtp password", base, error=BusinessError)

    def _tls_context(self) -> ssl.SSLContext:
        ca = self.smtp.ca_file
        return ssl.create_default_context(cafile=str(ca if ca.is_absolute() else self.base / ca) if ca else None)

    def _connect(self) -> smtplib.SMTP:
        s = self.smtp
        if s.security == "tls":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds,
                                                  context=self._tls_context())
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if s.username:
                try:
                    conn.login(s.username, self._password or "")
                except UnicodeEncodeError:
                    raise PermanentMailError("email.smtp: the username or password has non-ASCII characters, "
                                             "which SMTP AUTH cannot send; use an ASCII password") from None
        except BaseException:
            _close(conn)
            raise
        return conn

    def send(self, msg: EmailMessage, recipients: Sequence[str]) -> SendResult:
        """Send ``msg`` to the envelope ``recipients``; raise Permanent/TransientMailError on failure."""
        where = f"SMTP server {self.smtp.host}:{self.smtp.port}"
        try:
            conn = self._connect()
            try:
                code, text, refused = _transfer(conn, msg, self.config.sender_address, recipients)
            finally:
                _close(conn)
        except smtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{a}: {c} {_text(t)}" for a, (c, t) in exc.recipients.items())
            permanent = all(c >= 500 for c, _ in exc.recipients.values())
            if permanent:
                raise PermanentMailError(f"{where} refused every recipient: {detail}", bounced=True) from None
            raise TransientMailError(f"{where} refused the recipients for now: {detail}") from None
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, AUTH failed, ...
            detail = f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code >= 500:
                raise PermanentMailError(detail) from None
            raise TransientMailError(detail) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentMailError(f"{where}: {exc} (check email.smtp.security)") from None
        except (smtplib.SMTPException, OSError) as exc:  # no connection, timeout, TLS failure, dropped connection
            reason = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else f"{type(exc).__name__}: {exc}"
            raise TransientMailError(f"{where}: {reason}") from None
        refused_text = {a: f"{c} {_text(t)}" for a, (c, t) in refused.items()}
        return SendResult(response=f"{code} {_text(text)}", refused=refused_text)


def _transfer(conn: smtplib.SMTP, msg: EmailMessage, sender: str,
              recipients: Sequence[str]) -> tuple[int, bytes, dict[str, tuple[int, bytes]]]:
    """MAIL, RCPT and DATA by hand (what ``sendmail`` does), keeping the server's answer to DATA: it usually
    carries the queue id ("250 2.0.0 Ok: queued as 4F1A2"), which the delivery receipt records."""
    data = msg.as_bytes(policy=policy.SMTP)
    code, resp = conn.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, resp, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for rcpt in recipients:
        code, resp = conn.rcpt(rcpt)
        if code not in (250, 251):
            refused[rcpt] = (code, resp)
    if len(refused) == len(recipients):
        conn.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    code, resp = conn.data(data)
    if code != 250:
        conn.rset()
        raise smtplib.SMTPDataError(code, resp)
    return code, resp, refused


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
