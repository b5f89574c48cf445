"""The trigger loop on a manual clock: coalesced ticks, the misfire grace of housekeeping, the fence of fires,
runner passes on their interval, and SIGHUP's reload (a broken config keeps the old one)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from robots.engine.triggers import newest_window, next_window
from robots.store.daemons import claim_fire, fires, register
from robots.store.types import utc
from tests.daemon.conftest import NOON, daemon_settings

MSK = ZoneInfo("Europe/Moscow")


def msk(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=MSK).astimezone(UTC)


def test_the_newest_window_is_found_for_dense_and_sparse_crontab_lines():
    every_minute = CronTrigger.from_crontab("* * * * *", timezone=MSK)
    assert newest_window(every_minute, NOON + timedelta(seconds=30)) == NOON
    assert newest_window(every_minute, NOON) == NOON
    assert next_window(every_minute, NOON) == NOON + timedelta(minutes=1)
    monthly = CronTrigger.from_crontab("0 8 1 * *", timezone=MSK)
    assert newest_window(monthly, NOON) == msk(2026, 3, 1, 8)
    yearly = CronTrigger.from_crontab("0 8 1 1 *", timezone=MSK)
    assert newest_window(yearly, NOON) == msk(2026, 1, 1, 8)
    weekdays = CronTrigger.from_crontab("0 8 * * mon-fri", timezone=MSK)
    assert newest_window(weekdays, msk(2026, 3, 8, 12)) == msk(2026, 3, 6, 8)  # Sunday: Friday's window


def test_missed_tick_windows_coalesce_into_one_run_of_the_newest(daemons, work):
    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}])
    d = daemons.make()
    store = daemons.store
    # Five windows were missed (the last one fired was 5 March): only today's, the newest, runs; and once.
    assert claim_fire(store, "tick:morning", msk(2026, 3, 5, 8), "someone:1:aa", msk(2026, 3, 5, 8))
    d.step()
    d.step()
    assert work.ticks == [("2026-03-10", NOON)]
    assert [(f.trigger_id, utc(f.scheduled_for)) for f in fires(store, "tick:morning")][-1] == \
           ("tick:morning", msk(2026, 3, 10, 8))
    assert fires(store, "tick:morning")[-1].outcome == "ok"
    # The clock runs on to the next morning: one more tick, for its own day.
    daemons.clock.set(msk(2026, 3, 11, 8, 0) + timedelta(seconds=5))
    d.step()
    d.step()
    assert [a for a, _ in work.ticks] == ["2026-03-10", "2026-03-11"]


def test_a_window_fired_by_another_daemon_is_not_fired_again(daemons, work):
    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}])
    a, b = daemons.make(owner="host-a:1:aa"), daemons.make(owner="host-b:2:bb")
    a.step()
    b.step()  # both believe they lead (SQLite); the fence lets one fire
    assert len(work.ticks) == 1
    rows = fires(daemons.store, "tick:morning")
    assert [(r.owner, r.outcome) for r in rows] == [("host-a:1:aa", "ok")]
    assert b.fired == []
    # A claim that a third daemon (alive, working on it) holds for the next window keeps both off it.
    daemons.clock.set(msk(2026, 3, 11, 8, 1))
    register(daemons.store, "host-c:3:cc", version="dev", now=daemons.clock.now(), forget_after=timedelta(days=7))
    assert claim_fire(daemons.store, "tick:morning", msk(2026, 3, 11, 8), "host-c:3:cc", daemons.clock.now())
    a.step()
    b.step()
    assert len(work.ticks) == 1


def test_housekeeping_windows_older_than_the_grace_are_skipped_with_a_log_line(daemons, work, capsys):
    from robots.support import logs

    logs.configure("info", json=True)
    daemon_settings(daemons.root, ticks=[], misfire_grace_minutes=60,
                    housekeeping={"certificates": "0 7 * * *", "archive_verify": "30 11 * * *"})
    d = daemons.make()
    d.step()  # 12:00: certificates' 07:00 window is 5 h late (skipped), archive_verify's 11:30 one is on time
    assert work.jobs == ["archive_verify"]
    err = capsys.readouterr().err
    assert "housekeeping_window_skipped" in err and "housekeeping:certificates" in err
    d.step()
    assert work.jobs == ["archive_verify"]
    assert "housekeeping_window_skipped" not in capsys.readouterr().err  # said once, not every turn
    daemons.clock.set(msk(2026, 3, 11, 7, 20))  # within the grace: it runs late, once
    d.step()
    d.step()
    assert work.jobs == ["archive_verify", "certificates"]
    assert {r.trigger_id for r in fires(daemons.store)} == {"housekeeping:certificates", "housekeeping:archive_verify"}


def test_the_loop_on_a_manual_clock_fires_each_window_once_and_passes_the_runner_on_its_interval(daemons, work):
    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"},
                                         {"id": "evening", "cron": "0 18 * * *"}], poll_minutes=30,
                    heartbeat_seconds=300, leader_poll_seconds=300, stale_after_seconds=900)
    d = daemons.make()
    d.slice = 600
    end = NOON + timedelta(days=3)
    assert d.run(install_signals=False, until=lambda: daemons.clock.now() >= end) == 0
    # Today's morning (caught up at start; yesterday evening's window coalesced into it), then evening and
    # morning for three days: 7 ticks, each once.
    assert len(work.ticks) == 7
    rows = fires(daemons.store)
    assert [(r.trigger_id, r.outcome) for r in rows][:2] == [("tick:evening", "coalesced"), ("tick:morning", "ok")]
    scheduled = [utc(r.scheduled_for) for r in rows]
    assert len(scheduled) == len(set(scheduled)) == 8
    assert [a for a, _ in work.ticks] == ["2026-03-10", "2026-03-10", "2026-03-11", "2026-03-11", "2026-03-12",
                                          "2026-03-12", "2026-03-13"]
    gaps = {b - a for a, b in zip(work.passes, work.passes[1:])}
    assert len(work.passes) >= 3 * 24 * 2 - 1 and max(gaps) < timedelta(minutes=31)
    from robots.store.daemons import list_daemons

    assert list_daemons(daemons.store) == []  # a clean exit leaves the registry


def test_a_broken_config_on_reload_is_refused_and_a_good_one_rebuilds_the_triggers(daemons, work, capsys):
    from robots.support import logs

    logs.configure("info", json=True)
    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}])
    d = daemons.make()
    d.step()
    cfg = daemons.root / "schedules.yaml"
    good = cfg.read_text(encoding="utf-8")
    cfg.write_text(good.replace('cron: 0 8 * * *', 'cron: not a crontab'), encoding="utf-8")
    assert "not a crontab" in cfg.read_text(encoding="utf-8")
    assert d.reload() is False
    err = capsys.readouterr().err
    assert "config_reload_refused" in err and "daemon.ticks[0].cron" in err
    assert [t.trigger_id for t in d.triggers] == ["tick:morning", "runner:poll"]
    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}, {"id": "noon", "cron": "0 12 * * *"}])
    assert d.reload() is True
    assert "config_reloaded" in capsys.readouterr().err
    assert [t.trigger_id for t in d.triggers] == ["tick:morning", "tick:noon", "runner:poll"]
    d.step()  # the morning window was judged before the reload; the new noon one fires
    assert [a for a, _ in work.ticks] == ["2026-03-10", "2026-03-10"]
    assert [r.trigger_id for r in fires(daemons.store)] == ["tick:morning", "tick:noon"]


def test_a_follower_runs_the_runner_but_fires_no_tick_until_it_leads(daemons, work):
    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}])
    d = daemons.make()
    lock = d.membership.lock
    lock.sqlite, leads = False, [False]  # as on PostgreSQL, with another daemon holding the lock
    lock.try_acquire = lambda: leads[0]  # type: ignore[method-assign]
    lock.holds = lambda: leads[0]  # type: ignore[method-assign]
    d.step()
    assert work.ticks == [] and len(work.passes) == 1 and not d.leader
    leads[0] = True
    daemons.clock.advance(d.cfg.leader_poll_seconds)
    d.step()  # it took the lock: the newest window fires now (the takeover's catch-up)
    assert d.leader and [a for a, _ in work.ticks] == ["2026-03-10"]


def test_a_stop_during_a_tick_lets_the_tick_finish_and_ends_the_loop(daemons, work, monkeypatch):
    from robots.engine import daemon as daemon_module
    from robots.engine.tick import TickReport

    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}])
    d = daemons.make()
    asked: list[bool] = []

    def tick(services, as_of, now, should_stop=None, **kw):
        asked.append(should_stop())
        d.stop_event.set()  # SIGTERM while the tick runs: the runner sees should_stop() between runs
        asked.append(should_stop())
        return TickReport(as_of=as_of)

    monkeypatch.setattr(daemon_module, "tick", tick)
    assert d.run(install_signals=False) == 0
    assert asked == [False, True]
    assert [(r.trigger_id, r.outcome) for r in fires(daemons.store)] == [("tick:morning", "ok")]
    assert work.passes == []  # nothing new was started after the stop


def test_a_failed_tick_is_tried_again_in_its_window_after_a_growing_wait(daemons, work, monkeypatch):
    from robots.core.errors import RuntimeFailure
    from robots.engine import daemon as daemon_module
    from robots.engine.tick import TickReport

    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}])
    d = daemons.make()
    outcomes = iter([RuntimeFailure("the database went away"), RuntimeFailure("still away"), None])
    tried: list[datetime] = []

    def tick(services, as_of, now, **kw):
        tried.append(now)
        problem = next(outcomes)
        if problem is not None:
            raise problem
        return TickReport(as_of=as_of)

    monkeypatch.setattr(daemon_module, "tick", tick)
    d.step()  # 12:00, four hours late: the first retry waits as long
    assert fires(daemons.store)[0].outcome == "failed" and "went away" in fires(daemons.store)[0].error
    daemons.clock.advance(3 * 3600)
    d.step()
    assert len(tried) == 1
    daemons.clock.advance(3600)
    d.step()  # 16:00: tried again (and failed again); the next wait is eight hours
    assert len(tried) == 2
    daemons.clock.advance(7 * 3600)
    d.step()
    assert len(tried) == 2
    daemons.clock.advance(3600)  # 00:00: the 10 March window is still the newest, tried a third time: done
    d.step()
    assert len(tried) == 3 and [(r.scheduled_for is not None, r.outcome) for r in fires(daemons.store)] == \
           [(True, "ok")]


def test_a_tick_left_unfinished_by_a_dead_daemon_is_taken_again_once_its_heartbeat_is_stale(daemons, work):
    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}], stale_after_seconds=30)
    store = daemons.store or daemons.make().services.store
    dead = "host-x:99:dd"
    register(store, dead, version="dev", now=NOON, forget_after=timedelta(days=7))
    assert claim_fire(store, "tick:morning", msk(2026, 3, 10, 8), dead, NOON)  # killed inside its tick
    d = daemons.make()
    d.step()
    assert work.ticks == []  # its heartbeat is fresh: it may still be working
    daemons.clock.advance(31)
    d.step()
    assert [a for a, _ in work.ticks] == ["2026-03-10"]
    row = fires(store)[0]
    assert row.owner == d.owner and row.outcome == "ok"


def test_a_busy_http_port_is_a_usage_error_that_leaves_nothing_behind(daemons, work):
    from robots.core.errors import UsageError
    from robots.store.daemons import list_daemons

    daemon_settings(daemons.root, http={"enabled": True, "port": 19441})
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 19441))
        busy.listen()
        d = daemons.make()
        with pytest.raises(UsageError, match=r"daemon\.http: cannot listen on 127\.0\.0\.1:19441"):
            d.run(install_signals=False)
    assert list_daemons(daemons.store) == []
    again = daemons.make()  # the SQLite file's daemon lock was given back too
    assert again.run(install_signals=False, until=lambda: bool(work.ticks)) == 0


def test_a_window_before_the_last_evaluated_day_is_recorded_as_superseded_not_failed(daemons, work, monkeypatch):
    from datetime import date

    daemon_settings(daemons.root, ticks=[{"id": "morning", "cron": "0 8 * * *"}])
    daemons.clock.set(msk(2026, 3, 10, 7))  # before today's window: the newest is yesterday's
    d = daemons.make()
    monkeypatch.setattr(type(daemons.store), "last_as_of", lambda self: date(2026, 3, 10))  # a manual tick today
    d.step()
    assert work.ticks == []
    assert [(r.trigger_id, r.outcome) for r in fires(daemons.store)] == [("tick:morning", "superseded")]
    daemons.clock.set(msk(2026, 3, 10, 8, 1))
    d.step()  # today's window runs (the same day again adds nothing)
    assert [a for a, _ in work.ticks] == ["2026-03-10"]
