"""The store: SQLite by default (WAL), PostgreSQL through its URL. Business state lives only here.

:class:`Store` opens the database and is the facade for the ledger and the aging state; every other aggregate
(deliveries, tasks, the archive's index, people's input, approvals, shipment blocks) is a module of functions that
take the store. Exactly-once rests on three things:

* evaluations are serialised (a locked singleton row) and refuse to go back in time (:meth:`Store.evaluation`);
* crossings, runs and every step's effects carry unique constraints, so a repeat is refused by the database
  (:mod:`robots.store.schema` lists them);
* a run is *claimed* with a conditional UPDATE and a lease (:meth:`Store.claim_run`); "another process got there
  first" is a normal outcome, and a run whose claimant died goes back to pending.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, and_, create_engine, event, insert, or_, select, text, update
from sqlalchemy.engine import make_url

from robots.core.domain import Hold, HoldKind, Invoice, Ledger, Payment
from robots.core.errors import LeaseLost
from robots.store import ledger as ledger_db
from robots.store import schema as t
from robots.store.ledger import RunSubject, SyncFailure
from robots.store.records import Fence, RunRecord, RunStatus, StepStatus
from robots.store.runs import EvaluationTx, PlanningState
from robots.store.types import bulk_insert, inserted_id, utc

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


#: The advisory lock class id ("arbm") that serialises migrations of one schema on PostgreSQL.
MIGRATION_LOCK_CLASS = 0x6172626D


class Store:
    """One database: the ledger snapshot (:mod:`robots.store.ledger`) and the aging state's writes (evaluations,
    holds, run claims and steps, on the tables of :mod:`robots.store.runs`). It is the
    :class:`~robots.store.types.Database` every aggregate's functions take."""

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
        # pool_pre_ping: a connection the database dropped (a restart, a failover) is replaced before use.
        self.engine: Engine = create_engine(url, pool_pre_ping=True, **kwargs)
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

    @staticmethod
    def exists(url: str) -> bool:
        """Whether there is a database at ``url`` to open without creating one: only a SQLite file can be missing
        (a server's database is taken to be there)."""
        parsed = make_url(url)
        return not (parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists())

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (a no-op when it is there already)."""
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Daemons started together on a fresh or upgraded database migrate one after the other: the
                # second finds the schema at the newest revision. Held until this transaction ends.
                conn.execute(text("SELECT pg_advisory_xact_lock(:cls, hashtext(current_schema()))"),
                             {"cls": MIGRATION_LOCK_CLASS})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")

    # -- ledger (robots.store.ledger) ------------------------------------------------------------------------

    def replace_ledger(self, ledger: Ledger, source: str, now: datetime) -> None:
        """Swap the whole ledger snapshot in one transaction: readers see the old one or the new one."""
        ledger_db.replace_ledger(self, ledger, source, now)

    def load_ledger(self) -> Ledger:
        """The ledger snapshot (fast: read as driver tuples)."""
        return ledger_db.load_ledger(self)

    def contract_entries(self, contract_id: str, through: date) -> tuple[list[Invoice], list[Payment]]:
        """One contract's invoices (credit notes included) and payments dated on or before ``through``."""
        return ledger_db.contract_entries(self, contract_id, through)

    def run_subject(self, run: RunRecord) -> RunSubject | None:
        """The run's contract, counterparty and invoices as the ledger has them now; None when the contract is
        no longer there."""
        return ledger_db.run_subject(self, run.contract_id, run.invoice_ids)

    def last_sync_at(self) -> datetime | None:
        return ledger_db.last_sync_at(self)

    def ledger_ids(self, kind: str) -> set[str]:
        """The ids of one kind of record (``invoices``, ``payments``, ...) in the current snapshot."""
        return ledger_db.ledger_ids(self, kind)

    def record_sync_failure(self, connectors: str, kind: str, message: str, now: datetime) -> None:
        ledger_db.record_sync_failure(self, connectors, kind, message, now)

    def last_sync_failure(self) -> SyncFailure | None:
        """The newest failed sync (connectors, failed_at, kind, message), or None."""
        return ledger_db.last_sync_failure(self)

    # -- evaluations ----------------------------------------------------------------------------------------

    @contextmanager
    def evaluation(self) -> Iterator[EvaluationTx]:
        """One serialised evaluation: lock, read history, record; all or nothing."""
        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            try:
                with conn.begin():
                    conn.execute(update(t.robot_state).where(t.robot_state.c.id == 1).values(id=1))
                    if sqlite:
                        # index maintenance of a large batch of crossings thrashes SQLite's default 2 MiB cache
                        conn.exec_driver_sql("PRAGMA cache_size=-131072")
                    yield EvaluationTx(conn)
            finally:
                if sqlite:  # the pooled connection must not keep 128 MiB of pages between ticks
                    conn.exec_driver_sql("PRAGMA cache_size=-2000")
                    conn.commit()

    def last_as_of(self) -> date | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.robot_state.c.last_as_of)).scalar()

    def planning_state(self, as_of: date) -> PlanningState:
        """What ``plan`` simulates from, read as an evaluation reads it but without writing anything (the history
        and holds are new objects, the caller's to change)."""
        with self.engine.connect() as conn:
            tx = EvaluationTx(conn)
            state = PlanningState(tx.last_as_of(), tx.history(), tx.holds(as_of))
            conn.rollback()
        return state

    # -- holds ----------------------------------------------------------------------------------------------

    def add_hold(self, hold: Hold, now: datetime) -> int:
        with self.engine.begin() as conn:
            return inserted_id(conn.execute(insert(t.holds).values(
                invoice_id=hold.invoice_id, kind=hold.kind.value, reason=hold.reason, until=hold.until,
                opened_at=now)))

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
    #
    # A claim is a lease: (owner, token) where the token is the run's attempt counter after the claim, so two
    # claims of one run never share a token even by the same process. Every write of a running run's state
    # (renewal, steps, waiting, finishing) is conditional on the fence; a process that lost the lease is told
    # (LeaseLost, or False) and never overwrites the new claimant's work. Lease times come from the caller's
    # clock (robots.support.clock), never from the business ``now`` of the pass.

    def claim_run(self, owner: str, now: datetime, lease: timedelta, after: int = 0, *,
                  lease_now: datetime | None = None) -> RunRecord | None:
        """Claim the oldest runnable run with an id above ``after``, or None. Losing a race is normal.

        ``now`` is the business time a waiting run's ``wake_at`` is compared with (the sending window, an
        approval's deadline); ``lease_now`` is the clock's current time, which leases run from and expire by
        (default: ``now``; the same moment in production, a different one in tests). Runs are claimed in id
        order, which is decision order; a pass over the runs passes its last id as ``after``, so a run given
        back for a retry waits for the next pass instead of spinning. On PostgreSQL candidates are locked with
        ``FOR UPDATE SKIP LOCKED``, so several daemons never queue behind each other's claims; SQLite
        serialises writers anyway.
        """
        lease_now = lease_now or now
        runnable = or_(t.runs.c.status == RunStatus.PENDING,
                       and_(t.runs.c.status == RunStatus.RUNNING, t.runs.c.lease_expires_at < lease_now),
                       and_(t.runs.c.status == RunStatus.WAITING, t.runs.c.wake_at <= now))
        with self.engine.begin() as conn:
            query = select(t.runs.c.id).where(runnable, t.runs.c.id > after).order_by(t.runs.c.id)
            if conn.dialect.name == "postgresql":
                candidates = conn.execute(query.limit(1).with_for_update(skip_locked=True)).scalars().all()
            else:
                candidates = conn.execute(query.limit(50)).scalars().all()
            for run_id in candidates:
                claimed = conn.execute(
                    update(t.runs).where(t.runs.c.id == run_id, runnable).values(
                        status=RunStatus.RUNNING, lease_owner=owner, lease_expires_at=lease_now + lease,
                        attempts=t.runs.c.attempts + 1, wake_at=None))
                if claimed.rowcount == 1:
                    row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).one()
                    return RunRecord.from_row(row)
        return None

    def renew_lease(self, fence: Fence, until: datetime) -> bool:
        """Extend the lease to ``until`` if ``fence`` still holds it (False: another process owns the run)."""
        with self.engine.begin() as conn:
            return conn.execute(update(t.runs).where(*_fenced(fence)).values(lease_expires_at=until)).rowcount == 1

    def holds_lease(self, fence: Fence, now: datetime) -> bool:
        """Whether ``fence`` holds the run's lease and it has not expired at ``now``."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.runs.c.id).where(
                *_fenced(fence), t.runs.c.lease_expires_at >= now)).first() is not None

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

    def finish_run(self, run_id: int, owner: str | Fence, status: RunStatus, now: datetime, error: str | None = None,
                   *, outcome: str | None = None) -> bool:
        """End a claim: done, failed, or back to pending for a retry. Only the lease holder can (False: it lost
        the lease, and the run is the new claimant's)."""
        values: dict[str, Any] = {"status": status, "error": error, "lease_owner": None, "lease_expires_at": None,
                                  "wake_at": None, "outcome": outcome}
        if status in (RunStatus.DONE, RunStatus.FAILED):
            values["finished_at"] = now
        with self.engine.begin() as conn:
            return conn.execute(update(t.runs).where(*_fenced(owner, run_id)).values(**values)).rowcount == 1

    def wait_run(self, run_id: int, owner: str | Fence, wake_at: datetime | None, reason: str) -> bool:
        """Park a run until ``wake_at`` (None: until :meth:`wake_run`). Waiting is not a failed attempt. Only the
        lease holder can (False otherwise)."""
        with self.engine.begin() as conn:
            # A wake-up that came while the run was claimed (an approver decided meanwhile) is kept: it is earlier.
            woken = utc(conn.execute(select(t.runs.c.wake_at).where(t.runs.c.id == run_id)).scalar())
            if woken is not None and (wake_at is None or woken < utc(wake_at)):
                wake_at = woken
            return conn.execute(update(t.runs).where(*_fenced(owner, run_id)).values(
                status=RunStatus.WAITING, wake_at=wake_at, error=reason, lease_owner=None, lease_expires_at=None,
                attempts=t.runs.c.attempts - 1)).rowcount == 1

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
                ids.append(inserted_id(conn.execute(insert(t.runs).values(
                    run_key=p.key, contract_id=p.contract_id, column_id=p.column_id, scenario=p.scenario,
                    as_of=p.as_of, invoices=list(p.invoices), status=RunStatus.PENDING, attempts=0,
                    created_at=now))))
        return ids

    def step_states(self, run_id: int) -> dict[int, tuple[StepStatus, dict[str, Any] | None]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.run_steps).where(t.run_steps.c.run_id == run_id))
            return {r.idx: (StepStatus(r.status), r.output) for r in rows}

    def plan_steps(self, run_id: int, kinds: Sequence[str], now: datetime) -> None:
        """Record every step of a run as pending, once (the first time the run is claimed)."""
        with self.engine.begin() as conn:
            known = set(conn.execute(select(t.run_steps.c.idx).where(t.run_steps.c.run_id == run_id)).scalars())
            bulk_insert(conn, t.run_steps, [
                {"run_id": run_id, "idx": i, "kind": kind, "status": StepStatus.PENDING, "attempts": 0,
                 "updated_at": now} for i, kind in enumerate(kinds) if i not in known])

    def mark_step(self, run_id: int, idx: int, kind: str, status: StepStatus, now: datetime,
                  output: dict[str, Any] | None = None, error: str | None = None, *, fence: Fence | None = None,
                  lease_until: datetime | None = None) -> None:
        """Record a step's state. With ``fence``, only while it holds the run's lease (renewed to ``lease_until``
        in the same transaction); otherwise nothing is written and :class:`LeaseLost` is raised."""
        with self.engine.begin() as conn:
            if fence is not None:
                values: dict[str, Any] = {"lease_expires_at": lease_until} if lease_until is not None else {
                    "lease_owner": t.runs.c.lease_owner}
                if conn.execute(update(t.runs).where(*_fenced(fence)).values(**values)).rowcount != 1:
                    raise LeaseLost(run_id, f"recording step {idx} ({kind}) as {status.value}")
            changed = conn.execute(update(t.run_steps).where(
                t.run_steps.c.run_id == run_id, t.run_steps.c.idx == idx).values(
                status=status, output=output, error=error, updated_at=now,
                attempts=t.run_steps.c.attempts + (1 if status is StepStatus.RUNNING else 0))).rowcount
            if not changed:
                conn.execute(insert(t.run_steps).values(
                    run_id=run_id, idx=idx, kind=kind, status=status, output=output, error=error, updated_at=now,
                    attempts=1 if status is StepStatus.RUNNING else 0))

    # -- short reads (robots.store.types.Database) ----------------------------------------------------------

    def scalar(self, query: Executable) -> Any:
        """The first value of a query, on a connection of its own."""
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def rows(self, query: Executable) -> list[Any]:
        """Every row of a query, on a connection of its own."""
        with self.engine.connect() as conn:
            return list(conn.execute(query))


def _fenced(holder: str | Fence, run_id: int | None = None) -> tuple[Any, ...]:
    """The WHERE of a write only the lease holder may make: a :class:`Fence` (owner and token, run still
    running), or just the owner (the older form, for callers that hold no token)."""
    if isinstance(holder, Fence):
        r = t.runs.c
        return (r.id == holder.run_id, r.status == RunStatus.RUNNING, r.lease_owner == holder.owner,
                r.attempts == holder.token)
    return (t.runs.c.id == run_id, t.runs.c.lease_owner == holder)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN IMMEDIATE ourselves (see Store.__init__)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.close()


__all__ = ["Store"]
