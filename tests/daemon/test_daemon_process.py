"""The daemon as ops run it: real processes on SQLite and on the real PostgreSQL, signals, the HTTP pages, the
leader's takeover after ``kill -9``."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from tests.builders import simple_ledger
from tests.daemon.procs import DaemonProc, tail, wait_for
from tests.worlds import REPO, edit_settings, shipped_world

pytestmark = [pytest.mark.slow]

#: The leader's lock is tried this often in these tests (seconds).
LEADER_POLL = 0.5


def daemon_world(root: Path, pki: Any, port: int, **daemon: Any) -> Path:
    """The shipped world whose two debts are two days overdue today (the daemon ticks on the wall clock): the
    first column's letter, signed, archived and e-mailed."""
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    shipped_world(root, pki=pki, ledger=simple_ledger(2, due=today - timedelta(days=2)))

    def change(s: Any) -> None:
        s["daemon"] = {"timezone": "Europe/Moscow", "ticks": [{"id": "minute", "cron": "* * * * *"}],
                       "leader_poll_seconds": LEADER_POLL, "heartbeat_seconds": 0.2, "stale_after_seconds": 3,
                       "http": {"port": port}, **daemon}

    edit_settings(root, change)
    return root / "schedules.yaml"


def metrics(p: DaemonProc) -> dict[str, list[Any]]:
    code, body = p.get("/metrics")
    assert code == 200, body
    return {f.name: f.samples for f in text_string_to_metric_families(body)}


