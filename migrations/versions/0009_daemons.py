"""The daemons' registry and the fence of trigger fires.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per live daemon: removed on a clean exit, left with an old heartbeat by a crash.
    op.create_table(
        "daemons",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leader", sa.Boolean, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
    )
    # One row per fire of a leader-only trigger: a second daemon's insert of the same fire is refused.
    op.create_table(
        "trigger_fires",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger_id", sa.String(100), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("trigger_id", "scheduled_for", name="uq_trigger_fire_once"),
    )


def downgrade() -> None:
    op.drop_table("trigger_fires")
    op.drop_table("daemons")
