"""The daemons sharing one database: who is alive (the ``daemons`` registry), who leads, and which trigger fires
have been taken (``trigger_fires``).

* **Registry.** Each daemon registers a row (owner ``host:pid:nonce``) and renews ``heartbeat_at`` every few
  seconds; a clean exit deletes it. A row whose heartbeat is old belongs to a daemon that died (``kill -9``, a
  lost host): ``status`` shows it as stale.
* **Leader.** On PostgreSQL the leader is whoever holds a session advisory lock (:class:`LeaderLock`) on a
  dedicated connection kept open. When the leader dies its backend goes away and the server frees the lock, so
  a follower's next try wins. The key is a constant class id and the hash of the current schema, so databases
  shared by several installations (one schema each) elect one leader each. On SQLite there is one daemon
  (:class:`SqliteDaemonLock`), which is always the leader.
* **Fence.** Every scheduled fire of a leader-only trigger first inserts ``(trigger_id, scheduled_for)``, which is
  unique: even two daemons that both believe they lead (a network split) run one fire once.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url

from robots.core.errors import UsageError
from robots.store.runs import run_steps
from robots.store.types import TS, Database, dialect_insert, metadata, utc

daemons = Table(
    "daemons", metadata,
    # One row per live daemon process; deleted on a clean exit, left stale by a crash.
    Column("owner", String(200), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", TS, nullable=False),
    Column("heartbeat_at", TS, nullable=False),
    Column("leader", Boolean, nullable=False, default=False),
    Column("version", String(64), nullable=False),
)

trigger_fires = Table(
    "trigger_fires", metadata,
    # One row per fire of a leader-only trigger (a tick, a housekeeping job): the fence against a second fire.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger_id", String(100), nullable=False),
    Column("scheduled_for", TS, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("fired_at", TS, nullable=False),
    Column("finished_at", TS, nullable=True),
    Column("outcome", String(16), nullable=True),  # ok, failed, coalesced, superseded
    Column("error", Text, nullable=True),
    UniqueConstraint("trigger_id", "scheduled_for", name="uq_trigger_fire_once"),
)

#: The advisory lock's class id ("arbt"); the object id is hashtext(current_schema()).
LEADER_LOCK_CLASS = 0x61726274


def owner_id() -> str:
    """This process's owner id: ``host:pid:nonce`` (the nonce tells a restarted process with a reused pid apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass(frozen=True, slots=True)
class DaemonRow:
    owner: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    leader: bool
    version: str

    def stale(self, now: datetime, after: timedelta) -> bool:
        return now - self.heartbeat_at > after


# -- the registry ---------------------------------------------------------------------------------------------


def register(store: Database, owner: str, *, version: str, now: datetime, forget_after: timedelta) -> None:
    """Add this daemon's row; rows of daemons silent for longer than ``forget_after`` are dropped."""
    host, pid = owner.split(":")[0], int(owner.split(":")[1])
    with store.engine.begin() as conn:
        conn.execute(delete(daemons).where(daemons.c.heartbeat_at < now - forget_after))
        conn.execute(dialect_insert(store.engine)(daemons).values(
            owner=owner, host=host, pid=pid, started_at=now, heartbeat_at=now, leader=False, version=version,
        ).on_conflict_do_nothing())


def heartbeat(store: Database, owner: str, *, leader: bool, now: datetime, version: str) -> None:
    """Renew this daemon's heartbeat (and say whether it leads); re-add the row if someone removed it."""
    with store.engine.begin() as conn:
        done = conn.execute(update(daemons).where(daemons.c.owner == owner).values(
            heartbeat_at=now, leader=leader)).rowcount
        if not done:
            host, pid = owner.split(":")[0], int(owner.split(":")[1])
            conn.execute(dialect_insert(store.engine)(daemons).values(
                owner=owner, host=host, pid=pid, started_at=now, heartbeat_at=now, leader=leader, version=version,
            ).on_conflict_do_nothing())


def unregister(store: Database, owner: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(daemons).where(daemons.c.owner == owner))


def list_daemons(store: Database) -> list[DaemonRow]:
    """Every registered daemon, the leader first, then by host and pid."""
    rows = store.rows(select(daemons).order_by(daemons.c.leader.desc(), daemons.c.host, daemons.c.pid))
    return [DaemonRow(r.owner, r.host, r.pid, utc(r.started_at), utc(r.heartbeat_at), bool(r.leader), r.version)
            for r in rows]


# -- the fence ------------------------------------------------------------------------------------------------


