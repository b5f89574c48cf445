"""The aging state: evaluations, the crossings they recorded, the scenario runs they decided and each run's steps,
the holds that pause invoices, and the invoices closed for good.

The unique constraints are exactly-once guarantees: ``crossings (invoice_id, column_id, epoch)`` (a debt crosses a
column once) and ``runs (run_key)`` (one scenario run per contract, column and day). The writes that change a
run's state (claims, leases, waits) are :class:`robots.store.Store`'s; an evaluation records through
:class:`EvaluationTx`, on the connection that holds the evaluation lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)

from robots.core.aging import Evaluation, History
from robots.core.domain import CrossingStatus, Hold, HoldKind
from robots.store.records import RunStatus, StepStatus
from robots.store.types import TS, Database, Money, metadata

robot_state = Table(
    "robot_state", metadata,
    # A single row (id = 1): evaluations lock it, so two daemons never evaluate at once.
    Column("id", Integer, primary_key=True),
    Column("last_as_of", Date, nullable=True),
)

evaluations = Table(
    "evaluations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("as_of", Date, nullable=False, index=True),
    Column("evaluated_at", TS, nullable=False),
    Column("crossings", Integer, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("total_open", Money, nullable=False),
    Column("total_overdue", Money, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", String(200), nullable=False, unique=True),
    Column("contract_id", String(64), nullable=False, index=True),
    Column("column_id", String(64), nullable=False),
    Column("scenario", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("invoices", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_expires_at", TS, nullable=True),
    Column("created_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Column("error", Text, nullable=True),
    # A waiting run is claimed again from this time on (null: only when something wakes it, e.g. an approval).
    Column("wake_at", TS, nullable=True),
    # Why a done run stopped early ("stopped: paid before sending"), or null when every step ran (0005).
    Column("outcome", Text, nullable=True),
)

crossings = Table(
    "crossings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("invoice_id", String(64), nullable=False),
    Column("column_id", String(64), nullable=False),
    Column("epoch", String(10), nullable=False),
    Column("contract_id", String(64), nullable=False),  # not indexed: nothing reads crossings by contract (0002)
    Column("col_offset", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("days_past_due", Integer, nullable=False),
    Column("open_amount", Money, nullable=False),
    Column("run_id", Integer, nullable=True),
    UniqueConstraint("invoice_id", "column_id", "epoch", name="uq_crossing_once"),
)

run_steps = Table(
    "run_steps", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("output", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("updated_at", TS, nullable=False),
)

holds = Table(
    "holds", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("invoice_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("until", Date, nullable=True),
    Column("opened_at", TS, nullable=False),
    Column("released_at", TS, nullable=True),
    # What placed the hold: "promise:<id>" or "dispute:<id>" (migration 0007); null for the `hold` command.
    Column("ref", String(64), nullable=True, index=True),
)

closed_invoices = Table(
    "closed_invoices", metadata,
    Column("invoice_id", String(64), primary_key=True),
    Column("closed_on", Date, nullable=False),
)


@dataclass(frozen=True)
class PlanningState:
    """What ``plan`` simulates from: the last evaluated day, the crossing history and the holds active then."""

    last_as_of: date | None
    history: History
    holds: dict[str, Hold]


@dataclass
class EvaluationTx:
    """The inside of :meth:`robots.store.Store.evaluation`: everything runs on one locked connection."""

    conn: Connection

    def last_as_of(self) -> date | None:
        return self.conn.execute(select(robot_state.c.last_as_of)).scalar()

    def history(self) -> History:
        c = crossings.c
        rows = self.conn.execute(select(c.invoice_id, c.epoch, func.max(c.col_offset)).group_by(c.invoice_id, c.epoch))
        return {(inv, epoch): offset for inv, epoch, offset in rows}

    def holds(self, as_of: date) -> dict[str, Hold]:
        h = holds.c
        rows = self.conn.execute(select(holds).where(h.released_at.is_(None)).order_by(h.id))
        result = {}
        for r in rows:
            hold = Hold(r.invoice_id, HoldKind(r.kind), r.reason, r.until)
            if hold.active_on(as_of):
                result[r.invoice_id] = hold
        return result

    def record(self, ev: Evaluation, now: datetime) -> list[int]:
        """Record the evaluation, its crossings and its runs; return the new run ids.

        Rows go to the driver as tuples already in storage form (each column's own SQLAlchemy bind conversion,
        constants converted once): a first evaluation of a large ledger records millions of crossings.
        """
        conn = self.conn
        run_ids = _insert_runs(conn, ev, now)
        as_of = _binder(crossings.c.as_of, conn)(ev.as_of)
        money = _binder(crossings.c.open_amount, conn)
        status = {s: s.value for s in CrossingStatus}
        run, get = CrossingStatus.RUN, run_ids.get
        last: list[Any] = [None, 0]

        def kopecks(v: Decimal) -> int:  # an invoice's crossings share one open amount: convert it once
            if v is not last[0]:
                last[0], last[1] = v, money(v)
            return last[1]

        _driver_bulk(conn, crossings, ("invoice_id", "column_id", "epoch", "contract_id", "col_offset", "status",
                                       "as_of", "days_past_due", "open_amount", "run_id"),
                     ((x.invoice_id, x.column_id, x.epoch, x.contract_id, x.offset, status[x.status], as_of,
                       x.days_past_due, kopecks(x.open_amount),
                       get((x.contract_id, x.column_id)) if x.status is run else None) for x in ev.crossings))
        known = set(conn.execute(select(closed_invoices.c.invoice_id)).scalars()) if ev.closed else set()
        _driver_bulk(conn, closed_invoices, ("invoice_id", "closed_on"),
                     ((i, as_of) for i in ev.closed if i not in known))
        conn.execute(insert(evaluations).values(
            as_of=ev.as_of, evaluated_at=now, crossings=len(ev.crossings), runs=len(ev.runs),
            total_open=ev.total_open, total_overdue=ev.total_overdue))
        conn.execute(update(robot_state).where(robot_state.c.id == 1).values(last_as_of=ev.as_of))
        return list(run_ids.values())


def _insert_runs(conn: Connection, ev: Evaluation, now: datetime) -> dict[tuple[str, str], int]:
    """All runs in one driver executemany; their ids read back by run key (the evaluation lock is held)."""
    if not ev.runs:
        return {}
    c = runs.c
    invoices_json = _binder(c.invoices, conn)
    as_of, status, created = (_binder(c.as_of, conn)(ev.as_of), _binder(c.status, conn)(RunStatus.PENDING),
                              _binder(c.created_at, conn)(now))
    decided = {(x.contract_id, x.column_id, x.invoice_id): x for x in ev.crossings
               if x.status is CrossingStatus.RUN}

    def rows() -> Iterator[tuple[Any, ...]]:
        for r in ev.runs:
            # What the letter will say is fixed at decision time, so a re-render after a crash is identical.
            invoices = []
            for i in r.invoice_ids:
                x = decided[(r.contract_id, r.column_id, i)]
                invoices.append({"id": i, "open_amount": str(x.open_amount), "days_past_due": x.days_past_due})
            yield (r.key, r.contract_id, r.column_id, r.scenario, as_of, invoices_json(invoices), status, 0, created)

    before = conn.execute(select(func.coalesce(func.max(c.id), 0))).scalar()
    _driver_bulk(conn, runs, ("run_key", "contract_id", "column_id", "scenario", "as_of", "invoices", "status",
                              "attempts", "created_at"), rows())
    ids = dict(conn.execute(select(c.run_key, c.id).where(c.id > before)).all())
    return {(r.contract_id, r.column_id): ids[r.key] for r in ev.runs}


def _binder(column: Any, conn: Connection) -> Callable[[Any], Any]:
    """The column type's own bind conversion on this dialect, as Core applies it (identity when it has none)."""
    proc = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return proc if proc is not None else (lambda v: v)


