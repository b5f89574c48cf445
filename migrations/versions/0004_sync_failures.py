"""Syncs that applied nothing: rejected data, an unreachable source, or a snapshot the sanity guard refused.

``status`` shows the last one when it is newer than the last good sync, so a person sees why the robots are
working from an older ledger (they never act on a partial one).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("connectors", sa.Text, nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sync_failures")
