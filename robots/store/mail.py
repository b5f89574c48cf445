"""E-mail deliveries, task notifications and task closing in the store (owned by the mail/tasks feature).

Exactly-once for side effects outside the database follows "decide, save the decision, then act":

* a delivery row is written as ``sending`` before the SMTP conversation and set to ``sent`` after it. A step run
  again that finds ``sent`` does not send; one that finds ``sending`` (a crash in between) sends again with the
  same Message-ID, so the recipient's mail system and people can tell it is the same letter;
* a notification is recorded once per (task, channel) the same way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table, Text, UniqueConstraint, and_, func, select, update

from robots.store.schema import TS, metadata
from robots.store.schema import archive_bags, tasks


class DeliveryStatus(enum.StrEnum):
    SENDING = "sending"  # recorded before the SMTP conversation; still so after a crash or a transient failure
    SENT = "sent"        # the server accepted the letter
    BOUNCED = "bounced"  # refused for the recipient (at once, 5xx to RCPT, or later by a DSN)
    FAILED = "failed"    # refused for good for another reason (5xx to MAIL or DATA, AUTH)


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


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

notifications = Table(
    "notifications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=False),       # the address or the URL
    Column("status", String(16), nullable=False),  # sending | sent | failed
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS, nullable=True),
    UniqueConstraint("task_id", "channel", name="uq_notification_once"),
)


# -- deliveries ----------------------------------------------------------------------------------------------


def delivery(store: Any, run_id: int, step_idx: int) -> Any | None:
    rows = store.rows(select(deliveries).where(deliveries.c.run_id == run_id, deliveries.c.step_idx == step_idx))
    return rows[0] if rows else None


def begin_delivery(store: Any, run_id: int, step_idx: int, message_id: str, recipients: dict[str, list[str]],
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


def mark_sent(store: Any, run_id: int, step_idx: int, response: str, refused: dict[str, str],
              now: datetime) -> None:
    error = "; ".join(f"{a}: {r}" for a, r in refused.items()) or None
    _set(store, run_id, step_idx, status=DeliveryStatus.SENT, response=response, error=error, sent_at=now)


def mark_failed(store: Any, run_id: int, step_idx: int, error: str, now: datetime, *, bounced: bool) -> None:
    if bounced:
        _set(store, run_id, step_idx, status=DeliveryStatus.BOUNCED, error=error, bounced_at=now)
    else:
        _set(store, run_id, step_idx, status=DeliveryStatus.FAILED, error=error)


def note_attempt_error(store: Any, run_id: int, step_idx: int, error: str) -> None:
    """A transient failure: the row stays ``sending`` (the next attempt resends) and remembers why."""
    _set(store, run_id, step_idx, error=error)


def _set(store: Any, run_id: int, step_idx: int, **values: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(deliveries).where(deliveries.c.run_id == run_id, deliveries.c.step_idx == step_idx)
                     .values(**values))


def mark_bounced(store: Any, message_id: str, diagnostic: str, now: datetime) -> int:
    """A DSN reported the letter ``message_id`` undeliverable; returns how many deliveries it matched (0 or 1).
    A delivery already marked bounced keeps its first diagnostic."""
    with store.engine.begin() as conn:
        return conn.execute(update(deliveries).where(
            deliveries.c.message_id == message_id, deliveries.c.status != DeliveryStatus.BOUNCED,
        ).values(status=DeliveryStatus.BOUNCED, error=diagnostic, bounced_at=now)).rowcount


def delivery_counts(store: Any) -> dict[str, int]:
    return {s: n for s, n in store.rows(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))}


def advance_bag_head(store: Any, bag: str, seq: int, head: str, now: datetime) -> None:
    """Move a contract bag's recorded journal head forward after a receipt was journaled (never back)."""
    with store.engine.begin() as conn:
        conn.execute(update(archive_bags).where(archive_bags.c.path == bag, archive_bags.c.seq < seq)
                     .values(seq=seq, head=head, updated_at=now))


# -- notifications -------------------------------------------------------------------------------------------


def begin_notification(store: Any, task_id: int, channel: Channel, target: str, now: datetime) -> str | None:
    """Like :func:`begin_delivery` for one (task, channel): the earlier status, or None the first time."""
    with store.engine.begin() as conn:
        where = and_(notifications.c.task_id == task_id, notifications.c.channel == channel)
        row = conn.execute(select(notifications.c.status).where(where)).first()
        if row is None:
            conn.execute(notifications.insert().values(task_id=task_id, channel=channel, target=target,
                                                       status="sending", attempts=1, created_at=now))
            return None
        if row.status == "sending":
            conn.execute(update(notifications).where(where).values(attempts=notifications.c.attempts + 1))
        return str(row.status)


def finish_notification(store: Any, task_id: int, channel: Channel, now: datetime, error: str | None = None,
                        *, final: bool = True) -> None:
    """``sent`` (no error), ``failed`` (error, final) or still ``sending`` with the error (not final: retried)."""
    values: dict[str, Any] = {"error": error}
    if error is None:
        values.update(status="sent", sent_at=now)
    elif final:
        values["status"] = "failed"
    with store.engine.begin() as conn:
        conn.execute(update(notifications).where(notifications.c.task_id == task_id,
                                                 notifications.c.channel == channel).values(**values))


def failed_notifications(store: Any) -> int:
    return int(store.scalar(select(func.count()).select_from(notifications).where(
        notifications.c.status == "failed")) or 0)


# -- tasks ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRow:
    id: int
    run_id: int
    contract_id: str
    role: str
    assignee: str
    title: str
    due_on: date
    status: str
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    note: str | None

    def overdue_on(self, as_of: date) -> bool:
        """Open past its due date: a rule violation."""
        return self.status == TaskStatus.OPEN and self.due_on < as_of


def _task(r: Any) -> TaskRow:
    return TaskRow(r.id, r.run_id, r.contract_id, r.role, r.assignee, r.title, r.due_on, r.status, r.created_at,
                   r.closed_at, r.closed_by, r.note)


def task_for_step(store: Any, run_id: int, step_idx: int) -> TaskRow:
    return _task(store.rows(select(tasks).where(tasks.c.run_id == run_id, tasks.c.step_idx == step_idx))[0])


def task_by_id(store: Any, task_id: int) -> TaskRow | None:
    rows = store.rows(select(tasks).where(tasks.c.id == task_id))
    return _task(rows[0]) if rows else None


def list_tasks(store: Any, which: str, as_of: date, role: str | None = None) -> list[TaskRow]:
    """``which``: open, overdue (open with due_on before ``as_of``) or all; oldest deadline first."""
    query = select(tasks)
    if which in ("open", "overdue"):
        query = query.where(tasks.c.status == TaskStatus.OPEN)
    if which == "overdue":
        query = query.where(tasks.c.due_on < as_of)
    if role is not None:
        query = query.where(tasks.c.role == role)
    return [_task(r) for r in store.rows(query.order_by(tasks.c.due_on, tasks.c.id))]


def close_task(store: Any, task_id: int, by: str, note: str | None, now: datetime) -> bool:
    """Close an open task, recording who and when; False when it is not open (closed already, or no such task)."""
    with store.engine.begin() as conn:
        return conn.execute(update(tasks).where(tasks.c.id == task_id, tasks.c.status == TaskStatus.OPEN).values(
            status=TaskStatus.DONE, closed_at=now, closed_by=by, note=note)).rowcount == 1
