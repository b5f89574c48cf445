"""The store on both backends: exact money, whole-snapshot swaps, evaluations recorded once, holds, step effects.

Every test takes the ``store`` fixture (tests/conftest.py), so it runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.exc import IntegrityError, StatementError

from robots.core.aging import NO_EPOCH, evaluate
from robots.core.domain import (
    AgingPolicy,
    CatchUp,
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
from robots.core.workdays import WorkCalendar
from robots.store import RunStatus, StepStatus, archive_index, tasks
from robots.store import schema as t
from robots.store.runs import CrossingConflict
from robots.store.types import utc

NOW = datetime(2024, 3, 12, 9, 0, tzinfo=UTC)
DAY1 = date(2024, 3, 12)
DAY2 = date(2024, 4, 2)
CALENDAR = WorkCalendar(lambda d: d.weekday() < 5)

POLICY = AgingPolicy(
    groups={"default": GroupSchedule("default", DayCount.CALENDAR, (
        Column("d5", 5, "reminder"),
        Column("d10", 10, "claim"),
        Column("d30", 30, "lawsuit"),
    ))},
    tolerance=Decimal("0.00"),
    catch_up=CatchUp.LATEST,
)


def small_ledger() -> Ledger:
    """Two contracts; on DAY1 i1 and i2 (contract k1) and i3 (k2) have crossed d5 and d10, i4 is not overdue yet,
    i5 is paid in full."""
    return Ledger(
        counterparties=(Counterparty("cp1", "ООО «Ромашка»", "7700000001", "buh@romashka.example"),),
        contracts=(
            Contract("k1", "12/2024-Б", "cp1", 0, "RUB", Decimal("0.001")),
            Contract("k2", "7", "cp1"),
        ),
        invoices=(
            Invoice("i1", "101", "k1", date(2024, 2, 1), date(2024, 3, 1), Decimal("1000.00")),
            Invoice("i2", "102", "k1", date(2024, 2, 2), date(2024, 3, 2), Decimal("500.50")),
            Invoice("i3", "201", "k2", date(2024, 2, 1), date(2024, 3, 1), Decimal("200.00")),
            Invoice("i4", "202", "k2", date(2024, 3, 1), date(2024, 3, 10), Decimal("300.00")),
            Invoice("i5", "203", "k2", date(2024, 2, 1), date(2024, 2, 1), Decimal("50.00")),
        ),
        payments=(
            Payment("p1", "k1", date(2024, 3, 5), Decimal("100.00"), "i2"),
            Payment("p2", "k2", date(2024, 2, 3), Decimal("50.00"), "i5"),
        ),
    )


def count(store, table) -> int:
    return store.scalar(select(func.count()).select_from(table))


def counts(store) -> dict[str, int]:
    return {name: count(store, table) for name, table in
            {"crossings": t.crossings, "runs": t.runs, "evaluations": t.evaluations,
             "closed": t.closed_invoices}.items()}


def record(store, ledger: Ledger, as_of: date, now: datetime = NOW):
    """One evaluation exactly as the robot does it: lock, read history and holds, evaluate, record."""
    with store.evaluation() as tx:
        ev = evaluate(ledger, POLICY, CALENDAR, as_of, tx.history(), tx.holds(as_of))
        run_ids = tx.record(ev, now)
    return ev, run_ids


def crossings_by_key(store) -> dict[tuple[str, str], object]:
    """Every (invoice, column) crossed: each row, and each column its row passed in a catch-up (``skipped``)."""
    found: dict[tuple[str, str], object] = {}
    for r in store.rows(select(t.crossings)):
        found[(r.invoice_id, r.column_id)] = r
        for column_id, offset in json.loads(r.skipped or "[]"):
            found[(r.invoice_id, column_id)] = SimpleNamespace(**{**r._asdict(), "column_id": column_id,
                                                                  "col_offset": offset, "status": "skipped",
                                                                  "run_id": None, "skipped": None})
    return found


# -- money and the ledger snapshot ---------------------------------------------------------------------------

def test_money_and_rates_round_trip_exactly(store):
    ledger = Ledger(
        counterparties=(Counterparty("cp1", "Рога и копыта", "770000000001", "a@b.example", "vip"),),
        contracts=(
            Contract("k1", "1/2024", "cp1", 30, "RUB", Decimal("0.001")),
            Contract("k2", "2/2024", "cp1", 0, "USD", Decimal("0.0001234567")),
            Contract("k3", "3/2024", "cp1", 5, "EUR", None),
        ),
        invoices=(
            Invoice("i1", "1", "k1", date(2024, 1, 1), date(2024, 1, 31), Decimal("12345678901.23")),
            Invoice("i2", "2", "k1", date(2024, 1, 2), date(2024, 2, 1), Decimal("-0.01")),
            Invoice("i3", "3", "k2", date(2024, 1, 3), date(2024, 2, 2), Decimal("0.10")),
        ),
        payments=(
            Payment("p1", "k1", date(2024, 1, 5), Decimal("0.01"), "i1"),
            Payment("p2", "k2", date(2024, 1, 6), Decimal("99999999999.99"), None),
        ),
    )
    store.replace_ledger(ledger, "test", NOW)
    loaded = store.load_ledger()
    assert loaded == ledger
    assert [str(i.amount) for i in loaded.invoices] == ["12345678901.23", "-0.01", "0.10"]
    assert [str(p.amount) for p in loaded.payments] == ["0.01", "99999999999.99"]
    assert [c.penalty_rate_per_day for c in loaded.contracts] == [Decimal("0.001"), Decimal("0.0001234567"), None]
    assert str(loaded.contracts[0].penalty_rate_per_day) == "0.001"
    assert all(isinstance(i.amount, Decimal) for i in loaded.invoices)


def test_money_is_stored_as_integer_kopecks(store):
    store.replace_ledger(small_ledger(), "test", NOW)
    raw = dict(store.rows(select(t.invoices.c.id, cast(t.invoices.c.amount, BigInteger))))
    assert raw["i2"] == 50050
    assert raw["i1"] == 100000


def test_an_amount_with_three_decimals_is_refused_and_the_old_ledger_stays(store):
    old = small_ledger()
    store.replace_ledger(old, "first", NOW)
    bad = Ledger(old.counterparties, old.contracts,
                 (Invoice("x1", "9", "k1", date(2024, 3, 1), date(2024, 3, 2), Decimal("1.005")),), ())
    with pytest.raises((ValueError, StatementError)) as exc:
        store.replace_ledger(bad, "second", NOW + timedelta(hours=1))
    cause = getattr(exc.value, "orig", exc.value)
    assert isinstance(cause, ValueError)
    assert "more than two decimals" in str(cause)
    assert store.load_ledger() == old
    assert store.last_sync_at() == NOW
    assert count(store, t.syncs) == 1


def test_a_bad_payment_after_good_rows_rolls_back_the_whole_swap(store):
    old = small_ledger()
    store.replace_ledger(old, "first", NOW)
    new = Ledger((Counterparty("cpX", "X"),), (Contract("kX", "X", "cpX"),),
                 (Invoice("iX", "X", "kX", date(2024, 3, 1), date(2024, 3, 2), Decimal("5.00")),),
                 (Payment("pX", "kX", date(2024, 3, 3), Decimal("0.001")),))
    with pytest.raises((ValueError, StatementError)):
        store.replace_ledger(new, "second", NOW + timedelta(hours=1))
    assert store.load_ledger() == old


def test_replace_ledger_replaces_the_whole_snapshot_and_records_a_sync(store):
    assert store.last_sync_at() is None
    store.replace_ledger(small_ledger(), "files", NOW)
    assert store.last_sync_at() == NOW
    later = NOW + timedelta(days=1)
    new = Ledger(
        counterparties=(Counterparty("cp2", "Другая"),),
        contracts=(Contract("k9", "9", "cp2"),),
        invoices=(Invoice("i9", "9", "k9", date(2024, 3, 1), date(2024, 3, 31), Decimal("10.00")),),
        payments=(),
    )
    store.replace_ledger(new, "files,bank", later)
    assert store.load_ledger() == new
    assert {r.id for r in store.rows(select(t.invoices))} == {"i9"}
    assert count(store, t.payments) == 0
    assert store.last_sync_at() == later
    assert store.last_sync_at().tzinfo is not None
    syncs = store.rows(select(t.syncs).order_by(t.syncs.c.id))
    assert [s.connectors for s in syncs] == ["files", "files,bank"]
    assert syncs[-1].counts == {"counterparties": 1, "contracts": 1, "invoices": 1, "payments": 0}
    assert utc(syncs[0].finished_at) == NOW


def test_an_empty_ledger_empties_the_snapshot(store):
    store.replace_ledger(small_ledger(), "files", NOW)
    store.replace_ledger(Ledger(), "files", NOW + timedelta(minutes=5))
    assert store.load_ledger() == Ledger()


# -- evaluations ------------------------------------------------------------------------------------------------

def test_an_evaluation_records_crossings_runs_and_history(store):
    store.replace_ledger(small_ledger(), "test", NOW)
    assert store.last_as_of() is None
    ev, run_ids = record(store, store.load_ledger(), DAY1)

    assert len(run_ids) == 2 == len(ev.runs)
    runs = {r.run_key: r for r in store.rows(select(t.runs))}
    assert set(runs) == {"k1|d10|2024-03-12", "k2|d10|2024-03-12"}
    k1 = runs["k1|d10|2024-03-12"]
    assert (k1.contract_id, k1.column_id, k1.scenario, k1.as_of) == ("k1", "d10", "claim", DAY1)
    assert k1.status == RunStatus.PENDING and k1.attempts == 0 and k1.lease_owner is None
    assert utc(k1.created_at) == NOW
    # One run per contract, column and day, listing every invoice with what it was owed at decision time.
    assert k1.invoices == [
        {"id": "i1", "open_amount": "1000.00", "days_past_due": 11},
        {"id": "i2", "open_amount": "400.50", "days_past_due": 10},
    ]
    assert json.loads(json.dumps(k1.invoices)) == k1.invoices
    assert runs["k2|d10|2024-03-12"].invoices == [{"id": "i3", "open_amount": "200.00", "days_past_due": 11}]
    assert set(run_ids) == {r.id for r in runs.values()}

    # Catch-up "latest": d5 recorded as skipped, d10 runs; i4 (2 days) and paid i5 never cross.
    xs = crossings_by_key(store)
    assert set(xs) == {(i, c) for i in ("i1", "i2", "i3") for c in ("d5", "d10")}
    # one row per invoice: d5 is in the row of the d10 crossing that passed it
    assert sorted((r.invoice_id, r.column_id, r.skipped) for r in store.rows(select(t.crossings))) == [
        (i, "d10", '[["d5",5]]') for i in ("i1", "i2", "i3")]
    for inv in ("i1", "i2", "i3"):
        assert xs[(inv, "d5")].status == "skipped" and xs[(inv, "d5")].run_id is None
        assert xs[(inv, "d10")].status == "run"
    assert xs[("i1", "d10")].run_id == xs[("i2", "d10")].run_id == k1.id
    assert xs[("i2", "d10")].open_amount == Decimal("400.50")
    assert xs[("i1", "d10")].epoch == NO_EPOCH and xs[("i1", "d10")].as_of == DAY1

    assert {r.invoice_id for r in store.rows(select(t.closed_invoices))} == {"i5"}
    evs = store.rows(select(t.evaluations))
    assert len(evs) == 1
    assert (evs[0].as_of, evs[0].crossings, evs[0].runs) == (DAY1, 6, 2)
    assert evs[0].total_open == Decimal("1900.50")
    assert evs[0].total_overdue == Decimal("1900.50")

    with store.evaluation() as tx:
        assert tx.history() == {("i1", NO_EPOCH): 10, ("i2", NO_EPOCH): 10, ("i3", NO_EPOCH): 10}
        assert tx.last_as_of() == DAY1
    assert store.last_as_of() == DAY1


def test_a_later_evaluation_adds_only_new_crossings_and_advances_last_as_of(store):
    store.replace_ledger(small_ledger(), "test", NOW)
    ledger = store.load_ledger()
    record(store, ledger, DAY1)
    again, ids = record(store, ledger, DAY1 + timedelta(days=1), NOW + timedelta(days=1))
    assert ids == [] and again.crossings == ()
    assert store.last_as_of() == DAY1 + timedelta(days=1)

    ev, ids = record(store, ledger, DAY2, NOW + timedelta(days=21))
    assert len(ids) == 3
    # i1, i2 and i3 reach d30; i4 (due 10 March, 23 days) reaches d10: k2 gets two runs that day.
    assert {r.run_key for r in store.rows(select(t.runs).where(t.runs.c.as_of == DAY2))} == {
        "k1|d30|2024-04-02", "k2|d30|2024-04-02", "k2|d10|2024-04-02"}
    with store.evaluation() as tx:
        assert tx.history() == {("i1", NO_EPOCH): 30, ("i2", NO_EPOCH): 30, ("i3", NO_EPOCH): 30,
                                ("i4", NO_EPOCH): 10}
    assert store.last_as_of() == DAY2
    assert count(store, t.evaluations) == 3
    assert count(store, t.closed_invoices) == 1  # i5 closed once, not once per evaluation


def test_recording_the_same_evaluation_twice_is_refused_and_rolled_back(store):
    store.replace_ledger(small_ledger(), "test", NOW)
    ledger = store.load_ledger()
    ev, _ = record(store, ledger, DAY1)
    before = counts(store)
    runs_before = store.rows(select(t.runs).order_by(t.runs.c.id))

    with pytest.raises((IntegrityError, CrossingConflict)), store.evaluation() as tx:
        tx.record(ev, NOW + timedelta(hours=1))

    assert counts(store) == before
    assert store.last_as_of() == DAY1
    assert store.rows(select(t.runs).order_by(t.runs.c.id)) == runs_before


def test_a_duplicate_crossing_rolls_back_runs_already_inserted_in_the_same_evaluation(store):
    """Stale history on a later day: the new runs insert fine, the crossings collide, and nothing stays."""
    store.replace_ledger(small_ledger(), "test", NOW)
    ledger = store.load_ledger()
    record(store, ledger, DAY1)
    before = counts(store)

    later = DAY1 + timedelta(days=1)
    with pytest.raises((IntegrityError, CrossingConflict)), store.evaluation() as tx:
        ev = evaluate(ledger, POLICY, CALENDAR, later, {}, tx.holds(later))  # history ignored on purpose
        assert ev.runs  # the run inserts come before the crossing inserts
        tx.record(ev, NOW + timedelta(days=1))

    assert counts(store) == before
    assert store.last_as_of() == DAY1
    assert store.scalar(select(func.count()).select_from(t.runs).where(t.runs.c.as_of == later)) == 0


# -- holds ------------------------------------------------------------------------------------------------------

def test_holds_honour_until_and_release(store):
    store.add_hold(Hold("i1", HoldKind.DISPUTE, "акт сверки", None), NOW)
    store.add_hold(Hold("i2", HoldKind.PAUSE, "обещали оплатить", date(2024, 3, 15)), NOW)
    with store.evaluation() as tx:
        on_15 = tx.holds(date(2024, 3, 15))
        on_16 = tx.holds(date(2024, 3, 16))
    assert on_15 == {"i1": Hold("i1", HoldKind.DISPUTE, "акт сверки", None),
                     "i2": Hold("i2", HoldKind.PAUSE, "обещали оплатить", date(2024, 3, 15))}
    assert set(on_16) == {"i1"}

    assert store.release_holds("i1", HoldKind.PAUSE, NOW) == 0  # wrong kind: nothing released
    assert store.release_holds("i1", HoldKind.DISPUTE, NOW + timedelta(hours=1)) == 1
    assert store.release_holds("i1", HoldKind.DISPUTE, NOW + timedelta(hours=2)) == 0  # already released
    with store.evaluation() as tx:
        assert set(tx.holds(date(2024, 3, 15))) == {"i2"}
    released = store.rows(select(t.holds).where(t.holds.c.invoice_id == "i1"))
    assert [utc(r.released_at) for r in released] == [NOW + timedelta(hours=1)]


def test_an_invoice_on_hold_does_not_cross_until_released(store):
    store.replace_ledger(small_ledger(), "test", NOW)
    ledger = store.load_ledger()
    store.add_hold(Hold("i1", HoldKind.DISPUTE, "спор"), NOW)

    ev, _ = record(store, ledger, DAY1)
    assert ev.held == 1
    assert not any(x.invoice_id == "i1" for x in ev.crossings)
    k1 = store.rows(select(t.runs).where(t.runs.c.contract_id == "k1"))
    assert [i["id"] for i in k1[0].invoices] == ["i2"]

    store.release_holds("i1", HoldKind.DISPUTE, NOW + timedelta(days=1))
    ev2, ids = record(store, ledger, DAY1 + timedelta(days=1), NOW + timedelta(days=1))
    assert {x.invoice_id for x in ev2.crossings} == {"i1"}
    assert len(ids) == 1


def test_an_expired_hold_no_longer_stops_the_invoice(store):
    store.replace_ledger(small_ledger(), "test", NOW)
    store.add_hold(Hold("i3", HoldKind.PAUSE, "до 11 марта", date(2024, 3, 11)), NOW)
    ev, _ = record(store, store.load_ledger(), DAY1)
    assert ev.held == 0
    assert ("i3", "d10") in crossings_by_key(store)


# -- step effects -----------------------------------------------------------------------------------------------

def test_add_document_is_idempotent_per_run_and_step(store):
    archive_index.add_document(store, 1, 2, "k1", "Претензия", "cp/k1/a.pdf", "a" * 64, NOW)
    archive_index.add_document(store, 1, 2, "k1", "Претензия (повтор)", "cp/k1/b.pdf", "b" * 64,
                               NOW + timedelta(hours=1))
    archive_index.add_document(store, 1, 3, "k1", "Акт", "cp/k1/c.pdf", "c" * 64, NOW)
    docs = store.rows(select(t.documents).order_by(t.documents.c.step_idx))
    assert [(d.step_idx, d.title, d.path, d.sha256) for d in docs] == [
        (2, "Претензия", "cp/k1/a.pdf", "a" * 64), (3, "Акт", "cp/k1/c.pdf", "c" * 64)]
    assert utc(docs[0].created_at) == NOW


def test_add_task_is_idempotent_per_run_and_step(store):
    tasks.add_task(store, 7, 0, "k1", "lawyer", "ivanov", "Подать иск", date(2024, 3, 20), NOW)
    tasks.add_task(store, 7, 0, "k1", "lawyer", "petrov", "Подать иск ещё раз", date(2024, 3, 21), NOW)
    tasks.add_task(store, 8, 0, "k1", "lawyer", "petrov", "Другой run", date(2024, 3, 21), NOW)
    given = store.rows(select(t.tasks).order_by(t.tasks.c.run_id))
    assert [(x.run_id, x.assignee, x.due_on, x.status) for x in given] == [
        (7, "ivanov", date(2024, 3, 20), "open"), (8, "petrov", date(2024, 3, 21), "open")]


def test_steps_go_from_running_to_done_with_their_output_and_count_attempts(store):
    assert store.step_states(1) == {}
    store.mark_step(1, 0, "render", StepStatus.RUNNING, NOW)
    assert store.step_states(1) == {0: (StepStatus.RUNNING, None)}

    output = {"kind": "rendered", "path": "out/Претензия.pdf", "sha256": "ab" * 32, "pages": 2}
    store.mark_step(1, 0, "render", StepStatus.DONE, NOW + timedelta(seconds=5), output=output)
    assert store.step_states(1) == {0: (StepStatus.DONE, output)}
    row = store.rows(select(t.run_steps).where(t.run_steps.c.run_id == 1))[0]
    assert row.attempts == 1 and row.kind == "render" and utc(row.updated_at) == NOW + timedelta(seconds=5)

    # A crash after "running" and a retry: the attempt is counted, the error is kept until success.
    store.mark_step(1, 1, "archive", StepStatus.RUNNING, NOW)
    store.mark_step(1, 1, "archive", StepStatus.FAILED, NOW, error="disk full")
    store.mark_step(1, 1, "archive", StepStatus.RUNNING, NOW + timedelta(minutes=1))
    store.mark_step(1, 1, "archive", StepStatus.DONE, NOW + timedelta(minutes=1), output={"kind": "archived"})
    states = store.step_states(1)
    assert states[1] == (StepStatus.DONE, {"kind": "archived"})
    rows = {r.idx: r for r in store.rows(select(t.run_steps).where(t.run_steps.c.run_id == 1))}
    assert rows[1].attempts == 2 and rows[1].error is None
    assert store.step_states(2) == {}


def _bag(seq: int, head: str) -> dict:
    return {"path": "ООО «Ромашка» (7700000001)/12∕2024-Б", "contract_id": "k1", "contract_number": "12/2024-Б",
            "counterparty_id": "p1", "counterparty_name": "ООО «Ромашка»", "counterparty_inn": "7700000001",
            "seq": seq, "head": head, "updated_at": NOW}


def _doc(run_id: int) -> dict:
    return {"run_id": run_id, "step_idx": 2, "contract_id": "k1", "title": "Претензия",
            "path": f"ООО «Ромашка» (7700000001)/12∕2024-Б/data/{run_id}.pdf", "sha256": "a" * 64, "created_at": NOW}


def test_the_archive_index_head_only_moves_forward(store):
    archive_index.record_archived(store, _doc(1), _bag(2, "b" * 64))
    archive_index.record_archived(store, _doc(2), _bag(4, "d" * 64))
    # a slow writer (or a retried step) reporting an older head
    archive_index.record_archived(store, _doc(1), _bag(2, "b" * 64))
    (bag,) = archive_index.bag_heads(store)
    assert (bag.seq, bag.head, bag.contract_number) == (4, "d" * 64, "12/2024-Б")
    assert [d.run_id for d in archive_index.archived_documents(store)] == [1, 2]


def test_legal_holds_open_and_release(store):
    archive_index.add_legal_hold(store, "k1", "дело А40-1/2026", NOW)
    assert archive_index.open_legal_holds(store) == {"k1": "дело А40-1/2026"}
    assert archive_index.release_legal_holds(store, "k1", NOW) == 1
    assert archive_index.open_legal_holds(store) == {} and archive_index.release_legal_holds(store, "k1", NOW) == 0