def claim_fire(store: Database, trigger_id: str, scheduled_for: datetime, owner: str, now: datetime) -> bool:
    """Take the fire of ``trigger_id`` scheduled for ``scheduled_for``; False when someone took it already."""
    with store.engine.begin() as conn:
        # RETURNING, not rowcount: psycopg reports no rowcount for an INSERT whose key the dialect returns.
        result = conn.execute(dialect_insert(store.engine)(trigger_fires).values(
            trigger_id=trigger_id, scheduled_for=scheduled_for, owner=owner, fired_at=now,
        ).on_conflict_do_nothing(index_elements=["trigger_id", "scheduled_for"]).returning(trigger_fires.c.id))
        return result.first() is not None


def finish_fire(store: Database, trigger_id: str, scheduled_for: datetime, now: datetime,
                error: str | None = None, *, outcome: str | None = None) -> None:
    """Record how a fire ended: ``ok``, ``failed`` (with ``error``), or another ``outcome``: ``coalesced`` (an
    older tick window folded into a newer one that fired in its place), ``superseded`` (a window before the last
    evaluated day)."""
    with store.engine.begin() as conn:
        conn.execute(update(trigger_fires).where(
            trigger_fires.c.trigger_id == trigger_id, trigger_fires.c.scheduled_for == scheduled_for,
        ).values(finished_at=now, outcome=outcome or ("failed" if error else "ok"), error=error))


@dataclass(frozen=True, slots=True)
class FireState:
    owner: str
    outcome: str | None  # None while it runs (or when its daemon died in it)
    finished_at: datetime | None


def fire_state(store: Database, trigger_id: str, scheduled_for: datetime) -> FireState | None:
    """Who took one fire and how it ended (None: never fired)."""
    rows = store.rows(select(trigger_fires.c.owner, trigger_fires.c.outcome, trigger_fires.c.finished_at).where(
        trigger_fires.c.trigger_id == trigger_id, trigger_fires.c.scheduled_for == scheduled_for))
    return FireState(rows[0].owner, rows[0].outcome, utc(rows[0].finished_at)) if rows else None


def retry_fire(store: Database, trigger_id: str, scheduled_for: datetime, owner: str, now: datetime, *,
               failed_before: datetime | None = None, orphan_of: str | None = None) -> bool:
    """Take a fire again, by a conditional UPDATE (of several daemons, one wins): one that failed at or before
    ``failed_before``, or one left unfinished by ``orphan_of``, a daemon that died in it."""
    c = trigger_fires.c
    where = [c.trigger_id == trigger_id, c.scheduled_for == scheduled_for]
    if orphan_of is not None:
        where += [c.owner == orphan_of, c.outcome.is_(None)]
    elif failed_before is not None:
        where += [c.outcome == "failed", c.finished_at <= failed_before]
    else:
        raise ValueError("retry_fire needs failed_before or orphan_of")
    with store.engine.begin() as conn:
        return conn.execute(update(trigger_fires).where(*where).values(
            owner=owner, fired_at=now, finished_at=None, outcome=None, error=None)).rowcount == 1


def last_fire(store: Database, trigger_id: str) -> datetime | None:
    """The newest scheduled moment of ``trigger_id`` that some daemon fired (or None)."""
    return utc(store.scalar(select(func.max(trigger_fires.c.scheduled_for)).where(
        trigger_fires.c.trigger_id == trigger_id)))


def last_finished(store: Database, prefix: str, *, ok_only: bool = True) -> datetime | None:
    """When the newest fire of a trigger whose id starts with ``prefix`` finished (successfully, by default)."""
    query = select(func.max(trigger_fires.c.finished_at)).where(trigger_fires.c.trigger_id.startswith(prefix))
    if ok_only:
        query = query.where(trigger_fires.c.outcome == "ok")
    return utc(store.scalar(query))


def fires(store: Database, trigger_id: str | None = None) -> list[Any]:
    """The fires recorded (of one trigger), oldest first: trigger_id, scheduled_for, owner, outcome, error."""
    query = select(trigger_fires).order_by(trigger_fires.c.scheduled_for, trigger_fires.c.id)
    if trigger_id is not None:
        query = query.where(trigger_fires.c.trigger_id == trigger_id)
    return store.rows(query)


def last_tick(store: Database) -> tuple[datetime, float] | None:
    """When the newest finished tick fire finished and how long it took (seconds), of any daemon."""
    row = store.rows(select(trigger_fires.c.fired_at, trigger_fires.c.finished_at).where(
        trigger_fires.c.trigger_id.startswith("tick:"), trigger_fires.c.finished_at.is_not(None),
    ).order_by(trigger_fires.c.finished_at.desc()).limit(1))
    if not row:
        return None
    fired, finished = utc(row[0].fired_at), utc(row[0].finished_at)
    return finished, (finished - fired).total_seconds()


