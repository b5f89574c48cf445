"""``hold release`` lifts only the pauses a person placed with ``hold``: a dispute's or a promise's holds belong to
the dispute or promise (``holds.ref``) and end only with ``dispute close`` or the promise's decision or cancel."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from robots.cli.main import main
from robots.core.domain import Hold, HoldKind
from robots.engine.people_input import LedgerView, check_dispute, check_promise
from robots.store import people as db
from tests.builders import simple_ledger

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
DAY = date(2026, 3, 12)


def held(store, day: date) -> dict[str, Hold]:
    with store.evaluation() as tx:
        return tx.holds(day)


def test_releasing_holds_leaves_those_of_a_dispute_and_of_a_promise(store):
    store.replace_ledger(simple_ledger(2), "test", NOW)
    view = LedgerView(store, D("1.00"))
    dispute, problems = check_dispute(view, contract=None, invoice="I001", amount=None, reason="недопоставка",
                                      by="Беляев", day=DAY)
    assert problems == []
    promise, problems = check_promise(view, contract="C000", invoice="I000", amount=D("100.00"),
                                      promised_on=date(2026, 3, 20), by="Кузнецов", note="", day=DAY, grace_days=3)
    assert problems == []
    done = db.record(store, [dispute, promise], NOW)
    store.add_hold(Hold("I000", HoldKind.PAUSE, "отпуск"), NOW)

    assert store.release_holds("I001", HoldKind.DISPUTE, NOW) == 0
    assert store.release_holds("I000", HoldKind.PROMISE, NOW) == 0
    assert store.release_holds("I000", HoldKind.PAUSE, NOW) == 1
    on_day = held(store, DAY)
    assert (on_day["I001"].kind, on_day["I000"].kind) == (HoldKind.DISPUTE, HoldKind.PROMISE)
    assert db.dispute_row(store, done.disputes[0]).status == "open"
    assert db.promise_row(store, done.promises[0]).status == "open"


def test_hold_is_for_pauses_and_points_a_dispute_to_dispute_open(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--config", "nowhere.yaml", "hold", "add", "I000", "--kind", "dispute", "--reason", "качество"])
    assert stop.value.code == 2
    assert "argument --kind: a dispute is opened with `dispute open --invoice I" in capsys.readouterr().err
