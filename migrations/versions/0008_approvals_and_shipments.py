"""Approvals with escalation, shipment blocks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _approvals_upgrade()
    _shipments_upgrade()


def downgrade() -> None:
    _shipments_downgrade()
    _approvals_downgrade()


def _approvals_upgrade() -> None:
    # One approval request per run and step (a re-executed approval step finds its request again).
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("step_idx", sa.Integer, nullable=False),
        sa.Column("contract_id", sa.String(64), nullable=False, index=True),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("assignee", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalate_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_to", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_by", sa.Text, nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.UniqueConstraint("run_id", "step_idx", name="uq_approval_once"),
    )


def _approvals_downgrade() -> None:
    op.drop_table("approvals")


def _shipments_upgrade() -> None:
    # The robots' shipment blocks: one per block step that decided to block (a re-run step finds its own row).
    op.create_table(
        "shipment_blocks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("contract_id", sa.String(64), nullable=False, index=True),
        sa.Column("counterparty_id", sa.String(64), nullable=False, index=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("blocked_run_id", sa.Integer, nullable=False),
        sa.Column("blocked_step_idx", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unblocked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unblocked_run_id", sa.Integer, nullable=True),
        sa.Column("unblock_reason", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.UniqueConstraint("blocked_run_id", "blocked_step_idx", name="uq_shipment_block_once"),
    )


def _shipments_downgrade() -> None:
    op.drop_table("shipment_blocks")
