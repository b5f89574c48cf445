"""The archive's index: one row per bag (contract folder) with its journal head, and legal holds.

``archive_bags`` lets ``archive verify`` notice a journal that was truncated or rewritten as a whole (the chain
alone cannot: a forger could recompute every link), and lets ``archive export`` find a contract's folder even
after the contract left the ledger.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_bags",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("contract_id", sa.String(64), nullable=False, index=True),
        sa.Column("contract_number", sa.Text, nullable=False),
        sa.Column("counterparty_id", sa.String(64), nullable=False, index=True),
        sa.Column("counterparty_name", sa.Text, nullable=False),
        sa.Column("counterparty_inn", sa.String(12), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract_id", sa.String(64), nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("legal_holds")
    op.drop_table("archive_bags")
