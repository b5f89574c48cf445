"""E-mail: building letters, sending them over SMTP, the sending window, and reading bounces (DSNs).

The adapter part (:class:`Mailer`) is the only code here that does I/O; :func:`build_message`,
:func:`message_id`, :func:`next_window_start` and :func:`parse_bounce` are pure.

Failures are classified for the runner:

* :class:`PermanentMailError` (a :class:`~robots.core.errors.BusinessError`): the server said 5xx, or refused every
  recipient. Sending again will not help; a human must fix the address or the account.
* :class:`TransientMailError`: the server could not be reached, timed out, dropped the connection or said 4xx.
  The runner retries the step on its next pass; the letter keeps its Message-ID.
"""

from __future__ import annotations

import hashlib
import mailbox
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from robots.mail.config import EmailConfig, SendingWindow, SmtpConfig, bare_address
from robots.core.errors import BusinessError, RuntimeFailure
from robots.support.secret_refs import read_secret

#: What every Message-ID arbots makes looks like; bounces are matched by it.
MESSAGE_ID = re.compile(r"<arbots\.[0-9a-f]{32}@[^<>\s]+>")


class PermanentMailError(BusinessError):
    """The server refused the letter for good (5xx). ``bounced``: it refused the recipients themselves."""

    def __init__(self, message: str, *, bounced: bool = False):
        super().__init__(message)
        self.bounced = bounced


class TransientMailError(RuntimeFailure):
    """The letter may go through later: no connection, a timeout, a 4xx answer."""


# -- letters (pure) ------------------------------------------------------------------------------------------


def message_id(run_key: str, step: int | str, sender_domain: str) -> str:
    """The Message-ID of a step's letter: the same for every attempt of that step, so a resend after a crash
    is recognisable (by us and by the recipient's mail system)."""
    digest = hashlib.sha256(f"{run_key}|{step}".encode("utf-8")).hexdigest()[:32]
    return f"<arbots.{digest}@{sender_domain}>"


def split_addresses(text: str) -> list[str]:
    """Addresses in a ledger field or a ``to:`` entry: separated by commas or semicolons, blanks ignored.
    ValueError names the first one that is not an address."""
    parts = [p.strip() for p in re.split(r"[;,]", text or "")]
    return [bare_address(p) for p in parts if p]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime: tuple[str, str] = ("application", "pdf")


