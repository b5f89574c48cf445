"""Tables of the arbots store (SQLAlchemy Core). The schema itself is created by Alembic migrations.

Money is stored as integer kopecks (:class:`Money`): exact on SQLite too, whose NUMERIC goes through float.
The unique constraints are the exactly-once guarantees:

* ``crossings (invoice_id, column_id, epoch)``: a debt crosses a column once;
* ``runs (run_key)``: one scenario run per contract, column and day;
* ``documents (run_id, step_idx)`` and ``tasks (run_id, step_idx)``: a re-executed step never duplicates.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """A Decimal amount with at most two decimals, stored as integer minor units (kopecks)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> int | None:
        if value is None:
            return None
        cents = value * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"amount {value} has more than two decimals")
        return int(cents)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        return None if value is None else (Decimal(value) / 100).quantize(CENT)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal of any scale (rates), stored as its exact text."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: str | None, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = MetaData()
TS = DateTime(timezone=True)

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

syncs = Table(
    "syncs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connectors", Text, nullable=False),
    Column("finished_at", TS, nullable=False),
    Column("counts", JSON, nullable=False),
)

robot_state = Table(
    "robot_state", metadata,
    # A single row (id = 1): evaluations lock it, so two daemons never evaluate at once.
    Column("id", Integer, primary_key=True),
    Column("last_as_of", Date, nullable=True),
)

evaluations = Table(
    "evaluations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("as_of", Date, nullable=False, index=True),
    Column("evaluated_at", TS, nullable=False),
    Column("crossings", Integer, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("total_open", Money, nullable=False),
    Column("total_overdue", Money, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", String(200), nullable=False, unique=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("column_id", String(64), nullable=False),
    Column("scenario", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("invoices", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expires_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Column("error", Text, nullable=True),
    # A waiting run is claimed again from this time on (null: only when something wakes it, e.g. an approval).
    Column("wake_at", TS, nullable=True),
    # Why a done run stopped early ("stopped: paid before sending"), or null when every step ran (0005).
    Column("outcome", Text, nullable=True),
)

crossings = Table(
    "crossings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("invoice_id", String(64), nullable=False),
    Column("column_id", String(64), nullable=False),
    Column("epoch", String(10), nullable=False),
    Column("contract_id", String(64), nullable=False),  # not indexed: nothing reads crossings by contract (0002)
    Column("col_offset", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("days_past_due", Integer, nullable=False),
    Column("open_amount", Money, nullable=False),
    Column("run_id", Integer, nullable=True),
    UniqueConstraint("invoice_id", "column_id", "epoch", name="uq_crossing_once"),
)

run_steps = Table(
    "run_steps", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("output", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("updated_at", TS, nullable=False),
)

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
    Column("status", String(16), nullable=False),  # open | done (robots.store.mail.TaskStatus)
    Column("created_at", TS, nullable=False),
    # Who closed the task and when (`task done`), with their note (migration 0006).
    Column("closed_at", TS, nullable=True),
    Column("closed_by", Text, nullable=True),
    Column("note", Text, nullable=True),
    UniqueConstraint("run_id", "step_idx", name="uq_task_once"),
)

holds = Table(
    "holds", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("invoice_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("until", Date, nullable=True),
    Column("opened_at", TS, nullable=False),
    Column("released_at", TS, nullable=True),
    # What placed the hold: "promise:<id>" or "dispute:<id>" (migration 0007); null for the `hold` command.
    Column("ref", String(64), nullable=True, index=True),
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


closed_invoices = Table(
    "closed_invoices", metadata,
    Column("invoice_id", String(64), primary_key=True),
    Column("closed_on", Date, nullable=False),
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


# Tables of the features, each in its own module, on the same metadata (migrations 0006-0008).
import robots.store.approvals  # noqa: E402,F401
import robots.store.mail  # noqa: E402,F401
import robots.store.people  # noqa: E402,F401
import robots.store.shipments  # noqa: E402,F401
