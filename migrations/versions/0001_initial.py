"""The initial schema: ledger snapshot, evaluations, crossings, runs and their steps, documents, tasks, holds.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
MONEY = sa.BigInteger  # integer kopecks; see robots.store.schema.Money
KEY = sa.String(64)


def upgrade() -> None:
    op.create_table("ledger_counterparties",
                    sa.Column("id", KEY, primary_key=True), sa.Column("name", sa.Text, nullable=False),
                    sa.Column("inn", sa.String(12), nullable=False), sa.Column("email", sa.Text, nullable=False),
                    sa.Column("debtor_group", KEY, nullable=False))
    op.create_table("ledger_contracts",
                    sa.Column("id", KEY, primary_key=True), sa.Column("number", sa.Text, nullable=False),
                    sa.Column("counterparty_id", KEY, nullable=False, index=True),
                    sa.Column("payment_days", sa.Integer, nullable=False),
                    sa.Column("currency", sa.String(3), nullable=False),
                    sa.Column("penalty_rate_per_day", sa.String(40), nullable=True))
    op.create_table("ledger_invoices",
                    sa.Column("id", KEY, primary_key=True), sa.Column("number", sa.Text, nullable=False),
                    sa.Column("contract_id", KEY, nullable=False, index=True),
                    sa.Column("issued_on", sa.Date, nullable=False), sa.Column("due_date", sa.Date, nullable=False),
                    sa.Column("amount", MONEY, nullable=False))
    op.create_table("ledger_payments",
                    sa.Column("id", KEY, primary_key=True), sa.Column("contract_id", KEY, nullable=False, index=True),
                    sa.Column("invoice_id", KEY, nullable=True), sa.Column("paid_on", sa.Date, nullable=False),
                    sa.Column("amount", MONEY, nullable=False))
    op.create_table("syncs",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("connectors", sa.Text, nullable=False), sa.Column("finished_at", TS, nullable=False),
                    sa.Column("counts", sa.JSON, nullable=False))
    op.create_table("robot_state",
                    sa.Column("id", sa.Integer, primary_key=True), sa.Column("last_as_of", sa.Date, nullable=True))
    op.bulk_insert(sa.table("robot_state", sa.column("id", sa.Integer)), [{"id": 1}])
    op.create_table("evaluations",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("as_of", sa.Date, nullable=False, index=True),
                    sa.Column("evaluated_at", TS, nullable=False),
                    sa.Column("crossings", sa.Integer, nullable=False), sa.Column("runs", sa.Integer, nullable=False),
                    sa.Column("total_open", MONEY, nullable=False), sa.Column("total_overdue", MONEY, nullable=False))
    op.create_table("runs",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("run_key", sa.String(200), nullable=False, unique=True),
                    sa.Column("contract_id", KEY, nullable=False, index=True),
                    sa.Column("column_id", KEY, nullable=False), sa.Column("scenario", KEY, nullable=False),
                    sa.Column("as_of", sa.Date, nullable=False), sa.Column("invoices", sa.JSON, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False, index=True),
                    sa.Column("attempts", sa.Integer, nullable=False),
                    sa.Column("lease_owner", sa.String(200), nullable=True),
                    sa.Column("lease_expires_at", TS, nullable=True),
                    sa.Column("created_at", TS, nullable=False), sa.Column("finished_at", TS, nullable=True),
                    sa.Column("error", sa.Text, nullable=True))
    op.create_table("crossings",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("invoice_id", KEY, nullable=False), sa.Column("column_id", KEY, nullable=False),
                    sa.Column("epoch", sa.String(10), nullable=False),
                    sa.Column("contract_id", KEY, nullable=False, index=True),
                    sa.Column("col_offset", sa.Integer, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False), sa.Column("as_of", sa.Date, nullable=False),
                    sa.Column("days_past_due", sa.Integer, nullable=False),
                    sa.Column("open_amount", MONEY, nullable=False), sa.Column("run_id", sa.Integer, nullable=True),
                    sa.UniqueConstraint("invoice_id", "column_id", "epoch", name="uq_crossing_once"))
    op.create_table("run_steps",
                    sa.Column("run_id", sa.Integer, primary_key=True), sa.Column("idx", sa.Integer, primary_key=True),
                    sa.Column("kind", sa.String(32), nullable=False), sa.Column("status", sa.String(16), nullable=False),
                    sa.Column("attempts", sa.Integer, nullable=False), sa.Column("output", sa.JSON, nullable=True),
                    sa.Column("error", sa.Text, nullable=True), sa.Column("updated_at", TS, nullable=False))
    op.create_table("documents",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("run_id", sa.Integer, nullable=False), sa.Column("step_idx", sa.Integer, nullable=False),
                    sa.Column("contract_id", KEY, nullable=False, index=True),
                    sa.Column("title", sa.Text, nullable=False), sa.Column("path", sa.Text, nullable=False),
                    sa.Column("sha256", sa.String(64), nullable=False), sa.Column("created_at", TS, nullable=False),
                    sa.UniqueConstraint("run_id", "step_idx", name="uq_document_once"))
    op.create_table("tasks",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("run_id", sa.Integer, nullable=False), sa.Column("step_idx", sa.Integer, nullable=False),
                    sa.Column("contract_id", KEY, nullable=False, index=True),
                    sa.Column("role", KEY, nullable=False), sa.Column("assignee", sa.Text, nullable=False),
                    sa.Column("title", sa.Text, nullable=False), sa.Column("due_on", sa.Date, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False), sa.Column("created_at", TS, nullable=False),
                    sa.UniqueConstraint("run_id", "step_idx", name="uq_task_once"))
    op.create_table("holds",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("invoice_id", KEY, nullable=False, index=True),
                    sa.Column("kind", sa.String(16), nullable=False), sa.Column("reason", sa.Text, nullable=False),
                    sa.Column("until", sa.Date, nullable=True), sa.Column("opened_at", TS, nullable=False),
                    sa.Column("released_at", TS, nullable=True))
    op.create_table("closed_invoices",
                    sa.Column("invoice_id", KEY, primary_key=True), sa.Column("closed_on", sa.Date, nullable=False))


def downgrade() -> None:
    for name in ("closed_invoices", "holds", "tasks", "documents", "run_steps", "crossings", "runs", "evaluations",
                 "robot_state", "syncs", "ledger_payments", "ledger_invoices", "ledger_contracts",
                 "ledger_counterparties"):
        op.drop_table(name)
