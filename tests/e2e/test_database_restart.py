"""The database goes away mid-tick: PostgreSQL is restarted while the daemon works through its runs.

A real ``run_robots.py run`` on the real PostgreSQL, mailing a real (slow) SMTP server. Halfway through the letters
the server is restarted. The daemon must survive, and every letter must go out exactly once when it is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from demo.pki import free_port
from robots.config import load_config
from robots.store import Store
from robots.store import deliveries as db
from robots.store import schema as t
from tests.builders import simple_ledger
from tests.smtp import Handler
from tests.worlds import REPO, edit_settings, shipped_world

pytestmark = [pytest.mark.slow]
CONTRACTS = 16
MSK = ZoneInfo("Europe/Moscow")


class Slow(Handler):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.4)
        return await super().handle_DATA(server, session, envelope)


VERSION = sorted(os.listdir("/etc/postgresql"))[0] if os.path.isdir("/etc/postgresql") else "15"


def _pg(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=180)


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, str]]:
    """A PostgreSQL cluster of this test's own (Debian's pg_createcluster), so that restarting it disturbs nobody;
    (url, cluster name)."""
    name, port = f"arbots_restart_{os.getpid()}", free_port()
    _pg("pg_createcluster", VERSION, name, "--port", str(port), "--start", "--", "--auth=trust")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", name
    finally:
        subprocess.run(["pg_dropcluster", VERSION, name, "--stop"], capture_output=True, timeout=180)


def restart_postgres(cluster: str) -> None:
    _pg("pg_ctlcluster", "--skip-systemctl-redirect", VERSION, cluster, "restart", "-m", "fast")


def start_daemon(root: Path, log: Path) -> subprocess.Popen:
    """``run_robots.py run`` on ``root``'s config, its JSON log into ``log``."""
    return subprocess.Popen([sys.executable, str(REPO / "run_robots.py"), "--config", str(root / "schedules.yaml"),
                             "--log-json", "run"], stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=root)


def _wait(predicate, seconds: float, proc: subprocess.Popen, log: Path, pause: float = 0.2) -> None:
    """Until ``predicate()``; fails with the daemon's log when it takes longer or the daemon died."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, f"the daemon died: {log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(pause)


def _count(store: Store, query) -> int:
    for _ in range(100):
        try:
            return store.scalar(query)
        except Exception:  # the server is restarting
            time.sleep(0.2)
    raise AssertionError("PostgreSQL did not come back")


def test_the_daemon_survives_a_postgresql_restart_mid_tick_and_sends_each_letter_once(
        tmp_path: Path, officer_pki, private_postgres, monkeypatch):
    url, cluster = private_postgres
    handler = Slow()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    now = datetime.now(MSK) - timedelta(minutes=1)  # a daily window that has just passed: fired at start-up
    root = shipped_world(tmp_path, pki=officer_pki, ledger=simple_ledger(CONTRACTS, due=now.date() - timedelta(days=2)))

    def settings(s) -> None:
        s["email"]["smtp"].update(host="127.0.0.1", port=smtp.port, timeout_seconds=30)
        s["email"]["window"] = None
        s["runner"]["lease_seconds"] = 10
        s["daemon"] = {"ticks": [{"id": "morning", "cron": f"{now.minute} {now.hour} * * *"}], "poll_minutes": 1,
                       "leader_poll_seconds": 1, "heartbeat_seconds": 1, "http": {"enabled": False}}
        s["database"] = {"url_env": "ARBOTS_TEST_RESTART_DB"}

    monkeypatch.setenv("ARBOTS_TEST_RESTART_DB", url)
    edit_settings(root, settings)
    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())
    proc = start_daemon(root, tmp_path / "daemon.log")
    try:
        logfile = tmp_path / "daemon.log"
        _wait(lambda: len(handler.received) >= 3, 120, proc, logfile, 0.05)
        restart_postgres(cluster)
        done = select(func.count()).select_from(t.runs).where(t.runs.c.status == "done")
        _wait(lambda: _count(store, done) >= CONTRACTS, 240, proc, logfile, 0.5)
        assert proc.poll() is None  # it lived through it
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        smtp.stop()
    text = (tmp_path / "daemon.log").read_text()
    seen = Counter(got.message["Message-ID"] for got in handler.received)
    deliveries = store.rows(select(db.deliveries))
    assert len(deliveries) == CONTRACTS and {d.status for d in deliveries} == {"sent"}
    assert set(seen) == {d.message_id for d in deliveries}
    # a letter is sent twice only if the restart cut the connection after the server took it: recorded as such
    for message_id, n in seen.items():
        if n > 1:
            assert next(d.attempts for d in deliveries if d.message_id == message_id) >= n
    assert sum(n - 1 for n in seen.values()) <= 1
    assert '"level": "error"' in text  # the restart did cut into the work (and was logged), and it went on
    assert "leader_elected" in text and "daemon_stopped" in text
    store.close()


def test_the_database_down_for_a_while_is_alerted_once_and_its_recovery_once(tmp_path: Path, officer_pki,
                                                                              private_postgres, monkeypatch):
    """An idle daemon, its database stopped for several heartbeats: one "down" alert (not one per probe), one
    "recovered" alert when it is back, at a real webhook receiver."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    url, cluster = private_postgres
    got: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = shipped_world(tmp_path, pki=officer_pki, ledger=simple_ledger(1))

    def settings(s) -> None:
        s["database"] = {"url_env": "ARBOTS_TEST_RESTART_DB"}
        s["daemon"] = {"ticks": [{"id": "morning", "cron": "0 8 * * *"}], "poll_minutes": 60,
                       "leader_poll_seconds": 1, "heartbeat_seconds": 1, "http": {"enabled": False}}
        s["alerts"] = {"after_failures": 2, "webhook": {"url": f"http://127.0.0.1:{server.server_port}/alerts"}}

    monkeypatch.setenv("ARBOTS_TEST_RESTART_DB", url)
    edit_settings(root, settings)
    Store.open(load_config(root / "schedules.yaml").database_url()).close()
    proc = start_daemon(root, tmp_path / "daemon.log")
    try:
        logfile = tmp_path / "daemon.log"
        _wait(lambda: "daemon_started" in logfile.read_text(), 120, proc, logfile)
        time.sleep(3)  # the start-up tick (it fails: the ledger is not the point here) and a few heartbeats
        _pg("pg_ctlcluster", "--skip-systemctl-redirect", VERSION, cluster, "stop", "-m", "fast")
        _wait(lambda: any(a["event"] == "system_down" for a in got), 60, proc, logfile)
        time.sleep(4)  # more failed probes: still one alert
        _pg("pg_ctlcluster", "--skip-systemctl-redirect", VERSION, cluster, "start")
        _wait(lambda: any(a["event"] == "system_recovered" for a in got), 60, proc, logfile)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
    assert [(a["event"], a["system"]) for a in got] == [("system_down", "database"), ("system_recovered", "database")]
