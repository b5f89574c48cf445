"""What BI reads of the robots' work: the facts of runs, steps, documents and tasks decided on or before a day.

:func:`fact_snapshot` reads with the driver, in chunks, inside one read-only transaction: a first evaluation of a
large ledger records millions of crossings, and SQLAlchemy's per-value type processing (kopecks to Decimal, ISO text
to date) would cost more than the query. Its rows are what the driver returns (SQLite keeps dates and timestamps as
ISO text, money as kopecks); the reader converts them. The KPI inputs are small and come as plain rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from robots.store.records import RunStatus
from robots.store.runs import runs
from robots.store.tasks import tasks
from robots.store.types import Database

#: Rows fetched from the driver at a time.
CHUNK = 200_000


# -- the KPI inputs ---------------------------------------------------------------------------------------------


def task_facts(store: Database, as_of: date) -> list[Any]:
    """(id, role, due_on, status) of the tasks given by runs of ``as_of`` or earlier, by id."""
    k, r = tasks.c, runs.c
    return store.rows(select(k.id, k.role, k.due_on, k.status).join_from(tasks, runs, k.run_id == r.id)
                   .where(r.as_of <= as_of).order_by(k.id))


def finished_run_facts(store: Database, as_of: date) -> list[Any]:
    """(id, scenario, column_id, as_of, invoices) of the runs of ``as_of`` or earlier that are done, by id: only a
    run that did its steps can have had an effect."""
    r = runs.c
    return store.rows(select(r.id, r.scenario, r.column_id, r.as_of, r.invoices)
                   .where(r.as_of <= as_of, r.status == RunStatus.DONE).order_by(r.id))


# -- the fact tables, read with the driver ------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverRows:
    """A query's result as the driver returns it: the column names, and the row tuples in chunks of at most
    :data:`CHUNK`."""

    names: list[str]
    chunks: Iterator[list[tuple[Any, ...]]]


class FactSnapshot:
    """The robots' work decided on or before ``as_of``, as one moment of the store (see :func:`fact_snapshot`)."""

    #: Runs of the day or earlier: what steps, documents and tasks are read for.
    _OF_RUNS = "run_id IN (SELECT id FROM runs WHERE as_of <= {p})"

    def __init__(self, raw: Any, dialect: str, as_of: date):
        self._raw, self.dialect = raw, dialect
        self._day = as_of.isoformat() if dialect == "sqlite" else as_of  # SQLite stores dates as ISO text

    def crossings(self) -> DriverRows:
        """The crossing rows; ``skipped`` is the JSON list of the columns a row passed in a catch-up (0011), which
        the reader lists as skipped crossings of their own."""
        return self._read("SELECT id, as_of, invoice_id, contract_id, column_id, col_offset, epoch, status, "
                          "days_past_due, open_amount, run_id, skipped FROM crossings WHERE as_of <= {p} ORDER BY id")

    def runs(self) -> DriverRows:
        return self._read("SELECT id, run_key, as_of, contract_id, column_id, scenario, status, attempts, "
                          "created_at, finished_at, error FROM runs WHERE as_of <= {p} ORDER BY id")

    def event_run_invoices(self) -> dict[int, list[dict[str, Any]]]:
        """run id -> its ``invoices`` for the runs decided by an event (paid, promise_broken): they crossed no
        column, so what they are about is their own list."""
        # NOT IN over the crossings' run ids, not a correlated NOT EXISTS: crossings has no index on run_id, and
        # the correlated form scans them once per run (quadratic; hours for a million invoices).
        cur = self._execute("SELECT id, invoices FROM runs WHERE as_of <= {p} AND id NOT IN "
                            "(SELECT run_id FROM crossings WHERE run_id IS NOT NULL)")
        return {run_id: json.loads(v) if isinstance(v, str) else v for run_id, v in cur.fetchall()}

    def steps(self) -> DriverRows:
        return self._read("SELECT run_id, idx, kind, status, attempts, updated_at, error FROM run_steps "
                          f"WHERE {self._OF_RUNS} ORDER BY run_id, idx")

    def step_outputs(self, kind: str, fields: Sequence[tuple[str, tuple[str, ...]]]) -> DriverRows:
        """run_id, idx and, per (name, JSON path) of ``fields``, the value at that path in the output of each
        step of ``kind``, as text extracted by the database (no JSON parsing in Python)."""
        for name, path in fields:
            if not all(part.isidentifier() for part in (name, *path)):
                raise ValueError(f"not an identifier in the field {name!r} {path!r}")
        columns = ", ".join(f"{self._json_text(path)} AS {name}" for name, path in fields)
        return self._read(f"SELECT run_id, idx, {columns} FROM run_steps WHERE kind = {{p}} AND {self._OF_RUNS} "
                          "ORDER BY run_id, idx", (kind, self._day))

    def documents(self) -> DriverRows:
        return self._read("SELECT id, run_id, step_idx, contract_id, title, path, sha256, created_at "
                          f"FROM documents WHERE {self._OF_RUNS} ORDER BY id")

    def tasks(self) -> DriverRows:
        return self._read("SELECT id, run_id, step_idx, contract_id, role, assignee, title, due_on, status, "
                          f"created_at FROM tasks WHERE {self._OF_RUNS} ORDER BY id")

    def _json_text(self, path: tuple[str, ...]) -> str:
        if self.dialect == "sqlite":
            return f"CAST(json_extract(output, '$.{'.'.join(path)}') AS TEXT)"
        return "output" + "".join(f"->'{p}'" for p in path[:-1]) + f"->>'{path[-1]}'"

    def _execute(self, sql: str, params: tuple[Any, ...] | None = None) -> Any:
        """Run ``sql`` on a cursor of its own; each ``{p}`` is a parameter, the day unless ``params`` are given."""
        cur = self._raw.cursor()
        cur.execute(sql.replace("{p}", "?" if self.dialect == "sqlite" else "%s"),
                    (self._day,) * sql.count("{p}") if params is None else params)
        return cur

    def _read(self, sql: str, params: tuple[Any, ...] | None = None) -> DriverRows:
        cur = self._execute(sql, params)

        def chunks() -> Iterator[list[tuple[Any, ...]]]:
            while rows := cur.fetchmany(CHUNK):
                yield rows

        return DriverRows([d[0] for d in cur.description], chunks())


@contextmanager
def fact_snapshot(store: Database, as_of: date) -> Iterator[FactSnapshot]:
    """The facts of ``as_of`` inside one read-only transaction, so the tables are read as of one moment.

    On SQLite a deferred BEGIN takes a WAL read snapshot and no write lock (a tick may run meanwhile); on
    PostgreSQL a repeatable-read transaction does the same.
    """
    dialect = store.engine.dialect.name
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        if dialect == "sqlite":
            cur.execute("BEGIN")
        else:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield FactSnapshot(raw, dialect, as_of)
    finally:
        raw.rollback()
        raw.close()


__all__ = ["CHUNK", "DriverRows", "FactSnapshot", "fact_snapshot", "finished_run_facts", "task_facts"]
