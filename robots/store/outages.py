"""External systems as every daemon sharing the database sees them: failure streaks, breaker state, alerts sent.

One row per system (a connector id, ``smtp``, ``tsa``, ``database``). Each process keeps its own circuit breaker
(:mod:`robots.support.breaker`); what they share is here: the consecutive failures of a system counted across
processes, its last error (already scrubbed of secrets), and which alert is out. The alerts are claimed with a
conditional UPDATE (:func:`claim_down_alert`, :func:`claim_recovery_alert`): of several daemons that see the same
outage, exactly one sends "down" and exactly one sends "recovered".

The database itself cannot record its own outage while it is down: a process counts those failures in memory and
writes the streak once the database is back (:func:`claim_database_recovery`), claiming the recovery alert the same
way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, case, or_, select, update
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from robots.store.types import TS, Database, dialect_insert, metadata, utc

external_systems = Table(
    "external_systems", metadata,
    Column("system", String(64), primary_key=True),
    # closed | open (as the failure count shared by every process says; each process's breaker also half-opens)
    Column("state", String(16), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("last_failure_at", TS, nullable=True),
    Column("last_success_at", TS, nullable=True),
    # When the threshold was reached (the outage as ops see it), and when the current streak began.
    Column("opened_at", TS, nullable=True),
    Column("down_since", TS, nullable=True),
    # Set while a "down" alert is out (cleared by the recovery alert); when the last recovery alert went.
    Column("alerted_down_at", TS, nullable=True),
    Column("alerted_up_at", TS, nullable=True),
)

_s = external_systems.c


@dataclass(frozen=True, slots=True)
class SystemState:
    system: str
    state: str
    consecutive_failures: int
    last_error: str | None
    last_failure_at: datetime | None
    last_success_at: datetime | None
    opened_at: datetime | None
    down_since: datetime | None
    alerted_down_at: datetime | None
    alerted_up_at: datetime | None

    @classmethod
    def from_row(cls, r: Any) -> SystemState:
        return cls(r.system, r.state, r.consecutive_failures, r.last_error, utc(r.last_failure_at),
                   utc(r.last_success_at), utc(r.opened_at), utc(r.down_since), utc(r.alerted_down_at),
                   utc(r.alerted_up_at))


def system_states(store: Database) -> list[SystemState]:
    """Every external system arbots has seen fail or recover, by name (what /metrics and ``status`` show)."""
    return [SystemState.from_row(r) for r in store.rows(select(external_systems).order_by(_s.system))]


def system_state(store: Database, system: str) -> SystemState | None:
    rows = store.rows(select(external_systems).where(_s.system == system))
    return SystemState.from_row(rows[0]) if rows else None


def _ensure(conn: Any, store: Database, system: str) -> None:
    conn.execute(dialect_insert(store.engine)(external_systems).values(
        system=system, state="closed", consecutive_failures=0).on_conflict_do_nothing())


def record_failure(store: Database, system: str, error: str, now: datetime, threshold: int) -> SystemState:
    """One more consecutive failure of ``system`` (``error`` must be scrubbed already); the row after it."""
    n = _s.consecutive_failures + 1
    with store.engine.begin() as conn:
        _ensure(conn, store, system)
        conn.execute(update(external_systems).where(_s.system == system).values(
            consecutive_failures=n, last_error=error, last_failure_at=now,
            down_since=case((_s.consecutive_failures == 0, now), else_=_s.down_since),
            state=case((n >= threshold, "open"), else_=_s.state),
            opened_at=case((n >= threshold, case((_s.opened_at.is_(None), now), else_=_s.opened_at)),
                           else_=_s.opened_at)))
        row = conn.execute(select(external_systems).where(_s.system == system)).one()
    return SystemState.from_row(row)


def record_success(store: Database, system: str, now: datetime) -> None:
    """``system`` answered: its streak ends (the row is made if there is none, so /metrics lists it)."""
    with store.engine.begin() as conn:
        _ensure(conn, store, system)
        conn.execute(update(external_systems).where(_s.system == system).values(
            consecutive_failures=0, state="closed", opened_at=None, last_success_at=now))


def claim_down_alert(store: Database, system: str, now: datetime, threshold: int) -> SystemState | None:
    """Take the "down" alert of the current outage: the row when this process must send it, None when another
    process did already (or the streak is below ``threshold``, or already over)."""
    with store.engine.begin() as conn:
        done = conn.execute(update(external_systems).where(
            _s.system == system, _s.alerted_down_at.is_(None), _s.consecutive_failures >= threshold)
            .values(alerted_down_at=now)).rowcount
        row = conn.execute(select(external_systems).where(_s.system == system)).one_or_none()
    return SystemState.from_row(row) if done == 1 and row is not None else None


def release_down_alert(store: Database, system: str) -> None:
    """The "down" alert could not be sent: let the next failure (of any process) try again."""
    with store.engine.begin() as conn:
        conn.execute(update(external_systems).where(_s.system == system).values(alerted_down_at=None))


def claim_recovery_alert(store: Database, system: str, now: datetime) -> SystemState | None:
    """Take the "recovered" alert: the row as it was (``alerted_down_at``: when the down alert went) when this
    process must send it; None when no down alert is out, the system fails again, or another process took it."""
    with store.engine.begin() as conn:
        row = conn.execute(select(external_systems).where(_s.system == system)).one_or_none()
        if row is None or row.alerted_down_at is None:
            return None
        done = conn.execute(update(external_systems).where(
            _s.system == system, _s.alerted_down_at.is_not(None), _s.consecutive_failures == 0)
            .values(alerted_down_at=None, alerted_up_at=now)).rowcount
    return SystemState.from_row(row) if done == 1 else None


def release_recovery_alert(store: Database, system: str, alerted_down_at: datetime) -> None:
    """The "recovered" alert could not be sent: put the down alert back, so that the next success tries again."""
    with store.engine.begin() as conn:
        conn.execute(update(external_systems).where(_s.system == system, _s.alerted_down_at.is_(None))
                     .values(alerted_down_at=alerted_down_at))


def claim_database_recovery(store: Database, *, failures: int, error: str, down_since: datetime,
                            alerted_at: datetime | None, now: datetime) -> bool:
    """Write the streak of database failures a process counted while the database was away, now that it is back.

    True when this process sends the "database recovered" alert: it announced the outage (``alerted_at``) and no
    other process has announced a recovery since the outage began."""
    system = "database"
    with store.engine.begin() as conn:
        _ensure(conn, store, system)
        conn.execute(update(external_systems).where(_s.system == system).values(
            last_error=error, last_failure_at=now, down_since=down_since, last_success_at=now, state="closed",
            consecutive_failures=0, opened_at=None))
        if alerted_at is None:
            return False
        done = conn.execute(update(external_systems).where(
            _s.system == system, or_(_s.alerted_up_at.is_(None), _s.alerted_up_at < down_since))
            .values(alerted_up_at=now)).rowcount
    return done == 1


def database_down(exc: BaseException) -> str | None:
    """The reason when ``exc`` says the database cannot be reached (a refused or dropped connection, a restart, a
    lock timeout), None for any other error (a constraint, a bug: not an outage)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return f"connection lost: {_first_line(exc.orig)}"
    if isinstance(exc, (OperationalError, InterfaceError)):
        return _first_line(exc.orig)
    if isinstance(exc, DisconnectionError):
        return f"connection lost: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


__all__ = ["SystemState", "claim_database_recovery", "claim_down_alert", "claim_recovery_alert", "database_down",
           "external_systems", "record_failure", "record_success", "release_down_alert", "release_recovery_alert",
           "system_state", "system_states"]
