"""Promises, disputes and contacts in the store, on SQLite and PostgreSQL: holds placed and released by their
owner, decisions saved once, and the checks against the ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

from robots.core.decisions import PromiseOutcome, PromiseStatus
from robots.core.domain import Hold, HoldKind
from robots.engine.people_input import LedgerView, check_contact, check_dispute, check_promise
from robots.store import people as db
from tests.builders import DUE, simple_ledger

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
DAY = date(2026, 3, 12)


def view(store):
    store.replace_ledger(simple_ledger(2), "test", NOW)
    return LedgerView(store, D("1.00"))


def holds(store, day):
    with store.evaluation() as tx:
        return tx.holds(day)


def new_promise(v, **kw):
    args = dict(contract="C000", invoice=None, amount=D("500.00"), promised_on=date(2026, 3, 20), by="Кузнецов",
                note="", day=DAY, grace_days=3)
    args.update(kw)
    return check_promise(v, **args)


def test_a_contract_promise_pauses_its_open_invoices_until_date_plus_grace(store):
    p, problems = new_promise(view(store))
    assert problems == [] and p.hold_invoices == ("I-extra", "I000") and p.hold_until == date(2026, 3, 23)
    pid = db.record(store, [p], NOW).promises[0]
    held = holds(store, date(2026, 3, 23))
    assert set(held) == {"I000", "I-extra"} and held["I000"].kind is HoldKind.PROMISE
    assert holds(store, date(2026, 3, 24)) == {}
    row = db.promise_row(store, pid)
    assert (row.status, row.amount, row.recorded_by, row.recorded_on) == ("open", D("500.00"), "Кузнецов", DAY)


def test_cancelling_lifts_only_its_own_pause_and_only_once(store):
    v = view(store)
    first = db.record(store, [new_promise(v)[0]], NOW).promises[0]
    db.record(store, [new_promise(v, invoice="I000", amount=D("100.00"))[0]], NOW)
    assert db.cancel_promise(store, first, "Орлова", DAY, NOW)
    assert set(holds(store, DAY)) == {"I000"}  # the second promise still holds its invoice
    assert not db.cancel_promise(store, first, "Орлова", DAY, NOW)
    assert db.promise_row(store, first).status == "cancelled"


def test_decisions_are_saved_once_and_broken_ones_are_counted_per_contract(store):
    v = view(store)
    ids = db.record(store, [new_promise(v)[0], new_promise(v, contract="C001", amount=D("1.50"))[0]], NOW).promises
    day = date(2026, 3, 24)
    broken = PromiseOutcome(ids[0], PromiseStatus.BROKEN, day, D("0"))
    assert db.record_outcomes(store, [broken]) == [ids[0]]
    assert db.record_outcomes(store, [PromiseOutcome(ids[0], PromiseStatus.KEPT, day, D("9"))]) == []  # decided
    assert db.promise_row(store, ids[0]).status == "broken"
    assert (db.promises_broken(store, "C000"), db.promises_broken(store, "C001")) == (1, 0)
    assert [r.id for r in db.promise_rows(store, status="broken", closed_on=day)] == [ids[0]]


def test_a_cancelled_promise_is_never_decided(store):
    pid = db.record(store, [new_promise(view(store))[0]], NOW).promises[0]
    db.cancel_promise(store, pid, "Орлова", DAY, NOW)
    assert db.record_outcomes(store, [PromiseOutcome(pid, PromiseStatus.BROKEN, DAY, D("0"))]) == []
    assert db.promises_broken(store, "C000") == 0


def test_promise_checks_name_each_bad_field(store):
    v = view(store)
    _, problems = new_promise(v, contract="C404", amount=D("0"), promised_on=date(2026, 3, 1), by=" ")
    assert [f for f, _ in problems] == ["contract", "amount", "date", "by"]
    assert "no contract 'C404'" in problems[0][1] and "in the past" in problems[2][1]
    _, problems = new_promise(v, invoice="I001")
    assert problems == [("invoice", "invoice 'I001' belongs to contract 'C001', not to 'C000'")]
    assert new_promise(v, contract="0/2026-Б")[0].contract_id == "C000"  # by number


def test_nothing_to_promise_on_a_paid_invoice(store):
    store.replace_ledger(simple_ledger(1, paid={"I000": "1000.00"}), "test", NOW)
    _, problems = check_promise(LedgerView(store, D("1.00")), contract="C000", invoice="I000", amount=D("5"),
                                promised_on=DAY, by="x", note="", day=DAY, grace_days=3)
    assert problems == [("invoice", "invoice 'I000' has no open debt on 2026-03-12: nothing to promise")]


def test_a_dispute_holds_without_end_until_closed_and_the_hold_command_still_works(store):
    v = view(store)
    d, problems = check_dispute(v, contract=None, invoice="I001", amount=D("300.00"), reason="недопоставка",
                                by="Беляев", day=DAY)
    assert problems == [] and d.contract_id == "C001"
    did = db.record(store, [d], NOW).disputes[0]
    store.add_hold(Hold("I000", HoldKind.PAUSE, "отпуск"), NOW)
    assert holds(store, date(2027, 1, 1))["I001"].kind is HoldKind.DISPUTE
    assert db.close_dispute(store, did, "Беляев", "поставили остаток", NOW)
    assert set(holds(store, DAY)) == {"I000"}
    assert store.release_holds("I000", HoldKind.PAUSE, NOW) == 1
    row = db.dispute_row(store, did)
    assert (row.status, row.resolution, row.amount) == ("closed", "поставили остаток", D("300.00"))
    assert not db.close_dispute(store, did, "Беляев", "again", NOW)


def test_a_promised_contact_records_its_promise_linked(store):
    v = view(store)
    c, problems = check_contact(v, contract="C001", outcome="promised", channel="phone", note="оплатят в пятницу",
                                by="Кузнецов", day=DAY, promised_on=date(2026, 3, 13), promised_amount=D("1001.00"),
                                grace_days=2)
    assert problems == []
    done = db.record(store, [c], NOW)
    contact = db.contact_rows(store, contract_id="C001")[0]
    assert contact.promise_id == done.promises[0]
    assert db.promise_row(store, contact.promise_id).source == "contact"
    assert holds(store, date(2026, 3, 15))["I001"].until == date(2026, 3, 15)


def test_contact_checks(store):
    v = view(store)
    kw = dict(contract="C001", channel=None, note="", by="x", day=DAY, grace_days=2)
    assert check_contact(v, outcome="promised", promised_on=DAY, promised_amount=None, **kw)[1] == [
        ("promised_amount", "an outcome 'promised' needs both the promised date and the promised amount")]
    assert check_contact(v, outcome="reached", promised_on=DAY, promised_amount=None, **kw)[1][0][0] == "outcome"
    assert check_contact(v, outcome="shouted", promised_on=None, promised_amount=None, **kw)[1][0][0] == "outcome"


def test_promises_for_the_plan_are_those_open_on_the_day(store):
    v = view(store)
    ids = db.record(store, [new_promise(v)[0], new_promise(v, contract="C001")[0]], NOW).promises
    db.record_outcomes(store, [PromiseOutcome(ids[0], PromiseStatus.KEPT, date(2026, 3, 15), D("500"))])
    assert [r.id for r in db.promises_for_plan(store, date(2026, 3, 14))] == ids
    assert [r.id for r in db.promises_for_plan(store, date(2026, 3, 15))] == [ids[1]]
    assert db.promises_for_plan(store, date(2026, 3, 11)) == []  # not recorded yet
    assert DUE < DAY
