"""The accounting system (the demo ERP, served over HTTP by the repository's REST connector) down, with real parts:
the sync keeps the old ledger and lets the tick's runs go on, the outage is recorded and alerted once; and a shipment
block that the ERP applied but answered too late is read back, never doubled, never unknown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ruamel.yaml import YAML
from sqlalchemy import select

from demo.erp import create_app, serve
from robots.config import load_config
from robots.core.errors import Unavailable
from robots.engine.runner import Runner
from robots.engine.services import services_for
from robots.engine.sync import sync, sync_or_keep
from robots.engine.tick import tick
from robots.store import Store, outages
from robots.store import schema as t
from robots.store import shipments as sb
from robots.support.clock import ManualClock
from tests.steps.test_shipments import PASSWORD, blocks, day, ledger_of, make_world

ERP_PORT = 19530


def open_world(tmp_path, officer_pki, hooks=None, *, erp=None, **connector):
    path = make_world(tmp_path, f"http://127.0.0.1:{ERP_PORT}/", officer_pki)
    yaml = YAML()
    settings = yaml.load(path.read_text(encoding="utf-8"))
    settings["connectors"][0].update(connector)
    settings["alerts"] = {"after_failures": 3, "cooldown_seconds": 60}
    if hooks is not None:
        settings["alerts"]["webhook"] = {"url": hooks.url}
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(settings, f)
    config = load_config(path)
    store = Store.open(config.database_url())
    clock = ManualClock(day(1)[1])
    return config, store, clock, services_for(config, store, clock)


def counts(store):
    return store.load_ledger().counts()


def test_the_erp_down_keeps_the_old_ledger_alerts_once_and_the_next_sync_catches_up(tmp_path, officer_pki, hooks):
    app = create_app(ledger_of(), username="робот", password=PASSWORD)
    config, store, clock, services = open_world(tmp_path, officer_pki, hooks)
    with serve(app, port=ERP_PORT):
        tick(services, *day(1))
    before = counts(store)
    assert before["invoices"] == 2

    # The ERP is down (its server stopped): every sync of the day keeps the old ledger and records why.
    for _ in range(6):
        clock.advance(600)
        assert sync_or_keep(config, store, clock.now(), breakers=services.breakers) is None
        assert counts(store) == before
    failure = store.rows(select(t.sync_failures).order_by(t.sync_failures.c.id.desc()))
    assert len(failure) == 6 and {f.kind for f in failure} == {"unavailable"}
    assert PASSWORD not in " ".join(f.message for f in failure)
    assert hooks.events() == [("system_down", "erp")]
    state = outages.system_state(store, "erp")
    assert state is not None and state.state == "open" and "cannot connect" in (state.last_error or "")
    # Its breaker is open: a sync within the cool-down does not even try, and says until when.
    with pytest.raises(Unavailable) as exc:
        sync(config, store, clock.now(), breakers=services.breakers)
    assert exc.value.system == "erp" and exc.value.retry_at is not None

    # Letters decided earlier keep going: the runner works while the ERP is away.
    assert Runner(services).run_pending(clock.now()).failed == []

    # It is back, with a payment: after the cool-down the sync goes through and ops hear of the recovery once.
    app.state.erp.set_ledger(ledger_of({"I0": "1000.00"}))
    with serve(app, port=ERP_PORT):
        clock.advance(61)
        ledger = sync_or_keep(config, store, clock.now(), breakers=services.breakers)
    assert ledger is not None and len(ledger.payments) == 1 and counts(store)["payments"] == 1
    assert hooks.events() == [("system_down", "erp"), ("system_recovered", "erp")]
    assert outages.system_state(store, "erp").state == "closed"
    services.close()
    store.close()


@pytest.mark.parametrize("attempts", [1, 2])
def test_a_block_applied_but_answered_too_late_is_read_back_never_doubled(tmp_path, officer_pki, attempts):
    """attempts 1: the timeout reaches the step, which keeps its decision and repeats the block later; attempts 2:
    the connector's own retry repeats it at once. Either way the ERP holds one block per contract, and the robots
    know of each."""
    app = create_app(ledger_of(), username="робот", password=PASSWORD)
    erp = app.state.erp
    with serve(app, port=ERP_PORT):
        config, store, clock, services = open_world(
            tmp_path, officer_pki, timeout={"connect": 5, "read": 0.5},
            retries={"attempts": attempts, "backoff": 0.01, "max_backoff": 0.05})
        tick(services, *day(1))
        # attempts 1: both claims' blocks are applied, then answered late; attempts 2: the first one is.
        late = 2 if attempts == 1 else 1
        erp.faults.apply_then_delay("block", 1.5, times=late)
        clock.set(day(10)[1])
        report = tick(services, *day(10))
        assert not report.runner.failed
        assert len(erp.blocks) == 2  # the ERP applied both
        mine = blocks(store)
        assert len(mine) == 2  # and the robots know of both: never a block they do not know about
        if attempts == 1:
            assert len(report.runner.waiting) == 2
            assert [b.state for b in mine] == [sb.BlockState.BLOCKING] * 2
            assert not any(sb.is_blocked(store, c) for c in ("C0", "C1"))
            clock.advance(600)
            report = Runner(services).run_pending(clock.now())
            assert len(report.done) == 2
        else:
            assert len(report.runner.done) == 2
        mine = blocks(store)
        assert [b.state for b in mine] == [sb.BlockState.BLOCKED] * 2
        # Each repeat read the applied block back ("already so"); one request more per late answer.
        assert sum("already so" in (b.detail or "") for b in mine) == late
        assert len(erp.blocks) == 2 and erp.faults.hits[("api", "block", None)] == 2 + late
        assert sb.is_blocked(store, "C0") and sb.is_blocked(store, "C1")
    services.close()
    store.close()


def test_a_block_refused_while_the_erp_is_down_is_forgotten_and_decided_again(tmp_path, officer_pki):
    """Nothing reached the ERP (503 from every attempt): the decision is dropped, the run waits, and the retry
    decides again; one block in the end."""
    app = create_app(ledger_of(), username="робот", password=PASSWORD)
    erp = app.state.erp
    with serve(app, port=ERP_PORT):
        config, store, clock, services = open_world(tmp_path, officer_pki)
        tick(services, *day(1))
        erp.faults.fail("block", status=503, times=None)
        clock.set(day(10)[1])
        report = tick(services, *day(10))
        assert len(report.runner.waiting) == 2 and blocks(store) == [] and erp.blocks == {}
        erp.faults.clear()
        clock.advance(timedelta(minutes=10).total_seconds())
        report = Runner(services).run_pending(clock.now())
        assert len(report.done) == 2 and len(erp.blocks) == 2
        assert [b.state for b in blocks(store)] == [sb.BlockState.BLOCKED] * 2
    services.close()
    store.close()


def test_a_kept_block_decision_survives_retries_while_the_erp_is_down_and_an_unblock_is_read_back(tmp_path,
                                                                                                   officer_pki):
    app = create_app(ledger_of(), username="робот", password=PASSWORD)
    erp = app.state.erp
    with serve(app, port=ERP_PORT):
        config, store, clock, services = open_world(
            tmp_path, officer_pki, timeout={"connect": 5, "read": 0.5},
            retries={"attempts": 1, "backoff": 0.01, "max_backoff": 0.05})
        tick(services, *day(1))
        erp.faults.apply_then_delay("block", 1.5, times=2)
        clock.set(day(10)[1])
        tick(services, *day(10))
        assert len(erp.blocks) == 2 and [b.state for b in blocks(store)] == [sb.BlockState.BLOCKING] * 2
        # The ERP now refuses every request (503): the retries fail, and the decisions an earlier attempt may have
        # applied are kept all the same.
        erp.faults.fail("block", status=503, times=None)
        for _ in range(3):
            clock.advance(600)
            assert not Runner(services).run_pending(clock.now()).done
        assert [b.state for b in blocks(store)] == [sb.BlockState.BLOCKING] * 2
        erp.faults.clear()
        clock.advance(600)
        assert len(Runner(services).run_pending(clock.now()).done) == 2
        assert [b.state for b in blocks(store)] == [sb.BlockState.BLOCKED] * 2 and len(erp.blocks) == 2

        # C0 pays; its paid event unblocks it, and the ERP applies the unblock but answers too late.
        erp.set_ledger(ledger_of({"I0": "1001.00"}))
        erp.faults.apply_then_delay("unblock", 1.5)
        clock.set(day(11)[1])
        report = tick(services, *day(11))
        assert len(report.runner.waiting) == 1 and ("P0", "C0") not in erp.blocks
        assert sb.is_blocked(store, "C0")  # until the robots know it is lifted, they count it as blocked
        clock.advance(600)
        assert len(Runner(services).run_pending(clock.now()).done) == 1
        lifted = [b for b in blocks(store) if b.contract_id == "C0"]
        assert [b.state for b in lifted] == [sb.BlockState.UNBLOCKED] and "already so" in (lifted[0].detail or "")
        assert not sb.is_blocked(store, "C0") and sb.is_blocked(store, "C1") and list(erp.blocks) == [("P1", "C1")]
    services.close()
    store.close()


def test_a_tick_while_the_erp_is_down_runs_what_was_decided_and_postpones_the_evaluation(tmp_path, officer_pki):
    """The tick does not evaluate on a stale ledger (it could write to a customer who paid): it runs the runs
    already decided, keeps the stored ledger and raises Unavailable, so the daemon tries the tick again."""
    app = create_app(ledger_of(), username="робот", password=PASSWORD)
    config, store, clock, services = open_world(tmp_path, officer_pki)
    with serve(app, port=ERP_PORT):
        tick(services, *day(1))
    evaluations = store.rows(select(t.evaluations))
    before = counts(store)
    with pytest.raises(Unavailable) as exc:  # the ERP's server is stopped
        tick(services, *day(2))
    assert exc.value.system == "erp" and "evaluation waits" in str(exc.value)
    assert PASSWORD not in str(exc.value)
    assert counts(store) == before
    assert store.rows(select(t.evaluations)) == evaluations  # no day evaluated on the stale ledger
    assert store.rows(select(t.runs.c.status).where(t.runs.c.status == "failed")) == []
    assert store.rows(select(t.sync_failures))[-1].kind == "unavailable"
    for _ in range(2):  # the breaker's threshold (alerts.after_failures 3): status shows the system down
        with pytest.raises(Unavailable):
            clock.advance(120)
            tick(services, *day(2))
    from robots.engine.summary import render_summary, summarize

    shown = render_summary(summarize(store))
    assert "DOWN: erp, 3 consecutive failures" in shown and PASSWORD not in shown
    with serve(app, port=ERP_PORT):  # back: the same day's tick goes through
        clock.advance(3600)
        report = tick(services, *day(2))
    assert report.evaluation is not None and report.as_of == day(2)[0]
    services.close()
    store.close()