def failed_fires(store: Database) -> dict[str, int]:
    """How many fires of each trigger ended failed (and were not retried successfully)."""
    return {trigger: int(n) for trigger, n in store.rows(
        select(trigger_fires.c.trigger_id, func.count()).where(trigger_fires.c.outcome == "failed")
        .group_by(trigger_fires.c.trigger_id))}


def steps_done(store: Database, kind: str) -> int:
    """How many steps of ``kind`` finished (``sign``: the documents signed)."""
    return int(store.scalar(select(func.count()).select_from(run_steps).where(
        run_steps.c.kind == kind, run_steps.c.status == "done")) or 0)


def ping(store: Database) -> None:
    """A round trip to the database (raises when it does not answer)."""
    store.scalar(select(1))


# -- the leader -----------------------------------------------------------------------------------------------


class LeaderLock:
    """Leadership among the daemons of one PostgreSQL schema: a session advisory lock on a connection of its own.

    :meth:`try_acquire` takes the lock when it is free; :meth:`holds` checks, on the lock's own connection, that
    this process still holds it. Any error on that connection (the server restarted, the network went away)
    drops leadership at once: the connection is thrown away and a later :meth:`try_acquire` starts afresh.
    On SQLite there is only one daemon, which is always the leader.
    """

    def __init__(self, store: Database):
        self._store = store
        self._conn: Connection | None = None
        self.sqlite = store.engine.dialect.name == "sqlite"

    @property
    def leader(self) -> bool:
        return self.sqlite or self._conn is not None

    def try_acquire(self) -> bool:
        if self.leader:
            return self.holds()
        conn = None
        try:
            conn = self._store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"),
                               {"cls": LEADER_LOCK_CLASS}).scalar()
        except Exception:
            self._discard(conn)
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def holds(self) -> bool:
        """Whether this process still holds the lock; False (and no longer leader) when its connection broke."""
        if self.sqlite:
            return True
        if self._conn is None:
            return False
        try:
            n = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
                "AND classid = CAST(:cls AS oid) AND objid = CAST(hashtext(current_schema()) AS oid) AND objsubid = 2"),
                {"cls": LEADER_LOCK_CLASS}).scalar()
        except Exception:
            self._discard(self._conn)
            self._conn = None
            return False
        if not n:
            self.release()
        return bool(n)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:cls, hashtext(current_schema()))"),
                         {"cls": LEADER_LOCK_CLASS})
            conn.close()
        except Exception:
            self._discard(conn)

    @staticmethod
    def _discard(conn: Connection | None) -> None:
        if conn is None:
            return
        try:
            conn.invalidate()
            conn.close()
        except Exception:  # the connection is gone already; nothing to give back
            pass


# -- one daemon per SQLite file -------------------------------------------------------------------------------


class SqliteDaemonLock:
    """An OS lock (``flock``) on ``<database>.daemon.lock`` held for the daemon's life; the file says who holds
    it. The kernel drops the lock with the process, so a killed daemon never leaves a stale one. Manual ``tick``
    commands do not take it (the store's evaluation lock keeps them safe beside the daemon)."""

    def __init__(self, url: str):
        database = make_url(url).database
        self.path = Path(f"{database}.daemon.lock") if database and database != ":memory:" else None
        self._file: IO[str] | None = None

    def acquire(self, owner: str, now: datetime) -> None:
        """Take the lock, or raise UsageError naming the daemon that holds it."""
        if self.path is None:
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise UsageError(f"another daemon already runs on the SQLite database {self.path.with_suffix('')}: "
                             f"{holder}. SQLite takes one daemon; stop that one first, or move the database to "
                             "PostgreSQL to run several") from None
        host, pid = owner.split(":")[0], owner.split(":")[1]
        f.seek(0)
        f.truncate()
        f.write(f"host {host}, pid {pid}, since {now:%Y-%m-%d %H:%M:%S} UTC\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.truncate(0)
            f.close()  # closing drops the flock


__all__ = ["LEADER_LOCK_CLASS", "DaemonRow", "FireState", "LeaderLock", "SqliteDaemonLock", "claim_fire",
           "daemons", "failed_fires", "finish_fire", "fire_state", "fires", "heartbeat", "last_finished",
           "last_fire", "last_tick", "list_daemons", "owner_id", "ping", "register", "retry_fire", "steps_done",
           "trigger_fires", "unregister"]