def build_message(*, sender: str, to: Sequence[str], subject: str, body: str, msg_id: str, date_: datetime,
                  cc: Sequence[str] = (), reply_to: str | None = None, attachments: Sequence[Attachment] = (),
                  headers: Iterable[tuple[str, str]] = ()) -> EmailMessage:
    """A UTF-8 letter; Russian subjects and file names are encoded per RFC 2047 / RFC 2231 when it is sent.
    Bcc recipients are never written into the message (they go only into the SMTP envelope)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date_.astimezone(timezone.utc))
    msg["Message-ID"] = msg_id
    for name, value in headers:
        msg[name] = value
    msg.set_content(body, charset="utf-8")
    for a in attachments:
        msg.add_attachment(a.content, maintype=a.mime[0], subtype=a.mime[1], filename=a.filename)
    return msg


# -- the sending window (pure) -------------------------------------------------------------------------------


def next_window_start(now: datetime, window: SendingWindow, is_working: Callable[[date], bool]) -> datetime | None:
    """None when ``now`` (aware) is inside the sending window; otherwise when the next window opens, in UTC."""
    zone = ZoneInfo(window.timezone)
    local = now.astimezone(zone)

    def open_day(day: date) -> bool:
        return not window.working_days_only or is_working(day)

    if open_day(local.date()) and window.start <= local.time() < window.end:
        return None
    day = local.date() if local.time() < window.start else local.date() + timedelta(days=1)
    for _ in range(366):
        if open_day(day):
            return datetime.combine(day, window.start, tzinfo=zone).astimezone(timezone.utc)
        day += timedelta(days=1)
    raise ValueError("no working day within a year: check calendar: in schedules.yaml")


# -- SMTP (the adapter) --------------------------------------------------------------------------------------


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


# -- bounces (RFC 3464 delivery status notifications) --------------------------------------------------------


@dataclass(frozen=True)
class Bounce:
    message_id: str
    recipients: tuple[str, ...]
    status: str        # e.g. "5.1.1"
    diagnostic: str    # e.g. "smtp; 550 5.1.1 <x@y>: user unknown"


def parse_bounce(msg: Message) -> Bounce | None:
    """The failed delivery a DSN reports, or None when ``msg`` is not a failure report about one of our letters.

    A standard DSN is ``multipart/report; report-type=delivery-status`` with a ``message/delivery-status`` part and
    the original message (or its headers). Mail systems that send plain-text bounces are matched by an arbots
    Message-ID quoted anywhere in the text.
    """
    recipients: list[str] = []
    statuses: list[str] = []
    diagnostics: list[str] = []
    original: str | None = None
    failed = False
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            for block in part.get_payload():
                action = (block.get("Action") or "").strip().lower()
                if block.get("Final-Recipient") or block.get("Original-Recipient"):
                    if action not in ("failed", ""):
                        continue  # delayed, delivered, relayed, expanded: not a bounce
                    failed = True
                    rcpt = block.get("Final-Recipient") or block.get("Original-Recipient")
                    recipients.append(str(rcpt).split(";", 1)[-1].strip())
                    statuses.append(str(block.get("Status") or "").strip())
                    if block.get("Diagnostic-Code"):
                        diagnostics.append(" ".join(str(block["Diagnostic-Code"]).split()))
        elif ctype == "message/rfc822" and original is None:
            inner = part.get_payload(0)
            original = _our_id(str(inner.get("Message-ID", "")))
        elif ctype == "text/rfc822-headers" and original is None:
            headers = BytesHeaderParser().parsebytes(part.get_payload(decode=True) or b"")
            original = _our_id(str(headers.get("Message-ID", "")))
    if original is None:  # a non-standard bounce: look for our Message-ID anywhere
        original = _our_id(msg.as_string(policy=policy.compat32) if isinstance(msg, Message) else "")
        failed = failed or original is not None and _looks_like_bounce(msg)
    if original is None or not failed:
        return None
    return Bounce(original, tuple(recipients), ", ".join(s for s in statuses if s) or "5.0.0",
                  "; ".join(diagnostics) or (str(msg.get("Subject", "")) or "bounced"))


def _our_id(text: str) -> str | None:
    m = MESSAGE_ID.search(text)
    return m.group(0) if m else None


def _looks_like_bounce(msg: Message) -> bool:
    sender = str(msg.get("From", "")).lower()
    subject = str(msg.get("Subject", "")).lower()
    return any(w in sender for w in ("mailer-daemon", "postmaster")) or \
        any(w in subject for w in ("undeliver", "delivery status", "failure", "returned mail"))


def read_messages(path: Path) -> Iterator[Message]:
    """The messages of an mbox file, a Maildir folder, or a single RFC 5322 message file (.eml)."""
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise ValueError(f"{path} is a folder but not a Maildir (no cur/ or new/)")
        box: mailbox.Mailbox = mailbox.Maildir(path, factory=None, create=False)
    else:
        raw = path.read_bytes()
        if not raw.startswith(b"From "):
            yield message_from_bytes(raw, policy=policy.compat32)
            return
        box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield message_from_bytes(box.get_bytes(key), policy=policy.compat32)
    finally:
        box.close()


__all__ = ["Attachment", "Bounce", "Mailer", "PermanentMailError", "SendResult", "TransientMailError",
           "build_message", "message_id", "next_window_start", "parse_bounce", "read_messages", "split_addresses"]
