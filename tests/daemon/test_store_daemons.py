"""The store's side of the daemons on both backends: the fire fence, the leader's lock, the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from robots.store.daemons import (
    LeaderLock,
    claim_fire,
    finish_fire,
    heartbeat,
    last_finished,
    last_fire,
    last_tick,
    list_daemons,
    register,
    unregister,
)

T = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)


def test_a_window_is_claimed_once_and_its_end_recorded(store):
    assert claim_fire(store, "tick:morning", T, "a:1:aa", T)
    assert not claim_fire(store, "tick:morning", T, "b:2:bb", T)
    assert claim_fire(store, "tick:evening", T, "b:2:bb", T)
    assert last_fire(store, "tick:morning") == T
    assert last_finished(store, "tick:") is None
    finish_fire(store, "tick:morning", T, T + timedelta(seconds=7))
    finish_fire(store, "tick:evening", T, T + timedelta(seconds=9), outcome="coalesced")
    assert last_finished(store, "tick:") == T + timedelta(seconds=7)  # a coalesced window is no finished tick
    assert last_tick(store) == (T + timedelta(seconds=9), 9.0)


def test_the_registry_marks_silent_daemons_stale_and_forgets_a_clean_exit(store):
    register(store, "host-a:11:aa", version="dev", now=T, forget_after=timedelta(days=7))
    register(store, "host-b:12:bb", version="dev", now=T, forget_after=timedelta(days=7))
    heartbeat(store, "host-b:12:bb", leader=True, now=T + timedelta(seconds=20), version="dev")
    rows = list_daemons(store)
    assert [(r.host, r.pid, r.leader) for r in rows] == [("host-b", 12, True), ("host-a", 11, False)]
    now = T + timedelta(seconds=40)
    assert [r.stale(now, timedelta(seconds=30)) for r in rows] == [False, True]
    unregister(store, "host-a:11:aa")
    assert [r.pid for r in list_daemons(store)] == [12]


@pytest.mark.postgres
def test_one_leader_lock_holder_per_schema_and_the_next_one_after_a_release(pg_schema):
    from robots.store import Store

    url, schema = pg_schema
    s1, s2 = Store.open(url, schema=schema), Store(url, schema=schema)
    a, b = LeaderLock(s1), LeaderLock(s2)
    try:
        assert a.try_acquire() and a.leader
        assert not b.try_acquire() and not b.leader
        assert a.holds()
        a.release()
        assert b.try_acquire() and b.holds()
    finally:
        a.release()
        b.release()
        s1.close()
        s2.close()
