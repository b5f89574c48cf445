"""Shipment blocks the robots placed through a connector's write-back, and the history the paid event reads.

One row per block step that decided to block (``(blocked_run_id, blocked_step_idx)`` is unique, so a step re-run
after a crash finds its own row). A row's life: ``blocking`` (decided, write-back under way) → ``blocked`` (the
accounting system confirmed) → ``unblocked`` (the robots lifted it). Only ``blocked`` rows are the robots' active
blocks: :func:`is_blocked` and the ``blocked`` name of ``when:`` expressions read them.

``scope`` is ``contract`` (shipments under this contract) or ``counterparty`` (every contract of the
counterparty): a counterparty-wide block covers each of its contracts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, UniqueConstraint, and_, delete, func, or_, select, update

from robots.store import ledger
from robots.store.runs import runs
from robots.store.types import TS, Database, dialect_insert, metadata, utc


class BlockScope(enum.StrEnum):
    CONTRACT = "contract"
    COUNTERPARTY = "counterparty"


class BlockState(enum.StrEnum):
    BLOCKING = "blocking"  # decided and recorded; the write-back is under way (or crashed: the step runs again)
    BLOCKED = "blocked"  # the accounting system confirmed the block
    UNBLOCKED = "unblocked"  # the robots lifted it


shipment_blocks = Table(
    "shipment_blocks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("counterparty_id", String(64), nullable=False, index=True),
    Column("scope", String(16), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("blocked_run_id", Integer, nullable=False),
    Column("blocked_step_idx", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("blocked_at", TS, nullable=False),
    Column("unblocked_at", TS, nullable=True),
    Column("unblocked_run_id", Integer, nullable=True),
    Column("unblock_reason", Text, nullable=True),
    # What the accounting system answered (WriteResult.detail), for the block and then for the unblock.
    Column("detail", Text, nullable=True),
    UniqueConstraint("blocked_run_id", "blocked_step_idx", name="uq_shipment_block_once"),
)


@dataclass(frozen=True, slots=True)
class Block:
    id: int
    contract_id: str
    counterparty_id: str
    scope: BlockScope
    connector: str
    state: BlockState
    blocked_run_id: int
    blocked_step_idx: int
    reason: str
    blocked_at: datetime
    unblocked_at: datetime | None
    unblocked_run_id: int | None
    detail: str | None

    @classmethod
    def from_row(cls, r: Any) -> Block:
        return cls(r.id, r.contract_id, r.counterparty_id, BlockScope(r.scope), r.connector, BlockState(r.state),
                   r.blocked_run_id, r.blocked_step_idx, r.reason, utc(r.blocked_at), utc(r.unblocked_at),
                   r.unblocked_run_id, r.detail)


_b = shipment_blocks.c


def _covering(contract_id: str, counterparty_id: str | None) -> Any:
    """Rows whose block covers shipments under ``contract_id``: its own, or its counterparty's as a whole."""
    own = and_(_b.contract_id == contract_id, _b.scope == BlockScope.CONTRACT)
    party: Any = counterparty_id  # the id, or the subquery that finds it
    if counterparty_id is None:
        party = select(ledger.contracts.c.counterparty_id).where(ledger.contracts.c.id == contract_id) \
            .scalar_subquery()
    return or_(own, and_(_b.counterparty_id == party, _b.scope == BlockScope.COUNTERPARTY))


def is_blocked(store: Database, contract_id: str) -> bool:
    """True while the robots hold a shipment block for this contract (the ``blocked`` of when: expressions)."""
    return store.scalar(select(func.count()).select_from(shipment_blocks).where(
        _b.state == BlockState.BLOCKED, _covering(contract_id, None))) > 0


def block_of_step(store: Database, run_id: int, step_idx: int) -> Block | None:
    rows = store.rows(select(shipment_blocks).where(_b.blocked_run_id == run_id, _b.blocked_step_idx == step_idx))
    return Block.from_row(rows[0]) if rows else None


def active_block(store: Database, contract_id: str, counterparty_id: str, scope: BlockScope) -> Block | None:
    """The robots' oldest block (confirmed, or under way in another run) that already does what a new block of
    ``scope`` would: for a contract, its own or its counterparty's; for a counterparty, a counterparty-wide one."""
    if scope is BlockScope.CONTRACT:
        where = _covering(contract_id, counterparty_id)
    else:
        where = and_(_b.counterparty_id == counterparty_id, _b.scope == BlockScope.COUNTERPARTY)
    rows = store.rows(select(shipment_blocks).where(
        _b.state.in_((BlockState.BLOCKING, BlockState.BLOCKED)), where).order_by(_b.id).limit(1))
    return Block.from_row(rows[0]) if rows else None


def record_blocking(store: Database, *, run_id: int, step_idx: int, contract_id: str, counterparty_id: str,
                    scope: BlockScope, connector: str, reason: str, now: datetime) -> Block:
    """Record the decision to block before calling the system (once per run and step); the row back."""
    with store.engine.begin() as conn:
        conn.execute(dialect_insert(store.engine)(shipment_blocks).values(
            contract_id=contract_id, counterparty_id=counterparty_id, scope=scope.value, connector=connector,
            state=BlockState.BLOCKING.value, blocked_run_id=run_id, blocked_step_idx=step_idx, reason=reason,
            blocked_at=now).on_conflict_do_nothing())
    block = block_of_step(store, run_id, step_idx)
    assert block is not None
    return block


