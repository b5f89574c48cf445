"""Approvals in the store: one request per run and approval step, decided once by a person through the CLI.

The request is recorded once (unique on run and step), so an approval step that runs again after a wake-up or a
crash finds its own request. A decision and an escalation are each a conditional UPDATE: deciding an approval
that is already decided changes nothing and is reported, and only one process ever escalates a request.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Column, Integer, String, Table, Text, UniqueConstraint, and_, or_, select, update

from robots.store.records import RunStatus, StepStatus
from robots.store.runs import run_steps, runs
from robots.store.types import TS, Database, dialect_insert, metadata, utc

approvals = Table(
    "approvals", metadata,
    # One request per run and approval step (migration 0008); the step finds it again when it runs again.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("step_idx", Integer, nullable=False),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("role", String(64), nullable=False),
    Column("assignee", Text, nullable=False),
    Column("title", Text, nullable=False),
    # The draft shown to the approver (an earlier render step's PDF), if the step names one.
    Column("document", Text, nullable=True),
    Column("requested_at", TS, nullable=False),
    # Fixed when requested (step's escalate_after_hours, else approvals.escalate_after_hours).
    Column("escalate_at", TS, nullable=False),
    Column("escalated_at", TS, nullable=True),
    Column("escalated_to", String(64), nullable=True),  # the deputy's role id
    Column("decision", String(16), nullable=True),
    Column("decided_by", Text, nullable=True),
    Column("decided_at", TS, nullable=True),
    Column("comment", Text, nullable=True),
    UniqueConstraint("run_id", "step_idx", name="uq_approval_once"),
)


class Decision(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Approval:
    id: int
    run_id: int
    step_idx: int
    contract_id: str
    role: str
    assignee: str
    title: str
    document: str | None
    requested_at: datetime
    escalate_at: datetime
    escalated_at: datetime | None
    escalated_to: str | None
    decision: Decision | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None

    @property
    def state(self) -> str:
        """pending, escalated, approved or rejected (what ``approval list`` shows)."""
        if self.decision is not None:
            return self.decision.value
        return "escalated" if self.escalated_at is not None else "pending"

    @classmethod
    def from_row(cls, row: Any) -> Approval:
        return cls(
            id=row.id, run_id=row.run_id, step_idx=row.step_idx, contract_id=row.contract_id, role=row.role,
            assignee=row.assignee, title=row.title, document=row.document,
            requested_at=utc(row.requested_at), escalate_at=utc(row.escalate_at),
            escalated_at=utc(row.escalated_at), escalated_to=row.escalated_to,
            decision=Decision(row.decision) if row.decision else None, decided_by=row.decided_by,
            decided_at=utc(row.decided_at), comment=row.comment,
        )


def request_approval(store: Database, *, run_id: int, step_idx: int, contract_id: str, role: str, assignee: str,
                     title: str, document: str | None, now: datetime, escalate_at: datetime) -> tuple[Approval, bool]:
    """The request of this run and step, recorded now unless it exists; and whether it was new."""
    with store.engine.begin() as conn:
        inserted = conn.execute(dialect_insert(store.engine)(approvals).values(
            run_id=run_id, step_idx=step_idx, contract_id=contract_id, role=role, assignee=assignee, title=title,
            document=document, requested_at=now, escalate_at=escalate_at,
        ).on_conflict_do_nothing().returning(approvals.c.id)).first() is not None
        row = conn.execute(select(approvals).where(approvals.c.run_id == run_id,
                                                   approvals.c.step_idx == step_idx)).one()
    return Approval.from_row(row), inserted


def get_approval(store: Database, approval_id: int) -> Approval | None:
    rows = store.rows(select(approvals).where(approvals.c.id == approval_id))
    return Approval.from_row(rows[0]) if rows else None


def list_approvals(store: Database, *, pending_only: bool = False) -> list[Approval]:
    query = select(approvals).order_by(approvals.c.id)
    if pending_only:
        query = query.where(approvals.c.decision.is_(None))
    return [Approval.from_row(r) for r in store.rows(query)]


def escalate(store: Database, approval_id: int, deputy_role: str, now: datetime) -> bool:
    """Hand an undecided request to the deputy's role too; True only for the one caller that did it."""
    with store.engine.begin() as conn:
        return conn.execute(update(approvals).where(
            approvals.c.id == approval_id, approvals.c.escalated_at.is_(None), approvals.c.decision.is_(None),
        ).values(escalated_at=now, escalated_to=deputy_role)).rowcount == 1


def decide(store: Database, approval_id: int, decision: Decision, by: str, comment: str | None, now: datetime) -> bool:
    """Record the decision unless the request is already decided (False then). Does not wake the run."""
    with store.engine.begin() as conn:
        return conn.execute(update(approvals).where(
            approvals.c.id == approval_id, approvals.c.decision.is_(None),
        ).values(decision=decision.value, decided_by=by, decided_at=now, comment=comment)).rowcount == 1


class _Waking(Database, Protocol):
    """The store, which wakes a run so that a wake-up coming while the run is claimed is kept (Store.wake_run)."""

    def wake_run(self, run_id: int, now: datetime) -> bool: ...


def wake_decided(store: _Waking, now: datetime) -> list[int]:
    """Wake runs that still wait on an approval that was decided (a decision made while the run was claimed,
    whose wake-up found it running, would otherwise wait for nothing); returns their ids."""
    query = select(runs.c.id).select_from(
        approvals.join(runs, runs.c.id == approvals.c.run_id).join(
            run_steps, and_(run_steps.c.run_id == approvals.c.run_id, run_steps.c.idx == approvals.c.step_idx)),
    ).where(approvals.c.decision.is_not(None), runs.c.status == RunStatus.WAITING,
            run_steps.c.status == StepStatus.WAITING, or_(runs.c.wake_at.is_(None), runs.c.wake_at > now))
    woken = []
    for run_id in sorted({r.id for r in store.rows(query)}):
        if store.wake_run(run_id, now):
            woken.append(run_id)
    return woken
