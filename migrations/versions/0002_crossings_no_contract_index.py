"""Drop the crossings' contract index: no query reads crossings by contract, and maintaining it cost about a
fifth of recording a first evaluation of a large ledger (bench/README.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_crossings_contract_id", table_name="crossings")


def downgrade() -> None:
    op.create_index("ix_crossings_contract_id", "crossings", ["contract_id"])
