"""The archive's index in the store: the documents archived (once per run and step), the head of each contract
bag's journal, and the legal holds that keep a contract's documents past their retention period.

The documents themselves live in the archive's folders (:mod:`archive`); these rows let the robots find them and
let ``archive verify`` compare each bag's journal with the head recorded here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, UniqueConstraint, func, insert, select, update

from robots.store.types import TS, Database, dialect_insert, insert_once, inserted_id, metadata

documents = Table(
    "documents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("step_idx", Integer, nullable=False),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("run_id", "step_idx", name="uq_document_once"),
)

archive_bags = Table(
    "archive_bags", metadata,
    # One row per contract folder (bag): who it belongs to and the head of its journal (migration 0003).
    Column("path", Text, primary_key=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("contract_number", Text, nullable=False),
    Column("counterparty_id", String(64), nullable=False, index=True),
    Column("counterparty_name", Text, nullable=False),
    Column("counterparty_inn", String(12), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("head", String(64), nullable=False),
    Column("updated_at", TS, nullable=False),
)

legal_holds = Table(
    "legal_holds", metadata,
    # A contract's documents are kept past their retention period while a hold is open.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("released_at", TS, nullable=True),
)


# -- documents and bag heads ------------------------------------------------------------------------------------


def add_document(store: Database, run_id: int, step_idx: int, contract_id: str, title: str, path: str, sha256: str,
                 now: datetime) -> None:
    """Index a document once per run and step (a step re-executed after a crash finds it indexed)."""
    insert_once(store.engine, documents, {
        "run_id": run_id, "step_idx": step_idx, "contract_id": contract_id, "title": title, "path": path,
        "sha256": sha256, "created_at": now})


def record_archived(store: Database, document: dict[str, Any], bag: dict[str, Any]) -> None:
    """Index an archived document and move its bag's journal head forward, in one transaction.

    ``document``: run_id, step_idx, contract_id, title, path, sha256, created_at (once per run and step).
    ``bag``: path, contract_id, contract_number, counterparty_id/_name/_inn, seq, head, updated_at. The head
    only moves forward: a slower writer that journaled earlier never sets it back.
    """
    ins = dialect_insert(store.engine)
    with store.engine.begin() as conn:
        conn.execute(ins(documents).values(**document).on_conflict_do_nothing())
        stmt = ins(archive_bags).values(**bag)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[archive_bags.c.path],
            set_={k: stmt.excluded[k] for k in bag if k != "path"},
            where=archive_bags.c.seq < stmt.excluded.seq))


def advance_bag_head(store: Database, bag: str, seq: int, head: str, now: datetime) -> None:
    """Move a contract bag's recorded journal head forward after a receipt was journaled (never back)."""
    with store.engine.begin() as conn:
        conn.execute(update(archive_bags).where(archive_bags.c.path == bag, archive_bags.c.seq < seq)
                     .values(seq=seq, head=head, updated_at=now))


def bag_heads(store: Database) -> list[Any]:
    """Every contract bag with its recorded journal head, by path."""
    return store.rows(select(archive_bags).order_by(archive_bags.c.path))


def archived_documents(store: Database) -> list[Any]:
    """Every indexed document, in the order it was archived."""
    return store.rows(select(documents).order_by(documents.c.id))


def document_counts(store: Database) -> dict[str, int]:
    """How many documents of each title were archived."""
    return dict(store.rows(select(documents.c.title, func.count()).group_by(documents.c.title)))


def documents_of_other_runs(store: Database, contract_id: str, run_id: int) -> int:
    """How many documents runs other than ``run_id`` archived for the contract (the ``letters`` of when:)."""
    return int(store.scalar(select(func.count()).select_from(documents).where(
        documents.c.contract_id == contract_id, documents.c.run_id != run_id)) or 0)


# -- legal holds ------------------------------------------------------------------------------------------------


def add_legal_hold(store: Database, contract_id: str, reason: str, now: datetime) -> int:
    with store.engine.begin() as conn:
        return inserted_id(conn.execute(insert(legal_holds).values(
            contract_id=contract_id, reason=reason, opened_at=now)))


def release_legal_holds(store: Database, contract_id: str, now: datetime) -> int:
    with store.engine.begin() as conn:
        return conn.execute(update(legal_holds).where(
            legal_holds.c.contract_id == contract_id, legal_holds.c.released_at.is_(None),
        ).values(released_at=now)).rowcount


def open_legal_holds(store: Database) -> dict[str, str]:
    """contract_id -> reason of every open legal hold."""
    rows = store.rows(select(legal_holds.c.contract_id, legal_holds.c.reason).where(
        legal_holds.c.released_at.is_(None)).order_by(legal_holds.c.id))
    return {r.contract_id: r.reason for r in rows}


__all__ = ["add_document", "add_legal_hold", "advance_bag_head", "archive_bags", "archived_documents", "bag_heads",
           "document_counts", "documents", "documents_of_other_runs", "legal_holds", "open_legal_holds",
           "record_archived", "release_legal_holds"]
