"""E-mail deliveries in the store: one row per letter a send_email step sends (owned by the mail feature).

Exactly-once for a side effect outside the database follows "decide, save the decision, then act": a delivery row
is written as ``sending`` before the SMTP conversation and set to ``sent`` after it. A step run again that finds
``sent`` does not send; one that finds ``sending`` (a crash in between) sends again with the same Message-ID, so
the recipient's mail system and people can tell it is the same letter. ``(run_id, step_idx)`` is unique.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table, Text, UniqueConstraint, delete, func, select, update

from robots.store.types import TS, Database, metadata


class DeliveryStatus(enum.StrEnum):
    SENDING = "sending"  # recorded before the SMTP conversation; still so after a crash or a transient failure
    SENT = "sent"        # the server accepted the letter
    BOUNCED = "bounced"  # refused for the recipient (at once, 5xx to RCPT, or later by a DSN)
    FAILED = "failed"    # refused for good for another reason (5xx to MAIL or DATA, AUTH)


deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("step_idx", Integer, nullable=False),
    Column("message_id", String(200), nullable=False, index=True),
    Column("recipients", JSON, nullable=False),   # {"to": [...], "cc": [...], "bcc": [...], "envelope": [...]}
    Column("subject", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("response", Text, nullable=True),      # the server's answer to DATA
    Column("attempts", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS, nullable=True),
    Column("bounced_at", TS, nullable=True),
    UniqueConstraint("run_id", "step_idx", name="uq_delivery_once"),
)


def delivery(store: Database, run_id: int, step_idx: int) -> Any | None:
    rows = store.rows(select(deliveries).where(deliveries.c.run_id == run_id, deliveries.c.step_idx == step_idx))
    return rows[0] if rows else None


def begin_delivery(store: Database, run_id: int, step_idx: int, message_id: str, recipients: dict[str, list[str]],
                   subject: str, now: datetime) -> DeliveryStatus | None:
    """Record that the letter is about to be sent; return the status an earlier attempt left (None: first).

    A row already ``sent``/``bounced``/``failed`` is left alone (the caller must not send); a ``sending`` row
    gets another attempt.
    """
    with store.engine.begin() as conn:
        row = conn.execute(select(deliveries.c.status).where(
            deliveries.c.run_id == run_id, deliveries.c.step_idx == step_idx)).first()
        if row is None:
            conn.execute(deliveries.insert().values(
                run_id=run_id, step_idx=step_idx, message_id=message_id, recipients=recipients, subject=subject,
                status=DeliveryStatus.SENDING, attempts=1, created_at=now))
            return None
        if row.status == DeliveryStatus.SENDING:
            conn.execute(update(deliveries).where(deliveries.c.run_id == run_id, deliveries.c.step_idx == step_idx)
                         .values(attempts=deliveries.c.attempts + 1))
        return DeliveryStatus(row.status)


def mark_sent(store: Database, run_id: int, step_idx: int, response: str, refused: dict[str, str],
              now: datetime) -> None:
    error = "; ".join(f"{a}: {r}" for a, r in refused.items()) or None
    _set(store, run_id, step_idx, status=DeliveryStatus.SENT, response=response, error=error, sent_at=now)


def mark_failed(store: Database, run_id: int, step_idx: int, error: str, now: datetime, *, bounced: bool) -> None:
    if bounced:
        _set(store, run_id, step_idx, status=DeliveryStatus.BOUNCED, error=error, bounced_at=now)
    else:
        _set(store, run_id, step_idx, status=DeliveryStatus.FAILED, error=error)


def note_attempt_error(store: Database, run_id: int, step_idx: int, error: str) -> None:
    """A transient failure: the row stays ``sending`` (the next attempt resends) and remembers why."""
    _set(store, run_id, step_idx, error=error)


def undo_attempt(store: Database, run_id: int, step_idx: int) -> None:
    """The attempt that :func:`begin_delivery` just counted never got the letter's data to the server (no connection,
    refused before DATA: an SMTP outage), so it does not count: the row goes back to what the earlier attempts left
    (none: removed). A letter that waited out an outage is not reported as sent more than once."""
    where = (deliveries.c.run_id == run_id, deliveries.c.step_idx == step_idx,
             deliveries.c.status == DeliveryStatus.SENDING)
    with store.engine.begin() as conn:
        conn.execute(delete(deliveries).where(*where, deliveries.c.attempts <= 1))
        conn.execute(update(deliveries).where(*where, deliveries.c.attempts > 1)
                     .values(attempts=deliveries.c.attempts - 1))


def _set(store: Database, run_id: int, step_idx: int, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(deliveries).where(deliveries.c.run_id == run_id, deliveries.c.step_idx == step_idx)
                     .values(**values))


def mark_bounced(store: Database, message_id: str, diagnostic: str, now: datetime) -> int:
    """A DSN reported the letter ``message_id`` undeliverable; returns how many deliveries it matched (0 or 1).
    A delivery already marked bounced keeps its first diagnostic."""
    with store.engine.begin() as conn:
        return conn.execute(update(deliveries).where(
            deliveries.c.message_id == message_id, deliveries.c.status != DeliveryStatus.BOUNCED,
        ).values(status=DeliveryStatus.BOUNCED, error=diagnostic, bounced_at=now)).rowcount


def delivery_counts(store: Database) -> dict[str, int]:
    return dict(store.rows(select(deliveries.c.status, func.count()).group_by(deliveries.c.status)))


__all__ = ["DeliveryStatus", "begin_delivery", "deliveries", "delivery", "delivery_counts", "mark_bounced",
           "mark_failed", "mark_sent", "note_attempt_error", "undo_attempt"]
