"""Tasks for people in the store: the task a task step gives (once per run and step), its closing through
``task done``, and the notifications that tell the assignee (owned by the tasks feature).

A notification is recorded once per (task, channel) like an e-mail delivery (:mod:`robots.store.deliveries`):
``sending`` before the e-mail or webhook goes, ``sent`` after it, so a step run again after a crash repeats only
a channel whose outcome was not recorded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, Integer, String, Table, Text, UniqueConstraint, and_, func, select, update

from robots.store.types import TS, Database, insert_once, metadata


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


tasks = Table(
    "tasks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("step_idx", Integer, nullable=False),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("role", String(64), nullable=False),
    Column("assignee", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("status", String(16), nullable=False),  # open | done (TaskStatus)
    Column("created_at", TS, nullable=False),
    # Who closed the task and when (`task done`), with their note (migration 0006).
    Column("closed_at", TS, nullable=True),
    Column("closed_by", Text, nullable=True),
    Column("note", Text, nullable=True),
    UniqueConstraint("run_id", "step_idx", name="uq_task_once"),
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


# -- tasks ------------------------------------------------------------------------------------------------------


def add_task(store: Database, run_id: int, step_idx: int, contract_id: str, role: str, assignee: str, title: str,
             due_on: date, now: datetime) -> None:
    """Give the task of this run and step, once (a step re-executed after a crash finds it recorded)."""
    insert_once(store.engine, tasks, {
        "run_id": run_id, "step_idx": step_idx, "contract_id": contract_id, "role": role, "assignee": assignee,
        "title": title, "due_on": due_on, "status": TaskStatus.OPEN.value, "created_at": now})


def task_for_step(store: Database, run_id: int, step_idx: int) -> TaskRow:
    return _task(store.rows(select(tasks).where(tasks.c.run_id == run_id, tasks.c.step_idx == step_idx))[0])


def task_by_id(store: Database, task_id: int) -> TaskRow | None:
    rows = store.rows(select(tasks).where(tasks.c.id == task_id))
    return _task(rows[0]) if rows else None


def list_tasks(store: Database, which: str, as_of: date, role: str | None = None) -> list[TaskRow]:
    """``which``: open, overdue (open with due_on before ``as_of``) or all; oldest deadline first."""
    query = select(tasks)
    if which in ("open", "overdue"):
        query = query.where(tasks.c.status == TaskStatus.OPEN)
    if which == "overdue":
        query = query.where(tasks.c.due_on < as_of)
    if role is not None:
        query = query.where(tasks.c.role == role)
    return [_task(r) for r in store.rows(query.order_by(tasks.c.due_on, tasks.c.id))]


def task_counts(store: Database) -> dict[str, int]:
    """How many tasks each role was given, open or done."""
    return dict(store.rows(select(tasks.c.role, func.count()).group_by(tasks.c.role)))


def close_task(store: Database, task_id: int, by: str, note: str | None, now: datetime) -> bool:
    """Close an open task, recording who and when; False when it is not open (closed already, or no such task)."""
    with store.engine.begin() as conn:
        return conn.execute(update(tasks).where(tasks.c.id == task_id, tasks.c.status == TaskStatus.OPEN).values(
            status=TaskStatus.DONE, closed_at=now, closed_by=by, note=note)).rowcount == 1


# -- notifications ----------------------------------------------------------------------------------------------


def begin_notification(store: Database, task_id: int, channel: Channel, target: str, now: datetime) -> str | None:
    """Record that the assignee is about to be told on ``channel``: the status an earlier attempt left, or None
    the first time (a ``sending`` row gets another attempt)."""
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


def finish_notification(store: Database, task_id: int, channel: Channel, now: datetime, error: str | None = None,
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


def failed_notifications(store: Database) -> int:
    return int(store.scalar(select(func.count()).select_from(notifications).where(
        notifications.c.status == "failed")) or 0)


__all__ = ["Channel", "TaskRow", "TaskStatus", "add_task", "begin_notification", "close_task",
           "failed_notifications", "finish_notification", "list_tasks", "notifications", "task_by_id",
           "task_counts", "task_for_step", "tasks"]
