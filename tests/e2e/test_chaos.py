"""Chaos: three daemons on the real PostgreSQL over 90 simulated days, killed with ``kill -9`` at random moments.

The daemons are the production Daemon on a clock the test drives (tests/harness): the simulated time runs fast
while a day is worked through and jumps between days. On a third of the days a random daemon (often the leader,
often in the middle of its tick) is killed and a new one started at once. At the end:

* every letter reached the SMTP server under exactly one Message-ID; a Message-ID seen twice is a resend after a
  process died between the server's "250" and the delivery's record, is recorded as a second attempt, and there
  are never more of them than kills;
* no duplicate document, archive file or task, and ``archive verify`` is clean;
* the crossings and runs are exactly those of one undisturbed process over the same days.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from archive.ops import verify_archive
from archive.verify import signature_checker
from demo.pki import free_port
from robots.config import load_config
from robots.core.domain import Contract, Counterparty, Invoice, Ledger
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.store import Store
from robots.store import deliveries as db
from robots.store import schema as t
from robots.support.clock import ManualClock
from signing.keys import load_cert_files
from tests.harness.clock import DrivenClock
from tests.smtp import Handler
from tests.worlds import REPO, edit_settings, shipped_world, use_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MSK = ZoneInfo("Europe/Moscow")
START = date(2026, 3, 2)  # a Monday; the officers' test certificates are valid all through
DAYS = int(os.environ.get("ARBOTS_CHAOS_DAYS", "90"))
DAEMONS = 3
KILLS = int(os.environ.get("ARBOTS_CHAOS_KILLS", "33"))
CONTRACTS = 16
RATE = 60  # simulated seconds per real second
TICK = dtime(10, 0)  # the daemons' crontab line, Moscow time


def chaos_ledger() -> Ledger:
    """``CONTRACTS`` customers whose invoices fall due across the 90 days, so that every day something crosses."""
    cps, cts, invs = [], [], []
    for n in range(CONTRACTS):
        cps.append(Counterparty(f"P{n:03d}", f"ООО «Клиент {n}»", f"77{n:08d}", f"c{n}@example.ru", "default"))
        cts.append(Contract(f"C{n:03d}", f"{n}/2026-Х", f"P{n:03d}", 30, "RUB", Decimal("0.001")))
        for k in range(1 + n % 2):
            due = START + timedelta(days=(n * 3 + k * 11) % 40)
            invs.append(Invoice(f"I{n:03d}-{k}", f"{100 + n}-{k}", f"C{n:03d}", due - timedelta(days=30), due,
                                Decimal("1000.00") + n * 10 + k))
    return Ledger(tuple(cps), tuple(cts), tuple(invs), ())


def world(root: Path, pki, smtp_port: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shipped_world(root, pki=pki, ledger=chaos_ledger())

    def settings(s) -> None:
        s["email"]["smtp"].update(host="127.0.0.1", port=smtp_port, timeout_seconds=30)
        s["email"]["window"] = None  # letters go when the robots decide them, whatever the simulated hour
        s["daemon"] = {"timezone": "Europe/Moscow", "ticks": [{"id": "morning", "cron": "0 10 * * *"}],
                       # simulated seconds: the clock runs 60 times faster than the wall clock (RATE)
                       "poll_minutes": 1, "leader_poll_seconds": 20, "heartbeat_seconds": 20,
                       "stale_after_seconds": 60, "http": {"enabled": False}}

    edit_settings(root, settings)
    return root


class Sink(Handler):
    """The SMTP server: takes a little while per message, so that kills land inside sends too."""

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def start_sink() -> tuple[Controller, Sink]:
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


def day_start(d: date) -> datetime:
    return datetime.combine(d, TICK, tzinfo=MSK).astimezone(UTC) - timedelta(seconds=10)


def crossing_set(store: Store) -> set[tuple]:
    """(invoice, column, status, as_of) of every crossing, the skipped columns stored with a crossing included."""
    import json

    out = set()
    cols = t.crossings.c
    for row in store.rows(select(cols.invoice_id, cols.column_id, cols.status, cols.as_of, cols.skipped)):
        out.add((row.invoice_id, row.column_id, row.status, row.as_of))
        for column_id, _offset in json.loads(row.skipped or "[]"):
            out.add((row.invoice_id, column_id, "skipped", row.as_of))
    return out


def run_set(store: Store) -> set[tuple]:
    r = t.runs.c
    return {tuple(x) for x in store.rows(select(r.contract_id, r.column_id, r.as_of, r.scenario))}


class Fleet:
    def __init__(self, root: Path, clock_file: Path):
        self.root, self.clock_file = root, clock_file
        self.procs: list[subprocess.Popen] = []
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.started = 0
        self.log_of: dict[int, Path] = {}

    def spawn(self) -> subprocess.Popen:
        self.started += 1
        path = self.logs / f"daemon-{self.started:02d}.log"
        log = path.open("w")
        proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "harness" / "daemon.py"),
                                 str(self.root / "schedules.yaml"), str(self.clock_file)],
                                stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        self.procs.append(proc)
        self.log_of[proc.pid] = path
        return proc

    def phase(self, pid: int) -> str:
        """Where a killed daemon was, from its last log line: inside which step (the one after the last done),
        in a tick's sync or evaluation, or between runs."""
        import json

        events = [json.loads(line) for line in self.log_of[pid].read_text(errors="replace").splitlines()
                  if line.startswith("{")]
        if not events:
            return "starting"
        last = events[-1]
        name = last.get("event")
        if name == "step_done":
            return f"after {last.get('kind')}"
        if name in ("tick_started", "synced"):
            return "in the tick's sync or evaluation" if name == "tick_started" else "in the evaluation"
        if name == "evaluated":
            return "recording the evaluation / first claim"
        if name in ("email_sent",):
            return "after the SMTP server took a letter"
        return f"after {name}"

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        for p in self.alive():
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()

    def log_text(self) -> str:
        return "".join(f.read_text(errors="replace") for f in sorted(self.logs.glob("*.log")))


