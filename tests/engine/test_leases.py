"""Leases and fencing with a real, slow SMTP server: a letter goes out once however processes overlap.

The defect these tests pin down: a run's lease used to run from the ``now`` a tick received at its start and was
never renewed, so a run claimed late in a long tick was claimable by a second process while it ran, and
``send_email`` sent its letter again. Leases now come from the clock at claim time, are renewed with every step
and by a heartbeat while a step runs, and every side effect is fenced by (owner, token).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from connectors.files.ledger_csv import write_ledger_csv
from demo.pki import free_port
from robots.core.errors import LeaseLost
from robots.engine.runner import Runner
from robots.engine.services import services_for
from robots.engine.sync import sync
from robots.engine.tick import evaluate_and_record
from robots.store import RunStatus, StepStatus
from robots.store import deliveries as db
from robots.store import schema as t
from robots.support.clock import ManualClock
from tests.builders import simple_ledger
from tests.smtp import Handler, SmtpServer
from tests.worlds import AS_OF, NOW, REPO, edit_settings, mail_world, open_world


@dataclass
class SlowHandler(Handler):
    """Takes ``delay`` seconds to accept each message, as a loaded corporate relay does."""

    delay: float = 1.5

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp() -> Iterator[SmtpServer]:
    handler = SlowHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, handler)
    finally:
        controller.stop()


def _world(tmp_path: Path, pki, smtp: SmtpServer, contracts: int, lease: int = 10) -> Path:
    root = mail_world(tmp_path, pki, smtp)
    write_ledger_csv(simple_ledger(contracts), root / "var" / "ledger")

    def settings(s) -> None:
        s["runner"]["lease_seconds"] = lease
        s["email"]["window"] = None  # the CLI ticks at the wall clock's hour, whatever it is
        s["email"]["smtp"]["timeout_seconds"] = 60  # a slow relay, not a dead one

    edit_settings(root, settings)
    return root


def _message_ids(smtp: SmtpServer) -> list[str]:
    return [got.message["Message-ID"] for got in smtp.received]


@pytest.mark.slow
def test_two_processes_overlapping_on_a_slow_smtp_server_send_each_letter_once(tmp_path, officer_pki, slow_smtp):
    """The reproduction of the defect: lease 10 s, 18 runs, 1.5 s per message, tick B 14 s after tick A."""
    root = _world(tmp_path, officer_pki, slow_smtp, 18)
    cli = [sys.executable, str(REPO / "run_robots.py"), "--config", str(root / "schedules.yaml"),
           "tick", "--as-of", AS_OF.isoformat()]
    a = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)
    try:
        time.sleep(14)
        assert a.poll() is None, f"tick A must still be running when tick B starts: {a.communicate()}"
        b = subprocess.run(cli, capture_output=True, text=True, timeout=600, cwd=root)
        out_a, err_a = a.communicate(timeout=600)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 0, err_a
    assert b.returncode == 0, b.stderr

    ids = _message_ids(slow_smtp)
    assert len(ids) == 18, f"{len(ids)} e-mails at the server for 18 runs"
    assert len(set(ids)) == 18
    _, store, services = open_world(root)
    try:
        rows = store.rows(select(db.deliveries))
        assert len(rows) == 18 and {r.status for r in rows} == {"sent"}
        assert {r.attempts for r in rows} == {1}
        assert {r.status for r in store.rows(select(t.runs))} == {"done"}
        assert {r.attempts for r in store.rows(select(t.runs))} == {1}  # nobody claimed a run that was running
    finally:
        services.close()
        store.close()
    assert "email_resent" not in err_a + b.stderr and "lease_lost" not in err_a + b.stderr


def test_a_step_longer_than_the_lease_keeps_it_by_the_heartbeat(tmp_path, officer_pki, slow_smtp):
    """One letter that takes 12 s to send with a 10 s lease: a second runner finds nothing to claim meanwhile."""
    slow_smtp.handler.delay = 12
    root = _world(tmp_path, officer_pki, slow_smtp, 1)
    config, store, services = open_world(root)
    try:
        sync(config, store, NOW)
        evaluate_and_record(services, AS_OF, NOW)
        first = Runner(services, owner="host-a:1:a")
        result: dict = {}
        worker = threading.Thread(target=lambda: result.update(report=first.run_pending(NOW)))
        worker.start()
        deadline = time.monotonic() + 60
        while not store.rows(select(db.deliveries)) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(10.5)  # the lease taken when the send step began has run out by now, but for the heartbeat
        assert worker.is_alive(), ("the send must still be under way", result,
                                   store.rows(select(t.runs.c.status, t.runs.c.error)))
        second = Runner(services, owner="host-b:2:b").run_pending(NOW)
        assert second.done == second.retry == second.lost == [] and second.waiting == []
        worker.join(timeout=60)
        assert len(result["report"].done) == 1 and result["report"].lost == []
        assert len(slow_smtp.received) == 1
        [row] = store.rows(select(db.deliveries))
        assert row.attempts == 1
    finally:
        services.close()
        store.close()


def test_a_process_that_lost_its_lease_stops_before_the_side_effect(tmp_path, officer_pki, smtp_server):
    """With a manual clock: A claims, stalls past the lease, B claims and sends; A's work stops at once."""
    root = _world(tmp_path, officer_pki, smtp_server, 1)
    config, store, _ = open_world(root)
    clock = ManualClock(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    services = services_for(config, store, clock)
    try:
        sync(config, store, NOW)
        evaluate_and_record(services, AS_OF, NOW)
        a = Runner(services, owner="host-a:1:a")
        claimed = store.claim_run(a.owner, NOW, a.lease, lease_now=clock.now())
        assert claimed is not None
        clock.advance(a.lease.total_seconds() + 1)  # A stalls (a GC pause, a frozen VM) past its lease
        b = Runner(services, owner="host-b:2:b")
        assert len(b.run_pending(NOW).done) == 1
        assert len(smtp_server.received) == 1

        assert a.execute(claimed, NOW) is None  # A resumes: its first fenced write finds the lease gone
        assert len(smtp_server.received) == 1
        [run] = store.rows(select(t.runs))
        assert run.status == RunStatus.DONE and run.attempts == 2 and run.lease_owner is None
        assert {s.status for s in store.rows(select(t.run_steps))} == {StepStatus.DONE}
    finally:
        services.close()
        store.close()


def test_the_fence_refuses_every_write_of_an_older_claim(store):
    """Store level: after a re-claim, the first claimant can neither renew, record a step, park nor finish."""
    from tests.store.test_claims import LEASE, add_run

    run_id = add_run(store, "r", AS_OF)
    clock = ManualClock(datetime(2026, 12, 6, 9, 0, tzinfo=UTC))
    old = store.claim_run("a", NOW, LEASE, lease_now=clock.now())
    fence_a = old.fence("a")
    assert store.renew_lease(fence_a, clock.now() + LEASE)
    assert store.holds_lease(fence_a, clock.now())
    clock.advance(2 * LEASE.total_seconds())
    assert not store.holds_lease(fence_a, clock.now())  # expired: anyone may claim it now
    new = store.claim_run("a", NOW, LEASE, lease_now=clock.now())  # even the same owner gets a new token
    assert new.id == run_id and new.attempts == old.attempts + 1
    assert not store.renew_lease(fence_a, clock.now() + LEASE)
    with pytest.raises(LeaseLost, match=f"run {run_id}"):
        store.mark_step(run_id, 0, "render", StepStatus.DONE, NOW, fence=fence_a, lease_until=clock.now() + LEASE)
    assert not store.wait_run(run_id, fence_a, None, "late")
    assert not store.finish_run(run_id, fence_a, RunStatus.DONE, NOW)
    fence_new = new.fence("a")
    assert store.holds_lease(fence_new, clock.now())
    assert store.finish_run(run_id, fence_new, RunStatus.DONE, NOW)
    assert store.rows(select(t.runs.c.status))[0][0] == RunStatus.DONE
