"""Claiming runs with leases, on both backends: oldest first, one owner at a time, expiry, and real races."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select, text

from robots.store import RunStatus, Store
from robots.store import schema as t
from robots.store.types import utc

NOW = datetime(2024, 3, 12, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def twin(store: Store) -> Store:
    """Another Store object (own engine and connections) on the same database and schema."""
    if store.engine.dialect.name == "postgresql":
        return Store(store.url, schema=store.scalar(text("SELECT current_schema()")))
    return Store(store.url)


def add_run(store: Store, key: str, as_of: date, status: RunStatus = RunStatus.PENDING) -> int:
    with store.engine.begin() as conn:
        return conn.execute(insert(t.runs).values(
            run_key=key, contract_id=f"c-{key}", column_id="d10", scenario="claim", as_of=as_of,
            invoices=[{"id": f"i-{key}", "open_amount": "10.00", "days_past_due": 10}],
            status=status, attempts=0, created_at=NOW)).inserted_primary_key[0]


def run_row(store: Store, run_id: int):
    return store.rows(select(t.runs).where(t.runs.c.id == run_id))[0]


def test_claim_returns_the_first_decided_pending_run_and_leases_it(store):
    # runs are claimed in decision order (id); evaluations never go back in time, so that is also as_of order
    older = add_run(store, "older", date(2024, 3, 4))
    newer = add_run(store, "newer", date(2024, 3, 5))
    add_run(store, "done", date(2024, 3, 1), RunStatus.DONE)
    add_run(store, "failed", date(2024, 3, 1), RunStatus.FAILED)

    rec = store.claim_run("a", NOW, LEASE)
    assert rec is not None and rec.id == older
    assert (rec.run_key, rec.as_of, rec.attempts, rec.scenario) == ("older", date(2024, 3, 4), 1, "claim")
    assert rec.invoice_ids == ("i-older",)
    assert rec.invoices[0]["open_amount"] == "10.00"
    row = run_row(store, older)
    assert row.status == RunStatus.RUNNING and row.lease_owner == "a"
    assert utc(row.lease_expires_at) == NOW + LEASE

    assert store.claim_run("a", NOW, LEASE).id == newer
    assert store.claim_run("a", NOW, LEASE) is None  # done and failed runs are never claimed
    assert sorted(store.running_leases()) == sorted([(older, "a"), (newer, "a")])


def test_runs_of_the_same_day_are_claimed_in_creation_order(store):
    ids = [add_run(store, f"r{i}", date(2024, 3, 12)) for i in range(3)]
    assert [store.claim_run("a", NOW, LEASE).id for _ in ids] == ids


def test_a_second_owner_cannot_claim_a_leased_run(store):
    run_id = add_run(store, "r", date(2024, 3, 12))
    assert store.claim_run("a", NOW, LEASE).id == run_id
    assert store.claim_run("b", NOW + timedelta(minutes=1), LEASE) is None
    assert store.claim_run("b", NOW + LEASE, LEASE) is None  # the lease still holds at its last instant
    row = run_row(store, run_id)
    assert row.lease_owner == "a" and row.attempts == 1


def test_an_expired_lease_goes_to_the_next_owner_and_the_first_cannot_finish(store):
    run_id = add_run(store, "r", date(2024, 3, 12))
    store.claim_run("a", NOW, LEASE)

    later = NOW + LEASE + timedelta(seconds=1)
    rec = store.claim_run("b", later, LEASE)
    assert rec is not None and rec.id == run_id and rec.attempts == 2
    row = run_row(store, run_id)
    assert row.lease_owner == "b" and utc(row.lease_expires_at) == later + LEASE

    store.finish_run(run_id, "a", RunStatus.DONE, later + timedelta(seconds=1))  # a woke up late: no-op
    row = run_row(store, run_id)
    assert (row.status, row.lease_owner, row.finished_at) == (RunStatus.RUNNING, "b", None)
    assert store.claim_run("c", later + timedelta(seconds=2), LEASE) is None

    store.finish_run(run_id, "b", RunStatus.DONE, later + timedelta(seconds=3))
    row = run_row(store, run_id)
    assert (row.status, row.lease_owner, row.lease_expires_at) == (RunStatus.DONE, None, None)
    assert utc(row.finished_at) == later + timedelta(seconds=3)
    assert store.claim_run("c", later + timedelta(days=1), LEASE) is None


def test_finish_as_failed_keeps_the_error_and_pending_gives_the_run_back(store):
    failed = add_run(store, "f", date(2024, 3, 11))
    retry = add_run(store, "p", date(2024, 3, 12))
    store.claim_run("a", NOW, LEASE)
    store.claim_run("a", NOW, LEASE)
    store.finish_run(failed, "a", RunStatus.FAILED, NOW, error="no e-mail for the counterparty")
    store.finish_run(retry, "a", RunStatus.PENDING, NOW, error="SMTP timeout")
    f, p = run_row(store, failed), run_row(store, retry)
    assert (f.status, f.error, utc(f.finished_at)) == (RunStatus.FAILED, "no e-mail for the counterparty", NOW)
    assert (p.status, p.error, p.finished_at, p.lease_owner) == (RunStatus.PENDING, "SMTP timeout", None, None)
    rec = store.claim_run("b", NOW, LEASE)
    assert rec.id == retry and rec.attempts == 2


def test_only_the_current_owner_can_release_a_lease(store):
    run_id = add_run(store, "r", date(2024, 3, 12))
    store.claim_run("a", NOW, LEASE)
    assert store.release_lease(run_id, "b") is False
    row = run_row(store, run_id)
    assert (row.status, row.lease_owner) == (RunStatus.RUNNING, "a")

    assert store.release_lease(run_id, "a") is True
    row = run_row(store, run_id)
    assert (row.status, row.lease_owner, row.lease_expires_at) == (RunStatus.PENDING, None, None)
    assert store.release_lease(run_id, "a") is False  # nothing left to release

    rec = store.claim_run("b", NOW + timedelta(seconds=1), LEASE)  # no need to wait for the lease to expire
    assert rec.id == run_id and rec.attempts == 2


def test_a_finished_run_cannot_be_released(store):
    run_id = add_run(store, "r", date(2024, 3, 12))
    store.claim_run("a", NOW, LEASE)
    store.finish_run(run_id, "a", RunStatus.DONE, NOW)
    assert store.release_lease(run_id, "a") is False
    assert run_row(store, run_id).status == RunStatus.DONE


def test_claim_takes_only_runs_after_the_given_id(store):
    first = add_run(store, "a", date(2024, 3, 10))
    second = add_run(store, "b", date(2024, 3, 11))
    assert store.claim_run("x", NOW, LEASE, after=first).id == second
    assert store.claim_run("x", NOW, LEASE, after=second) is None
    assert run_row(store, first).status == RunStatus.PENDING
    assert store.claim_run("x", NOW, LEASE).id == first


def test_two_claimants_racing_claim_every_run_exactly_once(store):
    n = 30
    ids = {add_run(store, f"r{i:02d}", date(2024, 3, 1) + timedelta(days=i % 7)) for i in range(n)}
    stores = [twin(store), twin(store)]
    claimed: dict[str, list[int]] = {"w0": [], "w1": []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(name: str, s: Store) -> None:
        try:
            barrier.wait()
            while (rec := s.claim_run(name, NOW, timedelta(hours=1))) is not None:
                claimed[name].append(rec.id)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(f"w{i}", s)) for i, s in enumerate(stores)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    for s in stores:
        s.close()

    assert not errors
    assert not any(th.is_alive() for th in threads)
    everything = claimed["w0"] + claimed["w1"]
    assert [k for k, v in Counter(everything).items() if v > 1] == []  # no run claimed twice
    assert set(everything) == ids  # none lost
    rows = store.rows(select(t.runs))
    assert all(r.status == RunStatus.RUNNING and r.attempts == 1 for r in rows)
    owner = {r.id: r.lease_owner for r in rows}
    assert all(owner[i] == name for name, got in claimed.items() for i in got)
