"""Runs that wait (approvals, the sending window, a fresh sync) and runs that stop early.

``runs.wake_at``: a waiting run is claimed again from then on; ``runs.outcome``: why a finished run stopped before
its last step (e.g. the debt was paid before the claim went out). ``ledger_contracts.discounts``: early-payment
discount tiers of a contract ("3%/7; 2%/14").

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("outcome", sa.Text, nullable=True))
    with op.batch_alter_table("ledger_contracts") as batch:
        batch.add_column(sa.Column("discounts", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_contracts") as batch:
        batch.drop_column("discounts")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("outcome")
        batch.drop_column("wake_at")