def _driver_bulk(conn: Connection, table: Any, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]],
                 chunk: int = 50_000) -> None:
    """executemany on the driver with rows already in storage form, streamed in chunks (no list of dicts)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    it = iter(rows)
    while batch := list(itertools.islice(it, chunk)):
        conn.exec_driver_sql(sql, batch)


# -- reading for people and for the steps -------------------------------------------------------------------------


def crossing_counts(store: Database) -> list[tuple[str, str, int]]:
    """(column id, crossing status, how many) over all evaluations, in column order (by offset, then id)."""
    c = crossings.c
    rows = store.rows(select(c.column_id, c.status, func.count(), func.min(c.col_offset))
                   .group_by(c.column_id, c.status).order_by(func.min(c.col_offset), c.column_id))
    return [(column, status, n) for column, status, n, _offset in rows]


def run_counts(store: Database) -> dict[str, int]:
    """How many runs are in each status."""
    return dict(store.rows(select(runs.c.status, func.count()).group_by(runs.c.status)))


def runs_in_status(store: Database, status: RunStatus, limit: int | None = None) -> list[tuple[str, str | None]]:
    """(run key, error) of the runs in ``status``, oldest first; at most ``limit`` of them."""
    query = select(runs).where(runs.c.status == status).order_by(runs.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [(r.run_key, r.error) for r in store.rows(query)]


def last_totals(store: Database) -> tuple[Decimal, Decimal] | None:
    """(total open, total overdue) as the newest evaluation recorded them; None before the first one."""
    last = store.rows(select(evaluations).order_by(evaluations.c.id.desc()).limit(1))
    return (last[0].total_open, last[0].total_overdue) if last else None


def earlier_runs(store: Database, contract_id: str, run_id: int) -> int:
    """How many runs of the contract were decided before run ``run_id``."""
    return int(store.scalar(select(func.count()).select_from(runs).where(
        runs.c.contract_id == contract_id, runs.c.id < run_id)) or 0)


def runs_waiting_in(store: Database, kinds: Collection[str]) -> list[int]:
    """The ids of the waiting runs whose waiting step is of one of these kinds."""
    s, r = run_steps.c, runs.c
    return [run_id for (run_id,) in store.rows(select(r.id).join(run_steps, s.run_id == r.id).where(
        r.status == RunStatus.WAITING, s.status == StepStatus.WAITING, s.kind.in_(sorted(kinds))))]


__all__ = ["EvaluationTx", "PlanningState", "closed_invoices", "crossing_counts", "crossings", "earlier_runs",
           "evaluations", "holds", "last_totals", "robot_state", "run_counts", "run_steps", "runs", "runs_in_status",
           "runs_waiting_in"]
