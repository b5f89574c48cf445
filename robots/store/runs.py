"""The aging state: evaluations, the crossings they recorded, the scenario runs they decided and each run's steps,
the holds that pause invoices, and the invoices closed for good.

The unique constraints are exactly-once guarantees: ``crossings (invoice_id, column_id, epoch)`` (a debt crosses a
column once) and ``runs (run_key)`` (one scenario run per contract, column and day). The writes that change a
run's state (claims, leases, waits) are :class:`robots.store.Store`'s; an evaluation records through
:class:`EvaluationTx`, on the connection that holds the evaluation lock.

A catch-up's skipped columns are stored in the row of the crossing that passed them (``crossings.skipped``, 0011:
one row per invoice and newly reached column that runs). The unique constraint covers the column of each row;
that a skipped column never runs later (nor twice) is enforced under the evaluation lock: the history read in the
locked transaction makes the core cross only columns above the highest one recorded (a skipped column is always
below the column that passed it), and :meth:`EvaluationTx.record` refuses, before writing anything, a crossing
whose column (or one it passes) is already recorded for the invoice, run or skipped.

The aging state (0011) lets a daily tick evaluate only what may have changed: ``aging_invoices`` holds every open
invoice's balance and the next day it reaches a column, ``aging_contracts`` the ledger fingerprint each contract
was last evaluated at and the next day one of its later-dated entries takes effect, ``aging_state`` the policy
and calendar key and the day they describe (:meth:`EvaluationTx.scope`).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Date,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)

from robots.core.aging import Evaluation, History
from robots.core.domain import CrossingStatus, Hold, HoldKind, Ledger
from robots.store import ledger as ledger_db
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
    # The columns this crossing passed in a catch-up, lowest first, as JSON [[column_id, offset], ...] (0011); null
    # when it passed none. They share its invoice, epoch, day, days past due and open amount, and never run.
    Column("skipped", Text, nullable=True),
    UniqueConstraint("invoice_id", "column_id", "epoch", name="uq_crossing_once"),
)

aging_state = Table(
    "aging_state", metadata,
    # One row (id = 1) once an evaluation saved the state: the policy and calendar it holds for, and its day (0011).
    Column("id", Integer, primary_key=True),
    Column("state_key", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
)

aging_invoices = Table(
    "aging_invoices", metadata,
    # Every open invoice as the last evaluation left it (0011): no index besides the key, scans are cheap.
    Column("invoice_id", String(64), primary_key=True),
    Column("contract_id", String(64), nullable=False),
    Column("open_amount", Money, nullable=False),
    Column("next_on", Date, nullable=True),  # the next day it reaches a column (or may: a hold); null: none left
    Column("overdue_from", Date, nullable=False),
    sqlite_with_rowid=False,  # one B-tree, filled in key order by a first evaluation
)

aging_contracts = Table(
    "aging_contracts", metadata,
    # Every contract of the last evaluated ledger (0011): the fingerprint it was evaluated at (null: unknown), and
    # the first day after it one of its entries dated later takes effect.
    Column("contract_id", String(64), primary_key=True),
    Column("fingerprint", String(16), nullable=True),
    Column("next_on", Date, nullable=True),
    sqlite_with_rowid=False,
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


@dataclass(frozen=True)
class Scope:
    """What an incremental evaluation looks at (:meth:`EvaluationTx.scope`)."""

    #: Contracts evaluated whole: changed since they were last evaluated, or with an entry taking effect.
    contracts: frozenset[str]
    #: Invoices of other contracts, evaluated alone with the open balance they had: invoice id -> open amount.
    invoices: dict[str, Decimal]
    #: Contracts no longer in the ledger: their state goes.
    gone: frozenset[str]


class CrossingConflict(RuntimeError):
    """A crossing would record a column the invoice already has (run or skipped): nothing is recorded."""


@dataclass
class EvaluationTx:
    """The inside of :meth:`robots.store.Store.evaluation`: everything runs on one locked connection."""

    conn: Connection
    #: The invoices with recorded crossings, as far as this transaction read the history (None: not read).
    _recorded: set[str] | None = field(default=None, repr=False)
    _asked: set[str] | None = field(default=None, repr=False)
    _state_saved: bool = field(default=False, repr=False)

    def last_as_of(self) -> date | None:
        return self.conn.execute(select(robot_state.c.last_as_of)).scalar()

    def history(self, invoice_ids: Collection[str] | None = None) -> History:
        """(invoice, epoch) -> the highest column offset recorded; of these invoices only, when given."""
        c = crossings.c
        query = select(c.invoice_id, c.epoch, func.max(c.col_offset)).group_by(c.invoice_id, c.epoch)
        if invoice_ids is None:
            result = {(inv, epoch): offset for inv, epoch, offset in self.conn.execute(query)}
            self._recorded, self._asked = {inv for inv, _epoch in result}, None
            return result
        result = {}
        for part in _chunks(invoice_ids):
            for inv, epoch, offset in self.conn.execute(query.where(c.invoice_id.in_(part))):
                result[(inv, epoch)] = offset
        if self._recorded is None or self._asked is not None:  # only what was asked is known
            self._asked = (self._asked or set()) | set(invoice_ids)
            self._recorded = (self._recorded or set()) | {inv for inv, _epoch in result}
        return result

    # -- the ledger and the aging state, read under the lock ----------------------------------------------------

    def load_ledger(self) -> Ledger:
        """The whole ledger snapshot, read on the locked connection (a sync waits for the lock)."""
        return ledger_db.read_ledger(self.conn)

    def scope(self, as_of: date, state_key: str) -> Scope | None:
        """What an evaluation on ``as_of`` must look at, or None when it must evaluate the whole ledger: no state
        saved yet, a state of another day than the last evaluation's, or of another policy or calendar."""
        conn = self.conn
        saved = conn.execute(select(aging_state.c.state_key, aging_state.c.as_of).where(aging_state.c.id == 1)).first()
        if saved is None or saved.state_key != state_key or saved.as_of != self.last_as_of():
            return None
        lc, v, a, ai = ledger_db.contracts.c, ledger_db.ledger_versions.c, aging_contracts.c, aging_invoices.c
        changed = select(lc.id).select_from(
            ledger_db.contracts.outerjoin(ledger_db.ledger_versions, v.contract_id == lc.id)
            .outerjoin(aging_contracts, a.contract_id == lc.id)).where(
            v.contract_id.is_(None) | a.contract_id.is_(None) | a.fingerprint.is_(None)
            | (a.fingerprint != v.fingerprint) | (a.next_on <= as_of))
        whole = frozenset(conn.execute(changed).scalars())
        gone = frozenset(conn.execute(select(a.contract_id).select_from(
            aging_contracts.outerjoin(ledger_db.contracts, lc.id == a.contract_id)).where(lc.id.is_(None))).scalars())
        invoices: dict[str, Decimal] = {}
        due = select(ai.invoice_id, ai.contract_id, ai.open_amount).where(ai.next_on <= as_of)
        held = select(ai.invoice_id, ai.contract_id, ai.open_amount).join(
            holds, holds.c.invoice_id == ai.invoice_id).where(holds.c.released_at.is_(None))
        for query in (due, held):
            for inv, contract_id, amount in conn.execute(query):
                if contract_id not in whole and contract_id not in gone:
                    invoices[inv] = amount
        return Scope(whole, invoices, gone)

    def load_scope(self, scope: Scope) -> tuple[Ledger, dict[str, Decimal]]:
        """The ledger an incremental evaluation ages (the scope's contracts whole, its invoices alone) and the open
        balances of the invoices evaluated alone."""
        return ledger_db.read_ledger(self.conn, scope.contracts, scope.invoices), scope.invoices

    def save_state(self, ev: Evaluation, scope: Scope | None, state_key: str) -> None:
        """Keep what the evaluation (with ``with_state``) found about every invoice and contract it looked at:
        all of them (``scope`` None) or the scope's."""
        conn = self.conn
        ai, ac = aging_invoices.c, aging_contracts.c
        if scope is None:
            conn.execute(delete(aging_invoices))
            conn.execute(delete(aging_contracts))
            contracts = ev.contracts_next
        else:
            for part in _chunks(scope.contracts | scope.gone):
                conn.execute(delete(aging_invoices).where(ai.contract_id.in_(part)))
                conn.execute(delete(aging_contracts).where(ac.contract_id.in_(part)))
            for part in _chunks(scope.invoices):
                conn.execute(delete(aging_invoices).where(ai.invoice_id.in_(part)))
            contracts = {c: ev.contracts_next.get(c) for c in scope.contracts}
        to_date = _binder(ai.next_on, conn)
        days: dict[date | None, Any] = {None: None}

        def day(d: date | None) -> Any:  # few distinct days: each converted once
            v = days.get(d, days)
            if v is days:
                v = days[d] = to_date(d)
            return v

        def kopecks(v: Decimal) -> int:  # what Money stores, without its per-value call
            k = v.scaleb(2)
            n = int(k)
            if n != k:
                raise ValueError(f"amount {v} has more than two decimals")
            return n

        _driver_bulk(conn, aging_invoices, ("invoice_id", "contract_id", "open_amount", "next_on", "overdue_from"),
                     ((i, s.contract_id, kopecks(s.open_amount), day(s.next_on), day(s.overdue_from))
                      for i, s in ev.states.items()))
        v = ledger_db.ledger_versions.c
        if scope is None:
            prints = dict(conn.execute(select(v.contract_id, v.fingerprint)).all())
        else:
            prints = {}
            for part in _chunks(scope.contracts):
                prints.update(conn.execute(select(v.contract_id, v.fingerprint).where(v.contract_id.in_(part))).all())
        _driver_bulk(conn, aging_contracts, ("contract_id", "fingerprint", "next_on"),
                     ((c, prints.get(c), day(d)) for c, d in contracts.items()))
        conn.execute(delete(aging_state))
        conn.execute(insert(aging_state).values(id=1, state_key=state_key, as_of=ev.as_of))
        self._state_saved = True

    def totals(self, as_of: date) -> tuple[Decimal, Decimal, int]:
        """(total open, total overdue, open invoices) on ``as_of`` over the saved state of every open invoice."""
        ai = aging_invoices.c
        amount = type_coerce(ai.open_amount, BigInteger)  # kopecks, summed as they are
        kopecks = self.conn.execute(select(
            func.coalesce(func.sum(amount), 0), func.coalesce(func.sum(amount).filter(ai.overdue_from <= as_of), 0),
            func.count())).one()
        return Decimal(int(kopecks[0])).scaleb(-2), Decimal(int(kopecks[1])).scaleb(-2), int(kopecks[2])

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
        constants converted once): a first evaluation of a large ledger records a million crossings. A crossing's
        skipped columns go into its row (JSON text, one string per distinct list). Before anything is written,
        a crossing of an invoice that has crossings already is checked against them (:class:`CrossingConflict`).
        """
        conn = self.conn
        self._check_conflicts(ev)
        run_ids = _insert_runs(conn, ev, now)
        as_of = _binder(crossings.c.as_of, conn)(ev.as_of)
        money = _binder(crossings.c.open_amount, conn)
        status = {s: s.value for s in CrossingStatus}
        run, get = CrossingStatus.RUN, run_ids.get
        last: list[Any] = [None, 0]
        texts: dict[int, str | None] = {}  # by the id of a skipped tuple: the core shares one per decision
        keep = []  # the tuples keyed by id stay alive while their ids are keys

        def kopecks(v: Decimal) -> int:  # an invoice's crossings share one open amount: convert it once
            if v is not last[0]:
                last[0], last[1] = v, money(v)
            return last[1]

        def passed(skipped: tuple[tuple[str, int], ...]) -> str | None:
            if not skipped:
                return None
            text = texts.get(id(skipped), "")
            if text == "":
                keep.append(skipped)
                text = texts[id(skipped)] = json.dumps([list(p) for p in skipped], separators=(",", ":"))
            return text

        _driver_bulk(conn, crossings, ("invoice_id", "column_id", "epoch", "contract_id", "col_offset", "status",
                                       "as_of", "days_past_due", "open_amount", "run_id", "skipped"),
                     ((x.invoice_id, x.column_id, x.epoch, x.contract_id, x.offset, status[x.status], as_of,
                       x.days_past_due, kopecks(x.open_amount),
                       get((x.contract_id, x.column_id)) if x.status is run else None, passed(x.skipped))
                      for x in ev.decided))
        known = set(conn.execute(select(closed_invoices.c.invoice_id)).scalars()) if ev.closed else set()
        _driver_bulk(conn, closed_invoices, ("invoice_id", "closed_on"),
                     ((i, as_of) for i in ev.closed if i not in known))
        conn.execute(insert(evaluations).values(
            as_of=ev.as_of, evaluated_at=now, crossings=ev.crossing_count, runs=len(ev.runs),
            total_open=ev.total_open, total_overdue=ev.total_overdue))
        conn.execute(update(robot_state).where(robot_state.c.id == 1).values(last_as_of=ev.as_of))
        if not self._state_saved:  # crossings the saved state does not know of: the next evaluation is whole
            conn.execute(delete(aging_state))
        return list(run_ids.values())

    def _check_conflicts(self, ev: Evaluation) -> None:
        """Refuse crossings of columns an invoice has recorded already, run or skipped (the core never makes one
        from the history it was given; this holds even for a caller that gave it another). Only invoices with
        a recorded crossing can conflict: when the history was read in this transaction, it says which."""
        invoices = {x.invoice_id for x in ev.decided}
        if self._recorded is not None:  # of the invoices whose history was read, only those with crossings
            asked = self._asked
            invoices = {i for i in invoices if i in self._recorded or (asked is not None and i not in asked)}
        if not invoices:
            return
        c = crossings.c
        query = select(c.invoice_id, c.epoch, c.column_id, c.skipped)
        recorded: set[tuple[str, str, str]] = set()
        texts: dict[str, list[str]] = {}
        for part in _chunks(invoices):
            for inv, epoch, column_id, skipped in self.conn.execute(query.where(c.invoice_id.in_(part))):
                recorded.add((inv, epoch, column_id))
                if skipped:
                    ids = texts.get(skipped)
                    if ids is None:
                        ids = texts[skipped] = [cid for cid, _offset in json.loads(skipped)]
                    recorded.update((inv, epoch, cid) for cid in ids)
        for x in ev.decided:
            for cid in (x.column_id, *(cid for cid, _offset in x.skipped)):
                if (x.invoice_id, x.epoch, cid) in recorded:
                    raise CrossingConflict(
                        f"invoice {x.invoice_id} already has a crossing of column {cid!r}"
                        f"{f' (epoch {x.epoch})' if x.epoch else ''}: a column runs once and never after it was "
                        "skipped; nothing of this evaluation was recorded")


def _chunks(ids: Collection[str], size: int = 5_000) -> Iterator[list[str]]:
    items = sorted(ids)
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert_runs(conn: Connection, ev: Evaluation, now: datetime) -> dict[tuple[str, str], int]:
    """All runs in one driver executemany; their ids read back by run key (the evaluation lock is held)."""
    if not ev.runs:
        return {}
    c = runs.c
    as_of, status, created = (_binder(c.as_of, conn)(ev.as_of), _binder(c.status, conn)(RunStatus.PENDING),
                              _binder(c.created_at, conn)(now))
    run = CrossingStatus.RUN
    decided: dict[tuple[str, str], list[Any]] = {}  # the run crossings of each run, in the run's invoice order
    for x in ev.decided:
        if x.status is run:
            found = decided.get((x.contract_id, x.column_id))
            if found is None:
                decided[(x.contract_id, x.column_id)] = [x]
            else:
                found.append(x)
    def quoted(text: str) -> str:  # json.dumps of a str: as it is between quotes, unless it needs escaping
        return f'"{text}"' if _PLAIN(text) else json.dumps(text)

    def rows() -> Iterator[tuple[Any, ...]]:
        for r in ev.runs:
            # What the letter will say is fixed at decision time, so a re-render after a crash is identical. The
            # JSON text is json.dumps' of [{"id", "open_amount", "days_past_due"}, ...] (the JSON type's own
            # serialisation), written directly: a first evaluation records a quarter of a million runs.
            items = decided[(r.contract_id, r.column_id)]
            text = "[" + ", ".join(f'{{"id": {quoted(x.invoice_id)}, "open_amount": "{x.open_amount}", '
                                   f'"days_past_due": {x.days_past_due}}}' for x in items) + "]"
            yield (r.key, r.contract_id, r.column_id, r.scenario, as_of, text, status, 0, created)

    before = conn.execute(select(func.coalesce(func.max(c.id), 0))).scalar()
    _driver_bulk(conn, runs, ("run_key", "contract_id", "column_id", "scenario", "as_of", "invoices", "status",
                              "attempts", "created_at"), rows())
    ids = dict(conn.execute(select(c.run_key, c.id).where(c.id > before)).all())
    return {(r.contract_id, r.column_id): ids[r.key] for r in ev.runs}


#: A str json.dumps leaves as it is between its quotes: printable ASCII without a quote or a backslash.
_PLAIN = re.compile(r'[ !#-\[\]-~]*\Z').match


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
    """(column id, crossing status, how many) over all evaluations, in column order (by offset, then id); the
    columns passed in catch-ups, stored in their crossing's row, counted as skipped crossings of their own."""
    c = crossings.c
    counts: dict[tuple[str, str], list[int]] = {}  # (column, status) -> [how many, lowest offset]
    for column, status, n, offset in store.rows(select(c.column_id, c.status, func.count(), func.min(c.col_offset))
                                                .group_by(c.column_id, c.status)):
        counts[(column, status)] = [n, offset]
    skipped = CrossingStatus.SKIPPED.value
    for text, n in store.rows(select(c.skipped, func.count()).where(c.skipped.is_not(None)).group_by(c.skipped)):
        for column, offset in json.loads(text):
            found = counts.setdefault((column, skipped), [0, offset])
            found[0] += n
            found[1] = min(found[1], offset)
    order = sorted(counts, key=lambda k: (min(v[1] for (col, _s), v in counts.items() if col == k[0]), k[0], k[1]))
    return [(column, status, counts[(column, status)][0]) for column, status in order]


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


__all__ = ["CrossingConflict", "EvaluationTx", "PlanningState", "Scope", "aging_contracts", "aging_invoices",
           "aging_state", "closed_invoices", "crossing_counts", "crossings", "earlier_runs",
           "evaluations", "holds", "last_totals", "robot_state", "run_counts", "run_steps", "runs", "runs_in_status",
           "runs_waiting_in"]