def _quiet(store: Store, day: date) -> bool:
    """The day's tick finished and no run is pending or running (waiting for an approver is fine)."""
    from robots.store.daemons import trigger_fires

    window = day_start(day) + timedelta(seconds=10)
    fired = store.rows(select(trigger_fires.c.finished_at).where(
        trigger_fires.c.trigger_id == "tick:morning", trigger_fires.c.scheduled_for == window))
    if not fired or fired[0][0] is None:
        return False
    busy = store.scalar(select(func.count()).select_from(t.runs).where(t.runs.c.status.in_(("pending", "running"))))
    return busy == 0


def test_three_daemons_killed_at_random_keep_every_letter_exactly_once(tmp_path, officer_pki, request, monkeypatch):
    rng = random.Random(int(os.environ.get("ARBOTS_CHAOS_SEED", "20261206")))
    controller, sink = start_sink()
    root = world(tmp_path / "chaos", officer_pki, controller.port)
    use_database(root, "postgresql", request, monkeypatch)
    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())  # migrates before the daemons start
    clock = DrivenClock(tmp_path / "clock", day_start(START), rate=RATE)
    fleet = Fleet(root, tmp_path / "clock")
    kill_days = set(rng.sample(range(DAYS), KILLS))
    kills: list[dict] = []
    try:
        for _ in range(DAEMONS):
            fleet.spawn()
        clock.start()
        for i in range(DAYS):
            day = START + timedelta(days=i)
            clock.set(day_start(day))
            began = time.monotonic()
            if i in kill_days:
                time.sleep(rng.uniform(0.5, 2.5))  # the tick fires ~0.5 s after the day starts, then works
                leaders = [r.pid for r in store.rows(select(t.daemons.c.pid).where(t.daemons.c.leader))]
                alive = fleet.alive()
                victim = next((p for p in alive if p.pid in leaders), None) if rng.random() < 0.5 else None
                victim = victim or rng.choice(alive)
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=30)
                kills.append({"day": day, "pid": victim.pid, "leader": victim.pid in leaders,
                              "after": round(time.monotonic() - began, 2), "phase": fleet.phase(victim.pid)})
                fleet.spawn()
            deadline = time.monotonic() + 120
            while not _quiet(store, day):
                assert time.monotonic() < deadline, (f"day {day} did not finish: fires "
                                                     f"{store.rows(select(t.trigger_fires))[-3:]}, runs "
                                                     f"{store.rows(select(t.runs.c.id, t.runs.c.status))[-5:]}")
                assert len(fleet.alive()) == DAEMONS, fleet.log_text()[-3000:]
                time.sleep(0.1)
    finally:
        clock.stop()
        fleet.stop()
        controller.stop()

    assert len(kills) >= min(30, KILLS)
    phases = Counter(k["phase"] for k in kills)
    print("chaos: where the kills landed:", dict(phases))
    logs = fleet.log_text()

    # -- every letter at the server under one Message-ID; resends counted and bounded by the kills
    seen = Counter(got.message["Message-ID"] for got in sink.received)
    deliveries = store.rows(select(db.deliveries))
    assert deliveries and {d.status for d in deliveries} == {"sent"}
    assert set(seen) == {d.message_id for d in deliveries}  # nothing sent that is not recorded, nothing lost
    resent = {m: n for m, n in seen.items() if n > 1}
    assert sum(n - 1 for n in resent.values()) <= len(kills)
    attempts = {d.message_id: d.attempts for d in deliveries}
    assert all(attempts[m] >= n for m, n in resent.items())  # each resend is recorded as another attempt
    assert "lease_lost" not in logs  # nobody stalled: kills free runs by the dead pid, never by a lease race

    # -- no duplicate effects; the archive verifies
    documents = store.scalar(select(func.count()).select_from(t.documents))
    assert documents == store.scalar(select(func.count(func.distinct(t.documents.c.path))))
    assert len(list(config.archive_dir.rglob("*.signed.pdf"))) + len(
        [p for p in config.archive_dir.rglob("*.pdf") if not p.name.endswith(".signed.pdf")]) == documents
    assert not list(config.archive_dir.rglob(".tmp-*"))
    tasks = store.rows(select(t.tasks.c.run_id, t.tasks.c.step_idx))
    assert len(tasks) == len(set(tasks))
    roots = load_cert_files(config.settings.signing.trust_roots, config.base_dir, "trust_roots")
    check = verify_archive(config.archive_dir, store, signatures=signature_checker(roots, online=False))
    assert check.ok, check.findings
    statuses = Counter(r.status for r in store.rows(select(t.runs.c.status)))
    assert statuses["failed"] == 0 and statuses["pending"] == statuses["running"] == 0, statuses

    # -- the same decisions as one undisturbed process over the same days
    ref_controller, _ = start_sink()
    try:
        ref_root = world(tmp_path / "reference", officer_pki, ref_controller.port)
        ref_config = load_config(ref_root / "schedules.yaml")
        ref_store = Store.open(ref_config.database_url())
        ref_clock = ManualClock(day_start(START))
        services = services_for(ref_config, ref_store, ref_clock)
        for i in range(DAYS):
            day = START + timedelta(days=i)
            ref_clock.set(day_start(day) + timedelta(seconds=10))
            tick(services, day, ref_clock.now())
        assert crossing_set(store) == crossing_set(ref_store)
        assert run_set(store) == run_set(ref_store)
        services.close()
        ref_store.close()
    finally:
        ref_controller.stop()
    store.close()
    print(f"chaos: {len(kills)} kills ({sum(k['leader'] for k in kills)} of the leader), "
          f"{len(deliveries)} letters, {len(resent)} resent, {documents} documents, {sum(statuses.values())} runs")
