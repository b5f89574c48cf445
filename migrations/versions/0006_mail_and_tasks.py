"""E-mail deliveries, bounces, task notifications and task closing (send_email, task).

``deliveries``: one row per send_email step (run_id, step_idx), written before the letter goes out;
``notifications``: one row per task and channel; ``tasks.closed_at/closed_by/note``: who closed a task and when.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("step_idx", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("bounced_at", TS, nullable=True),
        sa.UniqueConstraint("run_id", "step_idx", name="uq_delivery_once"),
    )
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.UniqueConstraint("task_id", "channel", name="uq_notification_once"),
    )
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("closed_at", TS, nullable=True))
        batch.add_column(sa.Column("closed_by", sa.Text, nullable=True))
        batch.add_column(sa.Column("note", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("note")
        batch.drop_column("closed_by")
        batch.drop_column("closed_at")
    op.drop_table("notifications")
    op.drop_index("ix_deliveries_message_id", table_name="deliveries")
    op.drop_table("deliveries")