def cli(root: Path, config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run_robots.py"), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=300, cwd=root, env={**os.environ, **(env or {})})


def test_one_daemon_on_sqlite_serves_its_pages_refuses_a_second_reloads_on_sighup_and_stops_on_sigterm(
        tmp_path, officer_pki):
    every_minute = "* * * * *"
    config = daemon_world(tmp_path, officer_pki, 19401, housekeeping={
        "certificates": every_minute, "archive_verify": every_minute,
        "bi_export": {"cron": every_minute, "folder": "var/bi"}})
    a = DaemonProc(tmp_path, config, 19401, name="a")
    try:
        health = wait_for("/healthz", a.health, 60, procs=(a,))
        assert health["status"] == "alive" and health["leader"] is True
        code, body = a.get("/readyz")
        assert code in (200, 503) and "ready" in json.loads(body)
        wait_for("the first tick", lambda: a.get("/readyz")[0] == 200, 180, every=0.5, procs=(a,))
        assert a.logged("tick_done") and all(e.get("tick_id", "").startswith("minute-") for e in a.logged("tick_done"))

        # A second daemon on the same SQLite file is refused, naming the first.
        b = subprocess.run([sys.executable, str(REPO / "run_robots.py"), "--config", str(config), "run"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert b.returncode == 2, b.stderr
        assert f"pid {a.pid}" in b.stderr and "SQLite" in b.stderr and os.uname().nodename in b.stderr

        m = metrics(a)
        assert m["arbots_leader"][0].value == 1
        assert m["arbots_database_up"][0].value == 1
        runs = {s.labels["status"]: s.value for s in m["arbots_runs"]}
        assert runs["done"] == 2 and runs["failed"] == 0
        assert m["arbots_documents_signed"][0].value >= 2
        assert {s.labels["status"]: s.value for s in m["arbots_emails"]}["sent"] >= 2
        assert 0 <= m["arbots_last_good_sync_age_seconds"][0].value < 600
        assert m["arbots_daemons_alive"][0].value == 1
        assert m["arbots_tick_duration_seconds"][0].value > 0
        assert {s.labels["officer"] for s in m["arbots_certificate_days_left"]}  # computed at start-up
        assert m["arbots_fires_failed"] == []

        # The housekeeping jobs ran after the tick: the archive checked, the BI export and the report written.
        wait_for("housekeeping", lambda: a.logged("archive_verified") and a.logged("bi_exported")
                 and a.logged("certificates_checked"), 120, every=0.5, procs=(a,))
        verified = a.logged("archive_verified")[0]
        assert verified["bags"] == 2 and verified["problems"] == 0
        assert (tmp_path / "var" / "bi" / "report.html").is_file()
        assert (tmp_path / "var" / "bi" / "bi" / "README.md").is_file()

        # A manual tick beside the daemon is safe: the same day again adds nothing.
        today = a.logged("tick_done")[0]["as_of"]
        r = cli(tmp_path, config, "tick", "--as-of", today)
        assert r.returncode == 0, r.stderr
        assert "0 new runs" in r.stdout

        status = cli(tmp_path, config, "status")
        assert status.returncode == 0, status.stderr
        assert f"pid {a.pid}: leader" in status.stdout and "Daemons: 1 alive" in status.stdout

        # SIGHUP with a broken config: refused, logged, the old one keeps running.
        good = config.read_text(encoding="utf-8")
        config.write_text(good.replace("cron: '* * * * *'", "cron: 'every minute'"), encoding="utf-8")
        assert "every minute" in config.read_text(encoding="utf-8")
        a.signal(signal.SIGHUP)
        refused = wait_for("the refusal", lambda: a.logged("config_reload_refused"), 30, procs=(a,))
        assert any("daemon.ticks[0].cron" in p for p in refused[0]["problems"])
        assert a.health() is not None
        # ... and a good one is applied.
        config.write_text(good.replace("poll_minutes: 15", "poll_minutes: 20"), encoding="utf-8")
        a.signal(signal.SIGHUP)
        wait_for("the reload", lambda: a.logged("config_reloaded"), 30, procs=(a,))
        assert a.health() is not None

        assert a.stop(timeout=60) == 0, tail(a)
        assert a.logged("daemon_stopped")
        status = cli(tmp_path, config, "status")
        assert "Daemons: none running" in status.stdout
    finally:
        a.ensure_gone()


@pytest.mark.postgres
def test_two_daemons_on_postgresql_elect_one_leader_and_the_other_takes_over_within_the_bound_after_kill_9(
        tmp_path, officer_pki, pg_schema):
    url, schema = pg_schema
    config = daemon_world(tmp_path, officer_pki, 19411)
    text_ = config.read_text(encoding="utf-8")
    assert "url: sqlite:///var/arbots.db" in text_
    config.write_text(text_.replace("url: sqlite:///var/arbots.db", "url_env: ARBOTS_TEST_DAEMON_DB"),
                      encoding="utf-8")
    config_b = tmp_path / "schedules-b.yaml"
    config_b.write_text(config.read_text(encoding="utf-8").replace("port: 19411", "port: 19412"), encoding="utf-8")
    env = {"ARBOTS_TEST_DAEMON_DB": f"{url}?options={quote(f'-csearch_path={schema}')}"}
    assert cli(tmp_path, config, "migrate", env=env).returncode == 0  # two fresh daemons would race to migrate
    a = DaemonProc(tmp_path, config, 19411, env, name="a")
    b = DaemonProc(tmp_path, config_b, 19412, env, name="b")
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    procs = (a, b)
    try:
        wait_for("both alive", lambda: a.health() and b.health(), 90, procs=procs)
        time.sleep(3 * LEADER_POLL)
        leaders = [p for p in procs if p.health()["leader"]]
        assert len(leaders) == 1, [p.health() for p in procs]
        leader, follower = leaders[0], b if leaders[0] is a else a
        assert metrics(follower)["arbots_leader"][0].value == 0
        wait_for("the first tick", lambda: leader.get("/readyz")[0] == 200, 180, every=0.5, procs=procs)
        assert follower.get("/readyz")[0] == 200  # readiness is the shared state: any daemon can answer

        leader.kill9()
        killed = time.monotonic()
        wait_for("the takeover", lambda: (follower.health() or {}).get("leader"), 30, every=0.02, procs=(follower,))
        takeovers = [time.monotonic() - killed]
        assert takeovers[0] <= LEADER_POLL + 1.0, takeovers

        # The new leader fires the next window; no window was ever fired twice.
        wait_for("a tick by the new leader", lambda: [e for e in follower.logged("tick_done")
                                                      if e.get("tick_id", "").startswith("minute-")], 120,
                 every=0.5, procs=(follower,))
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT trigger_id, scheduled_for, owner, outcome FROM trigger_fires "
                                     "ORDER BY scheduled_for")).all()
            dupes = conn.execute(text("SELECT trigger_id, scheduled_for FROM trigger_fires GROUP BY 1, 2 "
                                      "HAVING count(*) > 1")).all()
            runs = conn.execute(text("SELECT count(*), count(DISTINCT run_key) FROM runs")).one()
        assert not dupes and runs[0] == runs[1] == 2
        ticks = [r for r in rows if r.trigger_id == "tick:minute"]
        assert len({r.scheduled_for for r in ticks}) == len(ticks) >= 2
        assert {r.owner.split(":")[1] for r in ticks} == {str(leader.pid), str(follower.pid)}, rows

        # Three more kills of whoever leads, each after the killed one came back as a follower: every
        # takeover within the bound.
        killed_proc, survivor = leader, follower
        for round_ in range(3):
            back = DaemonProc(tmp_path, killed_proc.config, killed_proc.port, env, name=f"back{round_}")
            procs += (back,)
            wait_for("the restarted daemon", back.health, 90, procs=(back,))
            time.sleep(2 * LEADER_POLL)
            assert back.health()["leader"] is False and survivor.health()["leader"] is True
            time.sleep(random.uniform(0, LEADER_POLL))  # at any moment of the follower's poll period
            survivor.kill9()
            killed = time.monotonic()
            wait_for("the takeover", lambda p=back: (p.health() or {}).get("leader"), 30, every=0.02, procs=(back,))
            takeovers.append(time.monotonic() - killed)
            killed_proc, survivor = survivor, back
        print("takeovers after kill -9 (s): " + ", ".join(f"{t:.3f}" for t in takeovers))
        assert max(takeovers) <= LEADER_POLL + 1.0, takeovers
        leader, follower = killed_proc, survivor

        # status: the new leader, and the killed one as stale once its heartbeat is old.
        time.sleep(3.5)
        status = cli(tmp_path, config, "status", env=env)
        assert f"pid {follower.pid}: leader" in status.stdout, status.stdout
        assert f"pid {leader.pid}: follower" in status.stdout and "STALE" in status.stdout
        assert "Daemons: 1 alive, 4 stale" in status.stdout, status.stdout
        assert metrics(follower)["arbots_daemons_alive"][0].value == 1
        assert follower.stop(timeout=60) == 0, tail(follower)
    finally:
        for p in procs:
            p.ensure_gone()
        engine.dispose()


def test_sigterm_during_a_tick_finishes_the_run_under_way_and_a_restart_resumes_the_rest(tmp_path, officer_pki):
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    config = daemon_world(tmp_path, officer_pki, 19421)
    from connectors.files.ledger_csv import write_ledger_csv

    write_ledger_csv(simple_ledger(6, due=today - timedelta(days=2)), tmp_path / "var" / "ledger")
    a = DaemonProc(tmp_path, config, 19421, name="a")
    db = tmp_path / "var" / "arbots.db"

    def count(sql: str) -> int:
        import sqlite3

        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(sql).fetchone()[0]

    try:
        wait_for("the first step", lambda: a.logged("step_done"), 180, every=0.05, procs=(a,))
        a.signal(signal.SIGTERM)
        assert a.stop(timeout=120) == 0, tail(a)
        assert a.logged("stopping") and a.logged("daemon_stopped")
        done = count("SELECT count(*) FROM runs WHERE status = 'done'")
        assert 1 <= done < 6 and count("SELECT count(*) FROM runs WHERE status = 'running'") == 0
        assert count("SELECT count(*) FROM trigger_fires WHERE outcome = 'ok'") == 1

        b = DaemonProc(tmp_path, config, 19421, name="b")  # the window was fired: its runner pass resumes
        try:
            wait_for("the rest of the runs", lambda: count("SELECT count(*) FROM runs WHERE status = 'done'") == 6,
                     180, every=0.5, procs=(b,))
            assert count("SELECT count(*) FROM deliveries WHERE status = 'sent'") == 6
            assert count("SELECT count(DISTINCT message_id) FROM deliveries") == 6
            assert b.stop(timeout=120) == 0, tail(b)
        finally:
            b.ensure_gone()
    finally:
        a.ensure_gone()
