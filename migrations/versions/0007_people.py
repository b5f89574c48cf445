"""Promises to pay, disputes and the contacts journal.

``promises``, ``disputes`` and ``contacts`` (robots/store/people.py), and ``holds.ref``: which promise or dispute
placed a hold ("promise:<id>", "dispute:<id>"), so that cancelling or closing it releases exactly its holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("holds") as batch:
        batch.add_column(sa.Column("ref", sa.String(64), nullable=True))
        batch.create_index("ix_holds_ref", ["ref"])
    op.create_table(
        "promises",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract_id", sa.String(64), nullable=False, index=True),
        sa.Column("invoice_id", sa.String(64), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("promised_on", sa.Date, nullable=False),
        sa.Column("recorded_on", sa.Date, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("closed_on", sa.Date, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("closed_by", sa.Text, nullable=True),
        sa.Column("paid", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("ref", name="uq_promise_ref"),
    )
    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract_id", sa.String(64), nullable=False, index=True),
        sa.Column("invoice_id", sa.String(64), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("opened_by", sa.Text, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("closed_by", sa.Text, nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.UniqueConstraint("ref", name="uq_dispute_ref"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract_id", sa.String(64), nullable=False, index=True),
        sa.Column("contacted_on", sa.Date, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("promise_id", sa.Integer, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(100), nullable=True),
        sa.UniqueConstraint("ref", name="uq_contact_ref"),
    )


def downgrade() -> None:
    op.drop_table("contacts")
    op.drop_table("disputes")
    op.drop_table("promises")
    with op.batch_alter_table("holds") as batch:
        batch.drop_index("ix_holds_ref")
        batch.drop_column("ref")
