"""Promises to pay, disputes and the contacts journal in the store (owned by the people's-input feature).

A promise and a dispute each place holds (robots/core/aging.py skips held invoices): one ``holds`` row per invoice it
covers, tagged ``holds.ref = "promise:<id>"`` / ``"dispute:<id>"`` so that cancelling or closing releases exactly
its own holds. Everything one command (or one CSV import) records is written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

from robots.core.domain import HoldKind
from robots.store.runs import holds as holds_table
from robots.store.types import TS, Database, Money, inserted_id, metadata

promises = Table(
    "promises", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("invoice_id", String(64), nullable=True),  # null: the contract's debt as a whole
    Column("amount", Money, nullable=False),
    Column("promised_on", Date, nullable=False),
    # The business day it was recorded: payments dated from this day on count towards it.
    Column("recorded_on", Date, nullable=False),
    Column("recorded_at", TS, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("source", String(16), nullable=False),  # cli, import, contact
    Column("ref", String(100), nullable=True),  # the external reference of an imported row
    Column("status", String(16), nullable=False, index=True),  # robots.core.decisions.PromiseStatus
    Column("closed_on", Date, nullable=True),  # the day it was found kept or broken, or cancelled
    Column("closed_at", TS, nullable=True),  # when a person cancelled it
    Column("closed_by", Text, nullable=True),
    Column("paid", Money, nullable=True),  # what counted towards it when it was decided
    UniqueConstraint("ref", name="uq_promise_ref"),
)

disputes = Table(
    "disputes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("invoice_id", String(64), nullable=True),  # null: every open invoice of the contract
    Column("amount", Money, nullable=True),  # the disputed part, for information; the whole invoice is held
    Column("reason", Text, nullable=False),
    Column("opened_on", Date, nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("opened_by", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("ref", String(100), nullable=True),
    Column("status", String(16), nullable=False, index=True),  # open, closed
    Column("closed_at", TS, nullable=True),
    Column("closed_by", Text, nullable=True),
    Column("resolution", Text, nullable=True),
    UniqueConstraint("ref", name="uq_dispute_ref"),
)

contacts = Table(
    "contacts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("contacted_on", Date, nullable=False),
    Column("recorded_at", TS, nullable=False),
    Column("recorded_by", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("channel", String(16), nullable=True),
    Column("note", Text, nullable=False),
    Column("promise_id", Integer, nullable=True),  # the promise an outcome "promised" recorded
    Column("source", String(16), nullable=False),
    Column("ref", String(100), nullable=True),
    UniqueConstraint("ref", name="uq_contact_ref"),
)


@dataclass(frozen=True)
class NewPromise:
    contract_id: str
    invoice_id: str | None
    amount: Decimal
    promised_on: date
    recorded_on: date
    recorded_by: str
    note: str = ""
    source: str = "cli"
    ref: str | None = None
    #: The invoices it pauses and the last day of the pause (promised_on + grace).
    hold_invoices: tuple[str, ...] = ()
    hold_until: date | None = None


@dataclass(frozen=True)
class NewDispute:
    contract_id: str
    invoice_id: str | None
    amount: Decimal | None
    reason: str
    opened_on: date
    opened_by: str
    source: str = "cli"
    ref: str | None = None
    hold_invoices: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewContact:
    contract_id: str
    contacted_on: date
    recorded_by: str
    outcome: str
    channel: str | None = None
    note: str = ""
    source: str = "cli"
    ref: str | None = None
    promise: NewPromise | None = None


@dataclass
class Recorded:
    """What one batch recorded: the new ids per kind."""

    promises: list[int] = field(default_factory=list)
    disputes: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)


# --- writing ----------------------------------------------------------------------------------------------------

def record(store: Database, items: Sequence[NewPromise | NewDispute | NewContact], now: datetime) -> Recorded:
    """Record promises, disputes and contacts with their holds, all in one transaction (all or nothing)."""
    done = Recorded()
    with store.engine.begin() as conn:
        for item in items:
            if isinstance(item, NewPromise):
                done.promises.append(_insert_promise(conn, item, now))
            elif isinstance(item, NewDispute):
                done.disputes.append(_insert_dispute(conn, item, now))
            else:
                promise_id = _insert_promise(conn, item.promise, now) if item.promise else None
                if promise_id is not None:
                    done.promises.append(promise_id)
                done.contacts.append(inserted_id(conn.execute(insert(contacts).values(
                    contract_id=item.contract_id, contacted_on=item.contacted_on, recorded_at=now,
                    recorded_by=item.recorded_by, outcome=item.outcome, channel=item.channel, note=item.note,
                    promise_id=promise_id, source=item.source, ref=item.ref))))
    return done


def _insert_promise(conn: Connection, p: NewPromise, now: datetime) -> int:
    pid = inserted_id(conn.execute(insert(promises).values(
        contract_id=p.contract_id, invoice_id=p.invoice_id, amount=p.amount, promised_on=p.promised_on,
        recorded_on=p.recorded_on, recorded_at=now, recorded_by=p.recorded_by, note=p.note, source=p.source,
        ref=p.ref, status="open")))
    _add_holds(conn, p.hold_invoices, HoldKind.PROMISE, f"promise #{pid} by {p.recorded_by}: {p.amount} on "
               f"{p.promised_on.isoformat()}", p.hold_until, f"promise:{pid}", now)
    return pid


def _insert_dispute(conn: Connection, d: NewDispute, now: datetime) -> int:
    did = inserted_id(conn.execute(insert(disputes).values(
        contract_id=d.contract_id, invoice_id=d.invoice_id, amount=d.amount, reason=d.reason,
        opened_on=d.opened_on, opened_at=now, opened_by=d.opened_by, source=d.source, ref=d.ref,
        status="open")))
    _add_holds(conn, d.hold_invoices, HoldKind.DISPUTE, f"dispute #{did}: {d.reason}", None, f"dispute:{did}", now)
    return did


def _add_holds(conn: Connection, invoice_ids: Iterable[str], kind: HoldKind, reason: str, until: date | None,
               ref: str, now: datetime) -> None:
    rows = [{"invoice_id": i, "kind": kind.value, "reason": reason, "until": until, "opened_at": now, "ref": ref}
            for i in invoice_ids]
    if rows:
        conn.execute(insert(holds_table), rows)


def _release(conn: Connection, ref: str, now: datetime) -> None:
    h = holds_table.c
    conn.execute(update(holds_table).where(h.ref == ref, h.released_at.is_(None)).values(released_at=now))


def cancel_promise(store: Database, promise_id: int, by: str, day: date, now: datetime) -> bool:
    """Cancel an open promise and lift its pause; False when it is not open (decided or cancelled already)."""
    c = promises.c
    with store.engine.begin() as conn:
        changed = conn.execute(update(promises).where(c.id == promise_id, c.status == "open").values(
            status="cancelled", closed_on=day, closed_at=now, closed_by=by)).rowcount
        if changed:
            _release(conn, f"promise:{promise_id}", now)
    return changed == 1


def close_dispute(store: Database, dispute_id: int, by: str, resolution: str, now: datetime) -> bool:
    """Close an open dispute and release its holds; False when it is not open."""
    c = disputes.c
    with store.engine.begin() as conn:
        changed = conn.execute(update(disputes).where(c.id == dispute_id, c.status == "open").values(
            status="closed", closed_at=now, closed_by=by, resolution=resolution)).rowcount
        if changed:
            _release(conn, f"dispute:{dispute_id}", now)
    return changed == 1


def record_outcomes(store: Database, outcomes: Iterable[Any]) -> list[int]:
    """Save the robots' decisions (kept/broken) on promises still open; return the ids this call decided.

    The UPDATE is conditional on the promise being open, so a promise is decided once even when two robots
    decide at the same time.
    """
    c = promises.c
    decided = []
    with store.engine.begin() as conn:
        for o in outcomes:
            if conn.execute(update(promises).where(c.id == o.promise_id, c.status == "open").values(
                    status=o.status.value, closed_on=o.day, paid=o.paid)).rowcount:
                decided.append(o.promise_id)
    return decided


# --- reading ----------------------------------------------------------------------------------------------------

def promises_broken(store: Database, contract_id: str) -> int:
    """How many promises to pay of this contract were broken (the ``promises_broken`` of when: expressions)."""
    c = promises.c
    return int(store.scalar(select(func.count()).select_from(promises).where(
        c.contract_id == contract_id, c.status == "broken")) or 0)


def promise_rows(store: Database, *, contract_id: str | None = None, status: str | None = None,
                 closed_on: date | None = None) -> list[Any]:
    c = promises.c
    q = select(promises).order_by(c.id)
    if contract_id is not None:
        q = q.where(c.contract_id == contract_id)
    if status is not None:
        q = q.where(c.status == status)
    if closed_on is not None:
        q = q.where(c.closed_on == closed_on)
    return store.rows(q)


def promise_row(store: Database, promise_id: int) -> Any | None:
    rows = store.rows(select(promises).where(promises.c.id == promise_id))
    return rows[0] if rows else None


def dispute_rows(store: Database, *, contract_id: str | None = None, open_only: bool = False) -> list[Any]:
    c = disputes.c
    q = select(disputes).order_by(c.id)
    if contract_id is not None:
        q = q.where(c.contract_id == contract_id)
    if open_only:
        q = q.where(c.status == "open")
    return store.rows(q)


def dispute_row(store: Database, dispute_id: int) -> Any | None:
    rows = store.rows(select(disputes).where(disputes.c.id == dispute_id))
    return rows[0] if rows else None


def contact_rows(store: Database, *, contract_id: str | None = None) -> list[Any]:
    c = contacts.c
    q = select(contacts).order_by(c.id)
    if contract_id is not None:
        q = q.where(c.contract_id == contract_id)
    return store.rows(q)


def known_refs(store: Database, table: Table) -> set[str]:
    return {row.ref for row in store.rows(select(table.c.ref).where(table.c.ref.is_not(None)))}


def promises_for_plan(store: Database, as_of: date) -> list[Any]:
    """Promises open on ``as_of``: recorded by then and not decided or cancelled before or on it."""
    c = promises.c
    rows = store.rows(select(c.id, c.contract_id, c.invoice_id, c.amount, c.promised_on, c.status, c.closed_on)
                      .where(c.recorded_on <= as_of).order_by(c.id))
    return [r for r in rows if r.status == "open" or (r.closed_on is not None and r.closed_on > as_of)]
