"""Who this daemon is among the daemons of one database: its registry row, its heartbeat, and whether it leads.

:class:`Membership` is driven by :meth:`Membership.beat` with the clock's current moment: from the daemon's loop
between fires, and from a small thread of its own while a long tick keeps the loop busy (a daemon that syncs a
large ledger must not look dead, and a leader must notice that it lost its lock). Both callers go through one
lock, so the database sees one heartbeat and one leader check at a time.

* PostgreSQL: the leader is whoever holds the advisory lock (:class:`robots.store.daemons.LeaderLock`); a follower
  tries to take it every ``daemon.leader_poll_seconds``, the leader checks it still holds it as often. When the
  leader dies (``kill -9``) the server closes its session and frees the lock, so the next try of a follower wins:
  a takeover within about one ``leader_poll_seconds``.
* SQLite: one daemon per file (:class:`robots.store.daemons.SqliteDaemonLock`, taken by :meth:`Membership.start`);
  it always leads. A manual ``tick`` beside it does not take that lock and stays safe (the evaluation lock).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from robots.config.models import DaemonConfig
from robots.store import Store
from robots.store.daemons import LeaderLock, SqliteDaemonLock, heartbeat, owner_id, register, unregister
from robots.support.clock import Clock

log = structlog.get_logger("arbots.daemon")

#: Registry rows silent for longer than this are dropped when a daemon starts.
FORGET_AFTER = timedelta(days=7)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("arbots")
    except Exception:  # not installed as a distribution (a work tree): the registry says so
        return "dev"


class Membership:
    """This daemon's row in the registry, its heartbeat and its leadership."""

    def __init__(self, store: Store, cfg: DaemonConfig, clock: Clock, owner: str | None = None):
        self.store = store
        self.cfg = cfg
        self.clock = clock
        self.owner = owner or owner_id()
        self.version = _version()
        self.lock = LeaderLock(store)
        self.sqlite_lock = SqliteDaemonLock(store.url) if self.lock.sqlite else None
        self._guard = threading.Lock()
        self._next_heartbeat: datetime | None = None
        self._next_leader_try: datetime | None = None
        self._leader = False
        self._db_ok = True
        #: Called with True/False when this daemon becomes or stops being the leader.
        self.on_change: Callable[[bool], None] | None = None
        #: Called after each beat that asked the database: None when it answered, else the exception.
        self.on_database: Callable[[BaseException | None], None] | None = None

    @property
    def leader(self) -> bool:
        return self._leader

    def start(self) -> None:
        """Take the SQLite file's daemon lock (or raise UsageError naming its holder) and register."""
        now = self.clock.now()
        if self.sqlite_lock is not None:
            self.sqlite_lock.acquire(self.owner, now)
        register(self.store, self.owner, version=self.version, now=now, forget_after=FORGET_AFTER)
        self.beat(now, force=True)

    def reconfigure(self, cfg: DaemonConfig) -> None:
        with self._guard:
            self.cfg = cfg
            self._next_heartbeat = self._next_leader_try = None

    def beat(self, now: datetime, *, force: bool = False) -> None:
        """Whatever is due at ``now``: the leader try or check, then the heartbeat. Never raises: a database that
        does not answer is logged once per outage and leadership is dropped (the lock's session is gone)."""
        with self._guard:
            asked = False
            try:
                if force or self._next_leader_try is None or now >= self._next_leader_try:
                    self._next_leader_try = now + timedelta(seconds=self.cfg.leader_poll_seconds)
                    asked = True
                    self._set_leader(self.lock.try_acquire())
                if force or self._next_heartbeat is None or now >= self._next_heartbeat:
                    self._next_heartbeat = now + timedelta(seconds=self.cfg.heartbeat_seconds)
                    asked = True
                    heartbeat(self.store, self.owner, leader=self._leader, now=now, version=self.version)
                if not asked:
                    return  # nothing was due: this turn says nothing about the database
                if not self._db_ok:
                    self._db_ok = True
                    log.info("database_back", owner=self.owner)
                if self.on_database is not None:
                    self.on_database(None)
            except Exception as exc:
                if self._db_ok:
                    self._db_ok = False
                    log.error("database_unreachable", owner=self.owner, error=str(exc).splitlines()[0][:300])
                self._set_leader(self.lock.holds() if not self.lock.sqlite else True)
                if self.on_database is not None:
                    self.on_database(exc)

    def next_due(self) -> datetime | None:
        with self._guard:
            due = [d for d in (self._next_heartbeat, self._next_leader_try) if d is not None]
            return min(due) if due else None

    def _set_leader(self, leader: bool) -> None:
        if leader == self._leader:
            return
        self._leader = leader
        log.info("leader_elected" if leader else "leader_lost", owner=self.owner)
        if self.on_change is not None:
            self.on_change(leader)

    def stop(self) -> None:
        """Give up leadership, leave the registry and release the SQLite lock (a clean exit)."""
        with self._guard:
            try:
                self.lock.release()
            except Exception:  # the server may be gone; its session and lock went with it
                log.warning("leader_release_failed", owner=self.owner)
            self._leader = False
            try:
                unregister(self.store, self.owner)
            except Exception:
                log.warning("unregister_failed", owner=self.owner)
            if self.sqlite_lock is not None:
                self.sqlite_lock.release()


class Beater:
    """A thread that calls :meth:`Membership.beat` while the daemon's loop is busy with a long fire.

    It waits on real time (an Event, so stopping is immediate) and reads the moment from the daemon's clock."""

    def __init__(self, membership: Membership, period: Callable[[], float]):
        self.membership = membership
        self.period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="arbots-membership", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period()):
            self.membership.beat(self.membership.clock.now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


__all__ = ["Beater", "Membership"]
