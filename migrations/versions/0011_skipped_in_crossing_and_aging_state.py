"""A catch-up's skipped columns stored in the row of the crossing that passed them; the aging state that lets a
daily tick evaluate only what changed; each contract's ledger fingerprint.

Every existing ``skipped`` row whose invoice has a ``run`` crossing of the same epoch on the same evaluation day
(the crossing that passed it) goes into that row's ``skipped`` list, lowest column first, and is deleted; a
skipped row without such a crossing stays a row of its own. Downgrading writes the lists back as rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import json
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CHUNK = 5_000


def upgrade() -> None:
    with op.batch_alter_table("crossings") as batch:
        batch.add_column(sa.Column("skipped", sa.Text, nullable=True))
    op.create_table(
        "aging_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state_key", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
    )
    op.create_table(
        "aging_invoices",
        sa.Column("invoice_id", sa.String(64), primary_key=True),
        sa.Column("contract_id", sa.String(64), nullable=False),
        sa.Column("open_amount", sa.BigInteger, nullable=False),
        sa.Column("next_on", sa.Date, nullable=True),
        sa.Column("overdue_from", sa.Date, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "aging_contracts",
        sa.Column("contract_id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(16), nullable=True),
        sa.Column("next_on", sa.Date, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_versions",
        sa.Column("contract_id", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sqlite_with_rowid=False,
    )
    _fold_skipped_rows()


def _fold_skipped_rows() -> None:
    conn = op.get_bind()
    # each skipped row with the run crossing that passed it: same invoice, epoch and day, a higher column
    rows = conn.execute(sa.text(
        "SELECT s.id, s.column_id, s.col_offset, r.id, r.col_offset FROM crossings s JOIN crossings r "
        "ON r.invoice_id = s.invoice_id AND r.epoch = s.epoch AND r.as_of = s.as_of AND r.status = 'run' "
        "AND r.col_offset > s.col_offset WHERE s.status = 'skipped'")).all()
    # a skipped row goes to the lowest run crossing above it (there is one: only catch_up latest skips)
    best: dict[int, tuple[int, int, str, int]] = {}
    for skipped_id, column_id, offset, run_id, run_offset in rows:
        known = best.get(skipped_id)
        if known is None or (run_offset, run_id) < known[:2]:
            best[skipped_id] = (run_offset, run_id, column_id, offset)
    passed: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for _run_offset, run_id, column_id, offset in best.values():
        passed[run_id].append((offset, column_id))
    taken = set(best)
    update = sa.text("UPDATE crossings SET skipped = :skipped WHERE id = :id")
    items = sorted(passed.items())
    for start in range(0, len(items), CHUNK):
        conn.execute(update, [{"id": run_id, "skipped": json.dumps([[c, o] for o, c in sorted(cols)],
                                                                      separators=(",", ":"))}
                              for run_id, cols in items[start:start + CHUNK]])
    ids = sorted(taken)
    for start in range(0, len(ids), CHUNK):
        conn.execute(sa.text("DELETE FROM crossings WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
                     {"ids": ids[start:start + CHUNK]})


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT invoice_id, epoch, contract_id, as_of, days_past_due, open_amount, skipped FROM crossings "
        "WHERE skipped IS NOT NULL ORDER BY id")).all()
    insert = sa.text(
        "INSERT INTO crossings (invoice_id, column_id, epoch, contract_id, col_offset, status, as_of, days_past_due, "
        "open_amount, run_id) VALUES (:invoice_id, :column_id, :epoch, :contract_id, :col_offset, 'skipped', :as_of, "
        ":days_past_due, :open_amount, NULL)")
    values = [{"invoice_id": r.invoice_id, "column_id": column_id, "epoch": r.epoch, "contract_id": r.contract_id,
               "col_offset": offset, "as_of": r.as_of, "days_past_due": r.days_past_due, "open_amount": r.open_amount}
              for r in rows for column_id, offset in json.loads(r.skipped)]
    for start in range(0, len(values), CHUNK):
        conn.execute(insert, values[start:start + CHUNK])
    op.drop_table("ledger_versions")
    op.drop_table("aging_contracts")
    op.drop_table("aging_invoices")
    op.drop_table("aging_state")
    with op.batch_alter_table("crossings") as batch:
        batch.drop_column("skipped")
