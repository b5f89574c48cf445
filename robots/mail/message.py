"""Building letters (pure): the Message-ID of a step's letter, recipients' addresses, and the MIME message.

Every Message-ID arbots makes matches :data:`MESSAGE_ID`, which is how :mod:`robots.mail.bounces` recognises the
bounces of our letters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from robots.mail.config import bare_address

#: What every Message-ID arbots makes looks like; bounces are matched by it.
MESSAGE_ID = re.compile(r"<arbots\.[0-9a-f]{32}@[^<>\s]+>")


def message_id(run_key: str, step: int | str, sender_domain: str) -> str:
    """The Message-ID of a step's letter: the same for every attempt of that step, so a resend after a crash
    is recognisable (by us and by the recipient's mail system)."""
    digest = hashlib.sha256(f"{run_key}|{step}".encode()).hexdigest()[:32]
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
    msg["Date"] = format_datetime(date_.astimezone(UTC))
    msg["Message-ID"] = msg_id
    for name, value in headers:
        msg[name] = value
    msg.set_content(body, charset="utf-8")
    for a in attachments:
        msg.add_attachment(a.content, maintype=a.mime[0], subtype=a.mime[1], filename=a.filename)
    return msg