def confirm_blocked(store: Database, block_id: int, detail: str, now: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(shipment_blocks).where(_b.id == block_id, _b.state == BlockState.BLOCKING).values(
            state=BlockState.BLOCKED.value, detail=detail))


def forget_blocking(store: Database, block_id: int) -> None:
    """The write-back failed: drop the decision, so that no other run reads it as a block (the retry decides
    again)."""
    with store.engine.begin() as conn:
        conn.execute(delete(shipment_blocks).where(_b.id == block_id, _b.state == BlockState.BLOCKING))


def blocks_to_lift(store: Database, contract_id: str, counterparty_id: str, scope: BlockScope,
                   run_id: int) -> list[Block]:
    """The robots' confirmed blocks of ``scope`` on this contract (or its counterparty), plus any this run lifted
    already (a step re-run after a crash returns the same answer)."""
    if scope is BlockScope.CONTRACT:
        where = and_(_b.contract_id == contract_id, _b.scope == BlockScope.CONTRACT)
    else:
        where = and_(_b.counterparty_id == counterparty_id, _b.scope == BlockScope.COUNTERPARTY)
    rows = store.rows(select(shipment_blocks).where(where, or_(
        _b.state == BlockState.BLOCKED, and_(_b.state == BlockState.UNBLOCKED, _b.unblocked_run_id == run_id)))
        .order_by(_b.id))
    return [Block.from_row(r) for r in rows]


def covering_blocks(store: Database, contract_id: str, counterparty_id: str) -> list[Block]:
    rows = store.rows(select(shipment_blocks).where(_b.state == BlockState.BLOCKED,
                                                    _covering(contract_id, counterparty_id)).order_by(_b.id))
    return [Block.from_row(r) for r in rows]


def mark_unblocked(store: Database, block_ids: Iterable[int], run_id: int, reason: str, detail: str,
                   now: datetime) -> None:
    ids = list(block_ids)
    if not ids:
        return
    with store.engine.begin() as conn:
        conn.execute(update(shipment_blocks).where(_b.id.in_(ids), _b.state == BlockState.BLOCKED).values(
            state=BlockState.UNBLOCKED.value, unblocked_at=now, unblocked_run_id=run_id, unblock_reason=reason,
            detail=detail))


def blocked_contracts(store: Database) -> int:
    """How many contracts the robots block shipments for now (counted by the contract whose run placed a block)."""
    return store.scalar(select(func.count(func.distinct(_b.contract_id))).where(
        _b.state == BlockState.BLOCKED)) or 0


# -- what the paid event reads ------------------------------------------------------------------------------


def active_block_days(store: Database) -> dict[str, date]:
    """contract id -> the run day (as_of) of its oldest confirmed block, for contracts the robots blocked.

    A block belongs to the contract whose run placed it, whatever its scope: that contract's paid event lifts it
    (a counterparty-wide block only once no other contract of the counterparty is overdue: the unblock step
    checks).
    """
    r = runs.c
    return dict(store.rows(
        select(_b.contract_id, func.min(r.as_of)).join(runs, r.id == _b.blocked_run_id)
        .where(_b.state == BlockState.BLOCKED).group_by(_b.contract_id)))


def last_run_days(store: Database, column_ids: Iterable[str]) -> dict[str, date]:
    """contract id -> the latest run day (as_of) among runs of these columns (``paid``, the overdue columns)."""
    r = runs.c
    ids = sorted(set(column_ids))
    if not ids:
        return {}
    return dict(store.rows(
        select(r.contract_id, func.max(r.as_of)).where(r.column_id.in_(ids)).group_by(r.contract_id)))


def runs_since(store: Database, contract_ids: Iterable[str], column_ids: Iterable[str]) -> list[Any]:
    """(contract_id, as_of, invoices) of the runs of these contracts and columns, oldest first."""
    r = runs.c
    contracts, columns = sorted(set(contract_ids)), sorted(set(column_ids))
    if not contracts or not columns:
        return []
    return store.rows(select(r.contract_id, r.as_of, r.invoices).where(
        r.contract_id.in_(contracts), r.column_id.in_(columns)).order_by(r.id))


def blocking_runs(store: Database, contract_ids: Iterable[str]) -> list[Any]:
    """(contract_id, as_of, invoices) of the runs that placed the robots' confirmed blocks on these contracts."""
    r = runs.c
    contracts = sorted(set(contract_ids))
    if not contracts:
        return []
    return store.rows(select(r.contract_id, r.as_of, r.invoices).join(shipment_blocks, r.id == _b.blocked_run_id)
                      .where(_b.state == BlockState.BLOCKED, r.contract_id.in_(contracts)).order_by(r.id))


__all__ = ["Block", "BlockScope", "BlockState", "active_block", "active_block_days", "block_of_step",
           "blocked_contracts", "blocks_to_lift", "confirm_blocked", "covering_blocks", "forget_blocking", "is_blocked",
           "last_run_days", "mark_unblocked", "record_blocking", "runs_since", "shipment_blocks"]
