"""Sending letters over SMTP (the adapter), and how its failures are classified for the runner.

* :class:`PermanentMailError` (a :class:`~robots.core.errors.BusinessError`): the server said 5xx, or refused every
  recipient. Sending again will not help; a human must fix the address or the account.
* :class:`TransientMailError` (an :class:`~robots.core.errors.Unavailable` of the system ``smtp``): the server
  could not be reached, timed out, dropped the connection or said 4xx. The run waits (it is not a failed attempt)
  and the step runs again later; the letter keeps its Message-ID.

Outages (no connection, a timeout, 421, a 4xx before the letter's data went out) are retried a few times at once
with backoff (``smtp.connect_attempts``); a failure after DATA was sent is never retried at once (the server may
have queued the letter: the next attempt resends it with the same Message-ID, which receivers drop). With a
:class:`~robots.support.breaker.Breaker`, outages count towards opening it, and while it is open no connection is
tried: the letter waits for the cool-down's end. Messages never carry the password.

The letters themselves are built by :mod:`robots.mail.message`.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from robots.core.errors import BusinessError, Unavailable
from robots.mail.config import EmailConfig, SmtpConfig
from robots.support.breaker import Breaker, BreakerState, scrub
from robots.support.secret_refs import read_secret

#: The system name of the SMTP server in breakers, waits and alerts.
SYSTEM = "smtp"


class PermanentMailError(BusinessError):
    """The server refused the letter for good (5xx). ``bounced``: it refused the recipients themselves."""

    def __init__(self, message: str, *, bounced: bool = False):
        super().__init__(message)
        self.bounced = bounced


class TransientMailError(Unavailable):
    """The letter may go through later: no connection, a timeout, a 4xx answer (the run waits for ``smtp``).

    ``outage``: the server could not be used at all (counts towards its breaker), as opposed to an answer about
    this letter (recipients refused for now, greylisting). ``before_data``: the letter's data never went out, so
    sending again at once cannot duplicate it."""

    def __init__(self, message: str, *, retry_at: datetime | None = None, outage: bool = True,
                 before_data: bool = False):
        super().__init__(SYSTEM, retry_at, scrub(message))
        self.outage = outage
        self.before_data = before_data

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):
        return (_transient, (self.reason, self.retry_at, self.outage, self.before_data))


def _transient(reason: str, retry_at: datetime | None, outage: bool, before_data: bool) -> TransientMailError:
    return TransientMailError(reason, retry_at=retry_at, outage=outage, before_data=before_data)


def open_until(breaker: Breaker | None, now: datetime) -> datetime | None:
    """When ``breaker`` (if any) is open with its cool-down still running at ``now``: the cool-down's end. A caller
    checks this before it records anything, so that a letter that cannot go now does not count an attempt."""
    if breaker is None or breaker.state is not BreakerState.OPEN:
        return None
    retry_at = breaker.retry_at()
    return retry_at if retry_at is not None and now < retry_at else None


@dataclass(frozen=True)
class SendResult:
    #: The server's answer to DATA, e.g. "250 2.0.0 Ok: queued as 4F1A2".
    response: str
    #: Recipients the server refused while accepting the others (address -> "550 ...").
    refused: dict[str, str]


class Mailer:
    """Sends letters through the SMTP server of ``email.smtp``. One connection per letter: runs are spread over
    time and a long-lived connection would only time out in between."""

    def __init__(self, config: EmailConfig, base: Path, *, breaker: Breaker | None = None,
                 sleep: Callable[[float], None] = time.sleep, attempts: int | None = None):
        self.config = config
        self.smtp: SmtpConfig = config.smtp
        self.base = base
        self.breaker = breaker
        self._sleep = sleep
        self.attempts = attempts if attempts is not None else self.smtp.connect_attempts
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
        """Send ``msg`` to the envelope ``recipients``; raise Permanent/TransientMailError on failure.

        Outages before the letter's data went out are retried at once (``attempts``, with backoff); through the
        breaker, the last one counts as a failure of ``smtp`` (and an open breaker refuses at once)."""
        breaker = self.breaker
        if breaker is not None:
            try:
                breaker.before()
            except Unavailable as exc:
                raise TransientMailError(exc.reason, retry_at=exc.retry_at, outage=False, before_data=True) from None
        retrying = Retrying(stop=stop_after_attempt(max(1, self.attempts)),
                            wait=wait_exponential(multiplier=0.5, max=4), sleep=self._sleep, reraise=True,
                            retry=retry_if_exception(lambda e: isinstance(e, TransientMailError) and e.outage
                                                     and e.before_data))
        try:
            result = retrying(self._send_once, msg, recipients)
        except TransientMailError as exc:
            if breaker is not None:
                if exc.outage:
                    exc.retry_at = breaker.failure(exc.reason).retry_at
                else:  # an answer about this letter: the server is up
                    breaker.success()
            raise
        except Exception:
            if breaker is not None:
                breaker.success()  # the server answered (a refusal, a bad password): it is up
            raise
        if breaker is not None:
            breaker.success()
        return result

    def _send_once(self, msg: EmailMessage, recipients: Sequence[str]) -> SendResult:
        where = f"SMTP server {self.smtp.host}:{self.smtp.port}"
        stage = ["connect"]
        try:
            conn = self._connect()
            try:
                code, text, refused = _transfer(conn, msg, self.config.sender_address, recipients, stage)
            finally:
                _close(conn)
        except smtplib.SMTPRecipientsRefused as exc:
            detail = "; ".join(f"{a}: {c} {_text(t)}" for a, (c, t) in exc.recipients.items())
            permanent = all(c >= 500 for c, _ in exc.recipients.values())
            if permanent:
                raise PermanentMailError(f"{where} refused every recipient: {detail}", bounced=True) from None
            raise TransientMailError(f"{where} refused the recipients for now: {detail}", outage=False,
                                     before_data=True) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, DATA refused, AUTH failed, ...
            detail = f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
            if exc.smtp_code >= 500:
                raise PermanentMailError(detail) from None
            # 421 (closing), or a 4xx before the letter's data: the server cannot take mail now. A 4xx to the
            # data itself is about this letter (and the data went out).
            in_data = stage[0] == "data"
            raise TransientMailError(detail, outage=exc.smtp_code == 421 or not in_data,
                                     before_data=not in_data) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentMailError(f"{where}: {exc} (check email.smtp.security)") from None
        except (smtplib.SMTPException, OSError) as exc:  # no connection, timeout, TLS failure, dropped connection
            reason = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else f"{type(exc).__name__}: {exc}"
            raise TransientMailError(f"{where}: {reason}", before_data=stage[0] != "data") from None
        refused_text = {a: f"{c} {_text(t)}" for a, (c, t) in refused.items()}
        return SendResult(response=f"{code} {_text(text)}", refused=refused_text)


def _transfer(conn: smtplib.SMTP, msg: EmailMessage, sender: str, recipients: Sequence[str],
              stage: list[str] | None = None) -> tuple[int, bytes, dict[str, tuple[int, bytes]]]:
    """MAIL, RCPT and DATA by hand (what ``sendmail`` does), keeping the server's answer to DATA: it usually
    carries the queue id ("250 2.0.0 Ok: queued as 4F1A2"), which the delivery receipt records. ``stage[0]``
    becomes ``"data"`` once the letter's data may have gone out."""
    stage = stage if stage is not None else ["envelope"]
    stage[0] = "envelope"
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
    stage[0] = "data"
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
