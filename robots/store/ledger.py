"""The ledger snapshot in the store: counterparties, contracts, invoices and payments as the last good sync saw
them, with the record of every sync, good or failed.

A sync replaces the whole snapshot in one transaction, so readers see the old ledger or the new one, never a mix.
It takes the evaluation lock (``robot_state``'s row) first, so an evaluation, which reads the ledger under that
lock, never sees a sync half-way. With the snapshot it writes each contract's *fingerprint* (``ledger_versions``:
a hash of the contract, its debtor group, its invoices and its payments): an evaluation compares it with the
fingerprint it last evaluated the contract at, and evaluates again only the contracts that changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from hashlib import blake2b
from typing import Any, NamedTuple

from sqlalchemy import JSON, Column, Connection, Date, Integer, String, Table, Text, func, insert, select

from robots.core.discounts import format_discounts, parse_discounts
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from robots.store.types import TS, Database, ExactDecimal, Money, bulk_insert, metadata, utc

counterparties = Table(
    "ledger_counterparties", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("inn", String(12), nullable=False),
    Column("email", Text, nullable=False),
    Column("debtor_group", String(64), nullable=False),
)

contracts = Table(
    "ledger_contracts", metadata,
    Column("id", String(64), primary_key=True),
    Column("number", Text, nullable=False),
    Column("counterparty_id", String(64), nullable=False, index=True),
    Column("payment_days", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("penalty_rate_per_day", ExactDecimal, nullable=True),
    # Early-payment discount tiers as text, "3%/7; 2%/14" (0005).
    Column("discounts", Text, nullable=True),
)

invoices = Table(
    "ledger_invoices", metadata,
    Column("id", String(64), primary_key=True),
    Column("number", Text, nullable=False),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("issued_on", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("amount", Money, nullable=False),
)

payments = Table(
    "ledger_payments", metadata,
    Column("id", String(64), primary_key=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("invoice_id", String(64), nullable=True),
    Column("paid_on", Date, nullable=False),
    Column("amount", Money, nullable=False),
)

ledger_versions = Table(
    "ledger_versions", metadata,
    # One row per contract of the snapshot (0011): the fingerprint of everything about it that aging reads.
    Column("contract_id", String(64), primary_key=True),
    Column("fingerprint", String(16), nullable=False),
    sqlite_with_rowid=False,
)

syncs = Table(
    "syncs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connectors", Text, nullable=False),
    Column("finished_at", TS, nullable=False),
    Column("counts", JSON, nullable=False),
)

sync_failures = Table(
    "sync_failures", metadata,
    # A sync that applied nothing (migration 0004): kind rejected (bad data), unavailable, refused (sanity guard).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connectors", Text, nullable=False),
    Column("failed_at", TS, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("message", Text, nullable=False),
)


class SyncFailure(NamedTuple):
    connectors: str
    failed_at: datetime
    kind: str
    message: str


@dataclass(frozen=True)
class RunSubject:
    """What a run is about, as the ledger has it now."""

    contract: Contract
    counterparty: Counterparty
    #: The run's invoices still in the ledger, by id (one that is gone is missing here).
    invoices: dict[str, Invoice]


# -- syncing ----------------------------------------------------------------------------------------------------


def replace_ledger(store: Database, ledger: Ledger, source: str, now: datetime) -> None:
    """Swap the whole ledger snapshot in one transaction: readers see the old one or the new one."""
    fingerprints = contract_fingerprints(ledger)
    with store.engine.begin() as conn:
        # the evaluation lock: an evaluation reads the ledger under it, so it sees this swap whole or not at all
        conn.exec_driver_sql("UPDATE robot_state SET id = 1 WHERE id = 1")
        for table in (ledger_versions, payments, invoices, contracts, counterparties):
            conn.execute(table.delete())
        bulk_insert(conn, counterparties, [
            {"id": c.id, "name": c.name, "inn": c.inn, "email": c.email, "debtor_group": c.group}
            for c in ledger.counterparties])
        bulk_insert(conn, contracts, [
            {"id": c.id, "number": c.number, "counterparty_id": c.counterparty_id,
             "payment_days": c.payment_days, "currency": c.currency,
             "penalty_rate_per_day": c.penalty_rate_per_day, "discounts": format_discounts(c.discounts)}
            for c in ledger.contracts])
        bulk_insert(conn, invoices, [
            {"id": i.id, "number": i.number, "contract_id": i.contract_id, "issued_on": i.date,
             "due_date": i.due_date, "amount": i.amount} for i in ledger.invoices])
        bulk_insert(conn, payments, [
            {"id": p.id, "contract_id": p.contract_id, "invoice_id": p.invoice_id, "paid_on": p.date,
             "amount": p.amount} for p in ledger.payments])
        bulk_insert(conn, ledger_versions, [{"contract_id": c, "fingerprint": f} for c, f in fingerprints.items()])
        conn.execute(insert(syncs).values(connectors=source, finished_at=now, counts=ledger.counts()))


_MASK = (1 << 64) - 1


def contract_fingerprints(ledger: Ledger) -> dict[str, str]:
    """contract id -> a 64-bit hash (hex) of the contract, its counterparty's debtor group, its invoices and its
    payments, whatever their order: any change of what aging reads about a contract changes it."""
    group_of = {cp.id: cp.group for cp in ledger.counterparties}
    acc = {c.id: 0 for c in ledger.contracts}

    def add(contract_id: str, parts: Iterable[Any]) -> None:
        if contract_id in acc:
            digest = blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
            acc[contract_id] = (acc[contract_id] + int.from_bytes(digest, "little")) & _MASK

    for c in ledger.contracts:
        add(c.id, ("c", c.id, c.counterparty_id, group_of.get(c.counterparty_id, "default"), c.payment_days))
    for i in ledger.invoices:
        add(i.contract_id, ("i", i.id, i.date, i.due_date, i.amount))
    for p in ledger.payments:
        add(p.contract_id, ("p", p.id, p.invoice_id, p.date, p.amount))
    return {c: f"{v:016x}" for c, v in acc.items()}


def record_sync_failure(store: Database, connectors: str, kind: str, message: str, now: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(sync_failures).values(connectors=connectors, failed_at=now, kind=kind, message=message))


def last_sync_at(store: Database) -> datetime | None:
    return utc(store.scalar(select(func.max(syncs.c.finished_at))))


def last_sync_failure(store: Database) -> SyncFailure | None:
    """The newest failed sync, or None."""
    rows = store.rows(select(sync_failures).order_by(sync_failures.c.id.desc()).limit(1))
    if not rows:
        return None
    row = rows[0]
    return SyncFailure(row.connectors, utc(row.failed_at), row.kind, row.message)


# -- reading the snapshot -----------------------------------------------------------------------------------------


def load_ledger(store: Database) -> Ledger:
    """The ledger snapshot, read as driver tuples (a million invoices load in seconds, not tens of seconds)."""
    with store.engine.connect() as conn:
        return read_ledger(conn)


def read_ledger(conn: Connection, contract_ids: Collection[str] | None = None,
                invoice_ids: Collection[str] | None = None) -> Ledger:
    """The ledger snapshot on ``conn`` (the evaluation's locked connection, or any), as driver tuples; with
    ``contract_ids`` or ``invoice_ids``, only those contracts (all their invoices and payments) and those invoices
    (without their contracts' other entries), their contracts and counterparties. Invoices come in id order."""
    dates: dict[Any, date] = {}
    ids: dict[str, str] = {}

    def day(v: Any) -> date:  # SQLite gives ISO text, PostgreSQL dates; few distinct values either way
        d = dates.get(v)
        if d is None:
            d = dates[v] = v if isinstance(v, date) else date.fromisoformat(v)
        return d

    def key(v: str) -> str:  # one str object per contract id instead of one per row
        return ids.setdefault(v, v)

    def money(kopecks: int) -> Decimal:
        return Decimal(kopecks).scaleb(-2)  # the value Money gives: kopecks as rubles with two decimals

    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    # the driver's own cursor on this connection (its transaction): rows as it returns them, without SQLAlchemy's
    # per-row fetching
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def rows(sql: str, where: str | None = None, values: Collection[str] | None = None) -> Iterable[Any]:
        if where is None:  # streamed: the cursor is read to the end before the next query
            cursor.execute(sql)
            return cursor
        chunk = sorted(values or ())
        found: list[Any] = []
        for start in range(0, len(chunk), CHUNK):
            part = chunk[start:start + CHUNK]
            cursor.execute(f"{sql} WHERE {where} IN ({', '.join([mark] * len(part))})", tuple(part))
            found += cursor.fetchall()
        return found

    cp_sql = "SELECT id, name, inn, email, debtor_group FROM ledger_counterparties"
    ct_sql = ("SELECT id, number, counterparty_id, payment_days, currency, penalty_rate_per_day, discounts "
              "FROM ledger_contracts")
    inv_sql = "SELECT id, number, contract_id, issued_on, due_date, amount FROM ledger_invoices"
    pay_sql = "SELECT id, contract_id, invoice_id, paid_on, amount FROM ledger_payments"

    def contract(r: Any) -> Contract:
        i, n, cp, days, cur, rate, disc = r
        return Contract(key(i), n, cp, days, cur, None if rate is None else Decimal(rate),
                        parse_discounts(disc) if disc else ())

    def invoice(r: Any) -> Invoice:
        i, n, c, d, due, a = r
        return Invoice(i, n, key(c), day(d), day(due), money(a))

    if contract_ids is None and invoice_ids is None:
        cps = tuple(Counterparty(*r) for r in rows(cp_sql + " ORDER BY id"))
        cts = tuple(contract(r) for r in rows(ct_sql + " ORDER BY id"))
        invs = tuple(invoice(r) for r in rows(inv_sql + " ORDER BY id"))
        pays = tuple(Payment(i, key(c), day(d), money(a), inv) for i, c, inv, d, a in rows(pay_sql + " ORDER BY id"))
        return Ledger(cps, cts, invs, pays)
    whole = set(contract_ids or ())
    some = [invoice(r) for r in rows(inv_sql, "id", set(invoice_ids or ())) if r[2] not in whole]
    invs_all = [invoice(r) for r in rows(inv_sql, "contract_id", whole)] + some
    invs_all.sort(key=lambda i: i.id)
    pays_all = sorted((Payment(i, key(c), day(d), money(a), inv) for i, c, inv, d, a in rows(
        pay_sql, "contract_id", whole)), key=lambda p: p.id)
    cts_all = sorted((contract(r) for r in rows(ct_sql, "id", whole | {i.contract_id for i in some})),
                     key=lambda c: c.id)
    cps_all = sorted((Counterparty(*r) for r in rows(cp_sql, "id", {c.counterparty_id for c in cts_all})),
                     key=lambda c: c.id)
    return Ledger(tuple(cps_all), tuple(cts_all), tuple(invs_all), tuple(pays_all))


#: Ids per ``IN (...)`` list of a partial read.
CHUNK = 5_000


def contract_entries(store: Database, contract_id: str, through: date) -> tuple[list[Invoice], list[Payment]]:
    """One contract's invoices (credit notes included) and payments dated on or before ``through``."""
    i, p = invoices.c, payments.c
    with store.engine.connect() as conn:
        invs = [_invoice(r) for r in conn.execute(
            select(invoices).where(i.contract_id == contract_id, i.issued_on <= through).order_by(i.id))]
        pays = [Payment(r.id, r.contract_id, r.paid_on, r.amount, r.invoice_id) for r in conn.execute(
            select(payments).where(p.contract_id == contract_id, p.paid_on <= through).order_by(p.id))]
    return invs, pays


def run_subject(store: Database, contract_id: str, invoice_ids: Collection[str]) -> RunSubject | None:
    """The contract, its counterparty and these of its invoices; None when the contract is no longer there."""
    found = store.rows(select(contracts).where(contracts.c.id == contract_id))
    if not found:
        return None
    contract = _contract(found[0])
    p = store.rows(select(counterparties).where(counterparties.c.id == contract.counterparty_id))[0]
    counterparty = Counterparty(p.id, p.name, p.inn, p.email, p.debtor_group)
    rows = store.rows(select(invoices).where(invoices.c.id.in_(invoice_ids)))
    return RunSubject(contract, counterparty, {r.id: _invoice(r) for r in rows})


def ledger_ids(store: Database, kind: str) -> set[str]:
    """The ids of one kind of record (``invoices``, ``payments``, ...) in the current snapshot."""
    table = {"counterparties": counterparties, "contracts": contracts, "invoices": invoices,
             "payments": payments}[kind]
    return {row[0] for row in store.rows(select(table.c.id))}


def contract_numbers(store: Database) -> dict[str, str]:
    """contract id -> its number, for every contract in the snapshot."""
    return {r.id: r.number for r in store.rows(select(contracts.c.id, contracts.c.number))}


def invoice_contracts(store: Database) -> dict[str, str]:
    """invoice id -> its contract's id, for every invoice in the snapshot."""
    return {r.id: r.contract_id for r in store.rows(select(invoices.c.id, invoices.c.contract_id))}


def other_contracts(store: Database, counterparty_id: str, contract_id: str) -> list[str]:
    """The ids of the counterparty's contracts other than ``contract_id``, in id order."""
    c = contracts.c
    return [row.id for row in store.rows(
        select(c.id).where(c.counterparty_id == counterparty_id, c.id != contract_id).order_by(c.id))]


def stored_payments(store: Database, contract_id: str) -> dict[str, Decimal]:
    """payment id -> amount of the contract's payments in the snapshot (what the last sync saw)."""
    p = payments.c
    return {r.id: r.amount for r in store.rows(select(p.id, p.amount).where(p.contract_id == contract_id))}


def _contract(r: Any) -> Contract:
    return Contract(r.id, r.number, r.counterparty_id, r.payment_days, r.currency, r.penalty_rate_per_day,
                    parse_discounts(r.discounts) if r.discounts else ())


def _invoice(r: Any) -> Invoice:
    return Invoice(r.id, r.number, r.contract_id, r.issued_on, r.due_date, r.amount)


__all__ = ["RunSubject", "SyncFailure", "contract_entries", "contract_numbers", "contracts", "counterparties",
           "contract_fingerprints", "invoice_contracts", "invoices", "last_sync_at", "last_sync_failure", "ledger_ids",
           "ledger_versions", "load_ledger", "read_ledger",
           "other_contracts", "payments", "record_sync_failure", "replace_ledger", "run_subject", "stored_payments",
           "sync_failures", "syncs"]
