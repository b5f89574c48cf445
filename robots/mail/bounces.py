"""Bounces: the RFC 3464 delivery status notifications (and plain-text bounces) about our letters.

:func:`read_messages` reads an mbox file, a Maildir folder or one .eml file; :func:`parse_bounce` tells which of
our letters (by its :data:`~robots.mail.message.MESSAGE_ID`) a message reports as undelivered.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path

from robots.mail.message import MESSAGE_ID


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
