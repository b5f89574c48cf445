"""The incremental daily evaluation records exactly what a whole evaluation records, day after day.

Two stores get the same ledgers, holds and days: one evaluates incrementally (the saved aging state picks what to
age), the other has its state dropped before every evaluation, so it ages the whole ledger each time. Their
crossings, runs, closed invoices and evaluation totals must be identical, row for row, ids included.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from robots.core.domain import (
    AgingPolicy,
    Column,
    Contract,
    Counterparty,
    DayCount,
    GroupSchedule,
    Hold,
    HoldKind,
    Invoice,
    Ledger,
    Payment,
)
from robots.engine.tick import evaluate_and_record
from robots.store import Store
from robots.store import schema as t
from robots.store.runs import aging_state
from tests.builders import weekdays

START = date(2026, 3, 2)  # a Monday
NOW = START
CAL = weekdays()
POLICY = AgingPolicy(
    groups={
        "default": GroupSchedule("default", DayCount.CALENDAR, (
            Column("before_due_3", -3, "reminder"), Column("overdue_1", 1, "request"),
            Column("overdue_5wd", 5, "demand", days=DayCount.WORKING), Column("overdue_10", 10, "legal"))),
        "key": GroupSchedule("key", DayCount.WORKING, (
            Column("before_due_2", -2, "reminder"), Column("overdue_2", 2, "request"),
            Column("overdue_7", 7, "legal"))),
    },
    tolerance=Decimal("1.00"),
)


def services(store: Store, policy: AgingPolicy = POLICY) -> SimpleNamespace:
    return SimpleNamespace(store=store, calendar=CAL, config=SimpleNamespace(policy=lambda: policy))


class World:
    """A ledger that changes from day to day: new invoices (some issued later), payments (directed, undirected,
    some dated later), a due date moved, counterparties changing group, holds placed and released."""

    def __init__(self, rng: random.Random, contracts: int = 6):
        self.rng = rng
        self.groups = {f"P{c}": rng.choice(["default", "key"]) for c in range(contracts)}
        self.invoices: dict[str, Invoice] = {}
        self.payments: dict[str, Payment] = {}
        self.n = 0
        for _ in range(contracts * 3):
            self.new_invoice(START)

    def contract(self) -> str:
        return f"C{self.rng.randrange(len(self.groups))}"

    def new_invoice(self, day: date) -> None:
        self.n += 1
        due = day + timedelta(days=self.rng.randint(-25, 12))
        issued = min(due - timedelta(days=10), day + timedelta(days=self.rng.choice([0, 0, 0, 2])))
        amount = Decimal(self.rng.choice([-50, 100, 250, 1000, 1001])).quantize(Decimal("0.01"))
        self.invoices[f"I{self.n:04d}"] = Invoice(f"I{self.n:04d}", str(self.n), self.contract(), issued, due, amount)

    def change(self, day: date) -> None:
        rng = self.rng
        for _ in range(rng.randint(0, 3)):
            self.new_invoice(day)
        for _ in range(rng.randint(0, 3)):
            self.n += 1
            target = rng.choice([None, *self.invoices])
            contract = self.invoices[target].contract_id if target and rng.random() < 0.8 else self.contract()
            on = day + timedelta(days=rng.choice([-3, 0, 0, 1, 3]))
            amount = Decimal(rng.choice([40, 99, 100, 250, 999])).quantize(Decimal("0.01"))
            self.payments[f"Y{self.n:04d}"] = Payment(f"Y{self.n:04d}", contract, on, amount, target)
        if rng.random() < 0.3:
            cp = rng.choice(sorted(self.groups))
            self.groups[cp] = "key" if self.groups[cp] == "default" else "default"
        if rng.random() < 0.2 and self.invoices:
            i = self.invoices[rng.choice(sorted(self.invoices))]
            self.invoices[i.id] = replace(i, due_date=i.due_date + timedelta(days=rng.randint(-3, 10)))

    def ledger(self) -> Ledger:
        return Ledger(
            tuple(Counterparty(cp, cp, "7700000000", f"{cp}@x.example", g) for cp, g in sorted(self.groups.items())),
            tuple(Contract(f"C{cp[1:]}", cp, cp, 30) for cp in sorted(self.groups)),
            tuple(self.invoices[i] for i in sorted(self.invoices)),
            tuple(self.payments[p] for p in sorted(self.payments)),
        )


def recorded(store: Store) -> dict[str, list]:
    c, r = t.crossings.c, t.runs.c
    return {
        "crossings": [tuple(row) for row in store.rows(select(t.crossings).order_by(c.id))],
        "runs": [tuple(row) for row in store.rows(select(r.id, r.run_key, r.scenario, r.as_of, r.invoices)
                                                  .order_by(r.id))],
        "closed": [tuple(row) for row in store.rows(select(t.closed_invoices)
                                                    .order_by(t.closed_invoices.c.invoice_id))],
        "evaluations": [tuple(row) for row in store.rows(select(
            t.evaluations.c.as_of, t.evaluations.c.crossings, t.evaluations.c.runs, t.evaluations.c.total_open,
            t.evaluations.c.total_overdue).order_by(t.evaluations.c.id))],
    }


def run_both(seed: int, days: int, incremental: Store, whole: Store, *, policy_change_on: int | None = None) -> int:
    """Evaluate ``days`` days on both stores; return how many evaluations of ``incremental`` were incremental."""
    rng = random.Random(seed)
    world = World(rng)
    partial = 0
    policy = POLICY
    day = START
    for n in range(days):
        if n:
            world.change(day)
            day += timedelta(days=rng.choice([1, 1, 1, 2, 3]))
        if n == policy_change_on:
            policy = replace(POLICY, tolerance=Decimal("5.00"))
        lg = world.ledger()
        for s in (incremental, whole):
            s.replace_ledger(lg, "test", NOW)
        if rng.random() < 0.3 and lg.invoices:
            hold = Hold(rng.choice(lg.invoices).id, HoldKind.PAUSE, "обещали", day + timedelta(days=rng.randint(0, 3)))
            for s in (incremental, whole):
                s.add_hold(hold, NOW)
        if rng.random() < 0.2:
            target = rng.choice(lg.invoices).id
            for s in (incremental, whole):
                s.release_holds(target, HoldKind.PAUSE, NOW)
        with whole.engine.begin() as conn:
            conn.execute(delete(aging_state))
        with incremental.engine.connect() as conn:
            had_state = conn.execute(select(aging_state.c.id)).first() is not None
        ev_a, ids_a = evaluate_and_record(services(incremental, policy), day, NOW + timedelta(days=n))
        ev_b, ids_b = evaluate_and_record(services(whole, policy), day, NOW + timedelta(days=n))
        partial += had_state and len(ev_a.states) < len(ev_b.states)
        assert (ev_a.total_open, ev_a.total_overdue, ev_a.open_invoices, ev_a.held) == (
            ev_b.total_open, ev_b.total_overdue, ev_b.open_invoices, ev_b.held), (seed, n)
        assert sorted(ev_a.crossings) == sorted(ev_b.crossings), (seed, n)
        assert ids_a == ids_b, (seed, n)
        assert recorded(incremental) == recorded(whole), (seed, n)
    return partial


@pytest.fixture
def sqlite_pair(tmp_path):
    stores = [Store.open(f"sqlite:///{tmp_path / name}.db") for name in ("a", "b")]
    yield stores
    for s in stores:
        s.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**9))
def test_incremental_evaluations_record_what_whole_ones_do(tmp_path_factory, seed):
    folder = tmp_path_factory.mktemp("pair")
    a, b = (Store.open(f"sqlite:///{folder / name}.db") for name in ("a", "b"))
    try:
        run_both(seed, 12, a, b)
    finally:
        a.close()
        b.close()


def test_most_daily_evaluations_are_incremental(sqlite_pair):
    a, b = sqlite_pair
    assert run_both(7, 15, a, b) >= 8


def test_a_changed_policy_makes_the_next_evaluation_whole(sqlite_pair):
    a, b = sqlite_pair
    run_both(11, 8, a, b, policy_change_on=5)


def test_incremental_on_each_backend_matches_whole_on_sqlite(store, tmp_path):
    whole = Store.open(f"sqlite:///{tmp_path / 'whole.db'}")
    try:
        run_both(3, 10, store, whole)
    finally:
        whole.close()


def test_a_column_skipped_in_a_catch_up_never_runs_later_even_when_the_policy_moves_it_up(store):
    from robots.store.runs import CrossingConflict
    from tests.builders import DUE, inv, ledger, policy

    store.replace_ledger(ledger([inv("A", "100")]), "test", NOW)
    ev, _ = evaluate_and_record(services(store, policy()), DUE + timedelta(days=12), NOW)
    assert [(x.column_id, x.skipped) for x in ev.decided] == [
        ("overdue_10", (("before_due_3", -3), ("overdue_1", 1), ("overdue_2", 2)))]
    before = recorded(store)
    # overdue_2, skipped on the way to overdue_10, now comes after it: the core would cross it (offset 20 > 10)
    moved = AgingPolicy(groups={"default": GroupSchedule("default", DayCount.CALENDAR, (
        Column("before_due_3", -3, "reminder"), Column("overdue_1", 1, "request"), Column("overdue_10", 10, "legal"),
        Column("overdue_2", 20, "demand")))}, tolerance=Decimal("1.00"))
    with pytest.raises(CrossingConflict, match="overdue_2"):
        evaluate_and_record(services(store, moved), DUE + timedelta(days=25), NOW)
    assert recorded(store) == before  # nothing of it recorded
    assert store.last_as_of() == DUE + timedelta(days=12)


def test_status_counts_list_the_skipped_columns_of_every_catch_up(store):
    from robots.engine.summary import summarize

    rng = random.Random(5)
    world = World(rng)
    store.replace_ledger(world.ledger(), "test", NOW)
    ev, _ = evaluate_and_record(services(store), START + timedelta(days=20), NOW)
    assert any(x.skipped for x in ev.decided)
    s = summarize(store)
    expected_run: dict[str, int] = {}
    expected_skipped: dict[str, int] = {}
    for x in ev.crossings:
        counter = expected_run if x.status == "run" else expected_skipped
        counter[x.column_id] = counter.get(x.column_id, 0) + 1
    assert {k: v for k, v in s.crossings_run.items() if v} == expected_run
    assert {k: v for k, v in s.crossings_skipped.items() if v} == expected_skipped
