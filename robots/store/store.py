"""The store: SQLite by default (WAL), PostgreSQL through its URL. Business state lives only here.

Exactly-once rests on three things, all here:

* evaluations are serialised (a locked singleton row) and refuse to go back in time;
* crossings, runs, documents and tasks carry unique constraints, so a repeat is refused by the database;
* a run is *claimed* with a conditional UPDATE and a lease; "another process got there first" is a normal
  outcome, and a run whose claimant died goes back to pending.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, and_, create_engine, event, func, insert, or_, select, update

from robots.core.aging import Evaluation, History
from robots.core.domain import (
    Contract,
    Counterparty,
    CrossingStatus,
    Hold,
    HoldKind,
    Invoice,
    Ledger,
    Payment,
)
from robots.core.discounts import format_discounts, parse_discounts
from robots.store import schema as t
from robots.store.records import RunRecord, RunStatus, StepStatus

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def utc(ts: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; everything we store is UTC."""
    if ts is None:
        return None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


class SyncFailure(NamedTuple):
    connectors: str
    failed_at: datetime
    kind: str
    message: str


class Store:
    def __init__(self, url: str, *, schema: str | None = None):
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql") and schema:
            kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}
            db = url.split(":///", 1)[-1]
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # pysqlite's own transaction handling is off; we emit BEGIN IMMEDIATE ourselves so that the
            # evaluation lock is taken before anything is read.
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))

    @classmethod
    def open(cls, url: str, *, schema: str | None = None) -> Store:
        store = cls(url, schema=schema)
        store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is there already)."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    # -- ledger ---------------------------------------------------------------------------------------------

    def replace_ledger(self, ledger: Ledger, source: str, now: datetime) -> None:
        """Swap the whole ledger snapshot in one transaction: readers see the old one or the new one."""
        with self.engine.begin() as conn:
            for table in (t.payments, t.invoices, t.contracts, t.counterparties):
                conn.execute(table.delete())
            _bulk(conn, t.counterparties, [
                {"id": c.id, "name": c.name, "inn": c.inn, "email": c.email, "debtor_group": c.group}
                for c in ledger.counterparties])
            _bulk(conn, t.contracts, [
                {"id": c.id, "number": c.number, "counterparty_id": c.counterparty_id,
                 "payment_days": c.payment_days, "currency": c.currency,
                 "penalty_rate_per_day": c.penalty_rate_per_day, "discounts": format_discounts(c.discounts)}
                for c in ledger.contracts])
            _bulk(conn, t.invoices, [
                {"id": i.id, "number": i.number, "contract_id": i.contract_id, "issued_on": i.date,
                 "due_date": i.due_date, "amount": i.amount} for i in ledger.invoices])
            _bulk(conn, t.payments, [
                {"id": p.id, "contract_id": p.contract_id, "invoice_id": p.invoice_id, "paid_on": p.date,
                 "amount": p.amount} for p in ledger.payments])
            conn.execute(insert(t.syncs).values(connectors=source, finished_at=now, counts=ledger.counts()))

    def load_ledger(self) -> Ledger:
        """The ledger snapshot, read as driver tuples (a million invoices load in seconds, not tens of seconds)."""
        dates: dict[Any, date] = {}
        ids: dict[str, str] = {}

        def day(v: Any) -> date:  # SQLite gives ISO text, PostgreSQL dates; few distinct values either way
            d = dates.get(v)
            if d is None:
                d = dates[v] = v if isinstance(v, date) else date.fromisoformat(v)
            return d

        def key(v: str) -> str:  # one str object per contract id instead of one per row
            return ids.setdefault(v, v)

        def money(kopecks: int) -> Decimal:
            return Decimal(kopecks).scaleb(-2)  # the value Money gives: kopecks as rubles with two decimals

        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql
            cps = tuple(Counterparty(*r) for r in rows(
                "SELECT id, name, inn, email, debtor_group FROM ledger_counterparties ORDER BY id"))
            cts = tuple(Contract(key(i), n, cp, days, cur, None if rate is None else Decimal(rate),
                                 parse_discounts(disc) if disc else ())
                        for i, n, cp, days, cur, rate, disc in rows(
                            "SELECT id, number, counterparty_id, payment_days, currency, penalty_rate_per_day, "
                            "discounts FROM ledger_contracts ORDER BY id"))
            invs = tuple(Invoice(i, n, key(c), day(d), day(due), money(a)) for i, n, c, d, due, a in rows(
                "SELECT id, number, contract_id, issued_on, due_date, amount FROM ledger_invoices ORDER BY id"))
            pays = tuple(Payment(i, key(c), day(d), money(a), inv) for i, c, inv, d, a in rows(
                "SELECT id, contract_id, invoice_id, paid_on, amount FROM ledger_payments ORDER BY id"))
        return Ledger(cps, cts, invs, pays)

    def contract_entries(self, contract_id: str, through: date) -> tuple[list[Invoice], list[Payment]]:
        """One contract's invoices (credit notes included) and payments dated on or before ``through``."""
        i, p = t.invoices.c, t.payments.c
        with self.engine.connect() as conn:
            invs = [Invoice(r.id, r.number, r.contract_id, r.issued_on, r.due_date, r.amount) for r in conn.execute(
                select(t.invoices).where(i.contract_id == contract_id, i.issued_on <= through).order_by(i.id))]
            pays = [Payment(r.id, r.contract_id, r.paid_on, r.amount, r.invoice_id) for r in conn.execute(
                select(t.payments).where(p.contract_id == contract_id, p.paid_on <= through).order_by(p.id))]
        return invs, pays

    def last_sync_at(self) -> datetime | None:
        with self.engine.connect() as conn:
            return utc(conn.execute(select(func.max(t.syncs.c.finished_at))).scalar())

    def ledger_ids(self, kind: str) -> set[str]:
        """The ids of one kind of record (``invoices``, ``payments``, ...) in the current snapshot."""
        table = {"counterparties": t.counterparties, "contracts": t.contracts, "invoices": t.invoices,
                 "payments": t.payments}[kind]
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(select(table.c.id))}

    def record_sync_failure(self, connectors: str, kind: str, message: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(t.sync_failures).values(connectors=connectors, failed_at=now, kind=kind,
                                                        message=message))

    def last_sync_failure(self) -> Any | None:
        """The newest failed sync (connectors, failed_at, kind, message), or None."""
        f = t.sync_failures
        with self.engine.connect() as conn:
            row = conn.execute(select(f).order_by(f.c.id.desc()).limit(1)).first()
        if row is None:
            return None
        return SyncFailure(row.connectors, utc(row.failed_at), row.kind, row.message)

    # -- evaluations ----------------------------------------------------------------------------------------

    @contextmanager
    def evaluation(self) -> Iterator[EvaluationTx]:
        """One serialised evaluation: lock, read history, record; all or nothing."""
        with self.engine.begin() as conn:
            conn.execute(update(t.robot_state).where(t.robot_state.c.id == 1).values(id=1))
            if conn.dialect.name == "sqlite":
                # index maintenance of a large batch of crossings thrashes SQLite's default 2 MiB page cache
                conn.exec_driver_sql("PRAGMA cache_size=-131072")
            yield EvaluationTx(conn)

    def last_as_of(self) -> date | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.robot_state.c.last_as_of)).scalar()

    # -- holds ----------------------------------------------------------------------------------------------

    def add_hold(self, hold: Hold, now: datetime) -> int:
        with self.engine.begin() as conn:
            return conn.execute(insert(t.holds).values(
                invoice_id=hold.invoice_id, kind=hold.kind.value, reason=hold.reason, until=hold.until,
                opened_at=now)).inserted_primary_key[0]

    def release_holds(self, invoice_id: str, kind: HoldKind, now: datetime) -> int:
        """Release the open holds of ``kind`` placed with :meth:`add_hold`; the number released.

        A promise's or a dispute's holds (``holds.ref`` set) are never released here: they end with the promise
        or the dispute, which would otherwise stay open with nothing held.
        """
        with self.engine.begin() as conn:
            return conn.execute(update(t.holds).where(
                t.holds.c.invoice_id == invoice_id, t.holds.c.kind == kind.value, t.holds.c.ref.is_(None),
                t.holds.c.released_at.is_(None)).values(released_at=now)).rowcount

    # -- runs -----------------------------------------------------------------------------------------------

    def claim_run(self, owner: str, now: datetime, lease: timedelta, after: int = 0) -> RunRecord | None:
        """Claim the oldest runnable run with an id above ``after``, or None. Losing a race is normal.

        Runs are claimed in id order, which is decision order; a pass over the runs passes its last id as
        ``after``, so a run given back for a retry waits for the next pass instead of spinning.
        """
        runnable = or_(t.runs.c.status == RunStatus.PENDING,
                       and_(t.runs.c.status == RunStatus.RUNNING, t.runs.c.lease_expires_at < now),
                       and_(t.runs.c.status == RunStatus.WAITING, t.runs.c.wake_at <= now))
        with self.engine.begin() as conn:
            query = select(t.runs.c.id).where(runnable, t.runs.c.id > after).order_by(t.runs.c.id).limit(50)
            for run_id in conn.execute(query).scalars().all():
                claimed = conn.execute(
                    update(t.runs).where(t.runs.c.id == run_id, runnable).values(
                        status=RunStatus.RUNNING, lease_owner=owner, lease_expires_at=now + lease,
                        attempts=t.runs.c.attempts + 1, wake_at=None))
                if claimed.rowcount == 1:
                    row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).one()
                    return RunRecord.from_row(row)
        return None

    def running_leases(self) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.runs.c.id, t.runs.c.lease_owner).where(
                t.runs.c.status == RunStatus.RUNNING))
            return [(r.id, r.lease_owner or "") for r in rows]

    def release_lease(self, run_id: int, owner: str) -> bool:
        """Give a run back (its claimant died); only if ``owner`` still holds it."""
        with self.engine.begin() as conn:
            return conn.execute(update(t.runs).where(
                t.runs.c.id == run_id, t.runs.c.status == RunStatus.RUNNING, t.runs.c.lease_owner == owner,
            ).values(status=RunStatus.PENDING, lease_owner=None, lease_expires_at=None)).rowcount == 1

    def finish_run(self, run_id: int, owner: str, status: RunStatus, now: datetime, error: str | None = None,
                   *, outcome: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "error": error, "lease_owner": None, "lease_expires_at": None,
                                  "wake_at": None, "outcome": outcome}
        if status in (RunStatus.DONE, RunStatus.FAILED):
            values["finished_at"] = now
        with self.engine.begin() as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id, t.runs.c.lease_owner == owner).values(**values))

    def wait_run(self, run_id: int, owner: str, wake_at: datetime | None, reason: str) -> None:
        """Park a run until ``wake_at`` (None: until :meth:`wake_run`). Waiting is not a failed attempt."""
        with self.engine.begin() as conn:
            # A wake-up that came while the run was claimed (an approver decided meanwhile) is kept: it is earlier.
            woken = utc(conn.execute(select(t.runs.c.wake_at).where(t.runs.c.id == run_id)).scalar())
            if woken is not None and (wake_at is None or woken < utc(wake_at)):
                wake_at = woken
            conn.execute(update(t.runs).where(t.runs.c.id == run_id, t.runs.c.lease_owner == owner).values(
                status=RunStatus.WAITING, wake_at=wake_at, error=reason, lease_owner=None, lease_expires_at=None,
                attempts=t.runs.c.attempts - 1))

    def wake_run(self, run_id: int, now: datetime) -> bool:
        """Make a waiting run claimable now (an approver decided, a fresh sync arrived). A run claimed at the moment
        keeps the wake-up for when its step asks to wait again, so the decision is never lost."""
        with self.engine.begin() as conn:
            return conn.execute(update(t.runs).where(
                t.runs.c.id == run_id, t.runs.c.status.in_([RunStatus.WAITING, RunStatus.RUNNING])).values(
                wake_at=now)).rowcount == 1

    def record_event_runs(self, planned: Sequence[Any], now: datetime) -> list[int]:
        """Record runs decided by an event (a debt paid, a promise broken), each once by its key."""
        ids = []
        with self.engine.begin() as conn:
            known = set(conn.execute(select(t.runs.c.run_key).where(
                t.runs.c.run_key.in_([p.key for p in planned]))).scalars()) if planned else set()
            for p in planned:
                if p.key in known:
                    continue
                ids.append(conn.execute(insert(t.runs).values(
                    run_key=p.key, contract_id=p.contract_id, column_id=p.column_id, scenario=p.scenario,
                    as_of=p.as_of, invoices=list(p.invoices), status=RunStatus.PENDING, attempts=0,
                    created_at=now)).inserted_primary_key[0])
        return ids

    def step_states(self, run_id: int) -> dict[int, tuple[StepStatus, dict[str, Any] | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.run_steps).where(t.run_steps.c.run_id == run_id))
            return {r.idx: (StepStatus(r.status), r.output) for r in rows}

    def plan_steps(self, run_id: int, kinds: Sequence[str], now: datetime) -> None:
        """Record every step of a run as pending, once (the first time the run is claimed)."""
        with self.engine.begin() as conn:
            known = set(conn.execute(select(t.run_steps.c.idx).where(t.run_steps.c.run_id == run_id)).scalars())
            _bulk(conn, t.run_steps, [
                {"run_id": run_id, "idx": i, "kind": kind, "status": StepStatus.PENDING, "attempts": 0,
                 "updated_at": now} for i, kind in enumerate(kinds) if i not in known])

    def mark_step(self, run_id: int, idx: int, kind: str, status: StepStatus, now: datetime,
                  output: dict[str, Any] | None = None, error: str | None = None) -> None:
        with self.engine.begin() as conn:
            changed = conn.execute(update(t.run_steps).where(
                t.run_steps.c.run_id == run_id, t.run_steps.c.idx == idx).values(
                status=status, output=output, error=error, updated_at=now,
                attempts=t.run_steps.c.attempts + (1 if status is StepStatus.RUNNING else 0))).rowcount
            if not changed:
                conn.execute(insert(t.run_steps).values(
                    run_id=run_id, idx=idx, kind=kind, status=status, output=output, error=error, updated_at=now,
                    attempts=1 if status is StepStatus.RUNNING else 0))

    # -- step effects (idempotent by unique constraints) ------------------------------------------------------

    def add_document(self, run_id: int, step_idx: int, contract_id: str, title: str, path: str, sha256: str,
                     now: datetime) -> None:
        _insert_once(self.engine, t.documents, dict(
            run_id=run_id, step_idx=step_idx, contract_id=contract_id, title=title, path=path, sha256=sha256,
            created_at=now))

    def record_archived(self, document: dict[str, Any], bag: dict[str, Any]) -> None:
        """Index an archived document and move its bag's journal head forward, in one transaction.

        ``document``: run_id, step_idx, contract_id, title, path, sha256, created_at (once per run and step).
        ``bag``: path, contract_id, contract_number, counterparty_id/_name/_inn, seq, head, updated_at. The head
        only moves forward: a slower writer that journaled earlier never sets it back.
        """
        ins = _dialect_insert(self.engine)
        with self.engine.begin() as conn:
            conn.execute(ins(t.documents).values(**document).on_conflict_do_nothing())
            stmt = ins(t.archive_bags).values(**bag)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[t.archive_bags.c.path],
                set_={k: stmt.excluded[k] for k in bag if k != "path"},
                where=t.archive_bags.c.seq < stmt.excluded.seq))

    def archive_bags(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.archive_bags).order_by(t.archive_bags.c.path)))

    def archived_documents(self) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.documents).order_by(t.documents.c.id)))

    def add_legal_hold(self, contract_id: str, reason: str, now: datetime) -> int:
        with self.engine.begin() as conn:
            return conn.execute(insert(t.legal_holds).values(
                contract_id=contract_id, reason=reason, opened_at=now)).inserted_primary_key[0]

    def release_legal_holds(self, contract_id: str, now: datetime) -> int:
        with self.engine.begin() as conn:
            return conn.execute(update(t.legal_holds).where(
                t.legal_holds.c.contract_id == contract_id, t.legal_holds.c.released_at.is_(None),
            ).values(released_at=now)).rowcount

    def open_legal_holds(self) -> dict[str, str]:
        """contract_id -> reason of every open legal hold."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.legal_holds.c.contract_id, t.legal_holds.c.reason).where(
                t.legal_holds.c.released_at.is_(None)).order_by(t.legal_holds.c.id))
            return {r.contract_id: r.reason for r in rows}

    def add_task(self, run_id: int, step_idx: int, contract_id: str, role: str, assignee: str, title: str,
                 due_on: date, now: datetime) -> None:
        _insert_once(self.engine, t.tasks, dict(
            run_id=run_id, step_idx=step_idx, contract_id=contract_id, role=role, assignee=assignee, title=title,
            due_on=due_on, status="open", created_at=now))

    # -- reading for people ---------------------------------------------------------------------------------

    def scalar(self, query: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def rows(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query))


@dataclass
class EvaluationTx:
    """The inside of :meth:`Store.evaluation`: everything runs on one locked connection."""

    conn: Connection

    def last_as_of(self) -> date | None:
        return self.conn.execute(select(t.robot_state.c.last_as_of)).scalar()

    def history(self) -> History:
        c = t.crossings.c
        rows = self.conn.execute(select(c.invoice_id, c.epoch, func.max(c.col_offset)).group_by(c.invoice_id, c.epoch))
        return {(inv, epoch): offset for inv, epoch, offset in rows}

    def holds(self, as_of: date) -> dict[str, Hold]:
        h = t.holds.c
        rows = self.conn.execute(select(t.holds).where(h.released_at.is_(None)).order_by(h.id))
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
        as_of = _binder(t.crossings.c.as_of, conn)(ev.as_of)
        money = _binder(t.crossings.c.open_amount, conn)
        status = {s: s.value for s in CrossingStatus}
        run, get = CrossingStatus.RUN, run_ids.get
        last: list[Any] = [None, 0]

        def kopecks(v: Decimal) -> int:  # an invoice's crossings share one open amount: convert it once
            if v is not last[0]:
                last[0], last[1] = v, money(v)
            return last[1]

        _driver_bulk(conn, t.crossings, ("invoice_id", "column_id", "epoch", "contract_id", "col_offset", "status",
                                         "as_of", "days_past_due", "open_amount", "run_id"),
                     ((x.invoice_id, x.column_id, x.epoch, x.contract_id, x.offset, status[x.status], as_of,
                       x.days_past_due, kopecks(x.open_amount),
                       get((x.contract_id, x.column_id)) if x.status is run else None) for x in ev.crossings))
        known = set(conn.execute(select(t.closed_invoices.c.invoice_id)).scalars()) if ev.closed else set()
        _driver_bulk(conn, t.closed_invoices, ("invoice_id", "closed_on"),
                     ((i, as_of) for i in ev.closed if i not in known))
        conn.execute(insert(t.evaluations).values(
            as_of=ev.as_of, evaluated_at=now, crossings=len(ev.crossings), runs=len(ev.runs),
            total_open=ev.total_open, total_overdue=ev.total_overdue))
        conn.execute(update(t.robot_state).where(t.robot_state.c.id == 1).values(last_as_of=ev.as_of))
        return list(run_ids.values())


def _insert_runs(conn: Connection, ev: Evaluation, now: datetime) -> dict[tuple[str, str], int]:
    """All runs in one driver executemany; their ids read back by run key (the evaluation lock is held)."""
    if not ev.runs:
        return {}
    c = t.runs.c
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
    _driver_bulk(conn, t.runs, ("run_key", "contract_id", "column_id", "scenario", "as_of", "invoices", "status",
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


def _bulk(conn: Connection, table: Any, rows: list[dict[str, Any]], chunk: int = 20_000) -> None:
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), rows[start:start + chunk])


def _dialect_insert(engine: Engine) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL both do)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert


def _insert_once(engine: Engine, table: Any, values: dict[str, Any]) -> None:
    """Insert unless the row's unique key exists already (a step re-executed after a crash)."""
    with engine.begin() as conn:
        conn.execute(_dialect_insert(engine)(table).values(**values).on_conflict_do_nothing())


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN IMMEDIATE ourselves (see Store.__init__)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


__all__ = ["EvaluationTx", "Store", "utc"]
