"""The paid event: once per collection episode, when a contract the robots wrote to or blocked has no overdue debt.

The decision (decide_paid) is pure and tested with fixed dates; paid_events reads the store's history (runs,
shipment blocks) on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from robots.core.decisions import decide_paid, overdue_balances
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from robots.engine.events.base import EventRun
from robots.engine.events.paid import paid_events
from robots.store import shipments as sb

D = date(2026, 3, 20)
TOL = Decimal("1.00")
T0 = datetime(2026, 3, 20, 6, 0, tzinfo=UTC)


def test_a_contract_with_letters_and_no_overdue_debt_left_is_paid():
    assert decide_paid({"C1": Decimal("0")}, {}, {"C1": D}, {}, TOL) == ["C1"]


def test_overdue_debt_above_the_tolerance_is_not_paid_but_kopecks_are():
    assert decide_paid({"C1": Decimal("1.01"), "C2": Decimal("1.00")}, {}, {"C1": D, "C2": D}, {}, TOL) == ["C2"]


def test_a_contract_the_robots_never_wrote_to_nor_blocked_gets_no_event():
    assert decide_paid({"C1": Decimal("0")}, {}, {}, {}, TOL) == []


def test_an_active_block_alone_opens_an_episode():
    assert decide_paid({"C1": Decimal("0")}, {"C1": D}, {}, {}, TOL) == ["C1"]


def test_an_episode_ends_once_and_a_later_letter_starts_a_new_one():
    overdue = {"C1": Decimal("0")}
    assert decide_paid(overdue, {}, {"C1": D}, {"C1": D + timedelta(days=2)}, TOL) == []
    assert decide_paid(overdue, {}, {"C1": D + timedelta(days=5)}, {"C1": D + timedelta(days=2)}, TOL) == ["C1"]
    # A block left in place (the paid scenario did not lift it) does not fire a second event either.
    assert decide_paid(overdue, {"C1": D}, {"C1": D}, {"C1": D + timedelta(days=2)}, TOL) == []


def test_a_contract_gone_from_the_ledger_gets_no_event():
    assert decide_paid({}, {"C1": D}, {"C1": D}, {}, TOL) == []


def _ledger(paid: str | None) -> Ledger:
    due = D - timedelta(days=10)
    pays = (Payment("PAY1", "C1", D - timedelta(days=1), Decimal(paid), None),) if paid else ()
    return Ledger((Counterparty("P1", "ООО «Клиент»"),), (Contract("C1", "1/2026", "P1"),),
                  (Invoice("I1", "1", "C1", due - timedelta(days=30), due, Decimal("700.00")),
                   Invoice("I2", "2", "C1", due - timedelta(days=30), D + timedelta(days=5), Decimal("300.00"))),
                  pays)


def test_only_debt_past_its_due_date_counts_as_overdue():
    assert overdue_balances(_ledger("650.00"), ["C1", "C9"], D) == {"C1": Decimal("50.00")}
    # I2 is not due yet: paying I1 in full leaves no overdue debt, though the contract still owes 300.
    assert overdue_balances(_ledger("700.00"), ["C1"], D) == {"C1": Decimal("0.00")}


def _services(store, paid_scenario="t_paid"):
    groups = {"default": SimpleNamespace(columns=[SimpleNamespace(id="before_3", offset=-3),
                                                  SimpleNamespace(id="overdue_1", offset=1)])}
    settings = SimpleNamespace(events=SimpleNamespace(paid=paid_scenario), groups=groups,
                               aging=SimpleNamespace(tolerance=TOL))
    return SimpleNamespace(config=SimpleNamespace(settings=settings), store=store)


def _record(store, contract_id, column, as_of, invoices=()):
    return store.record_event_runs([EventRun(contract_id, column, "s", as_of, tuple(invoices))], T0)[0]


def test_paid_events_read_the_history_and_fire_once_per_episode(store):
    letter = D - timedelta(days=9)
    _record(store, "C1", "before_3", letter - timedelta(days=4),
            [{"id": "I9", "open_amount": "1", "days_past_due": -3}])
    _record(store, "C1", "overdue_1", letter, [{"id": "I1", "open_amount": "700.00", "days_past_due": 1}])
    services = _services(store)
    assert paid_events(services, _ledger("600.00"), D) == []  # 100 still overdue
    events = paid_events(services, _ledger("700.00"), D)
    assert events == [EventRun("C1", "paid", "t_paid", D,
                               ({"id": "I1", "open_amount": "0.00", "days_past_due": 10},))]
    assert store.record_event_runs(events, T0)
    assert paid_events(services, _ledger("700.00"), D + timedelta(days=1)) == []
    assert paid_events(_services(store, None), _ledger("700.00"), D) == []  # events.paid unset: nothing


def test_a_block_without_a_letter_fires_the_paid_event_with_the_blocking_runs_invoices(store):
    run = _record(store, "C1", "manual", D - timedelta(days=2),
                  [{"id": "I1", "open_amount": "700", "days_past_due": 8}])
    b = sb.record_blocking(store, run_id=run, step_idx=0, contract_id="C1", counterparty_id="P1",
                           scope=sb.BlockScope.CONTRACT, connector="erp", reason="r", now=T0)
    assert paid_events(_services(store), _ledger("700.00"), D) == []  # not confirmed: not a block yet
    sb.confirm_blocked(store, b.id, "ok", T0)
    [event] = paid_events(_services(store), _ledger("700.00"), D)
    assert event.contract_id == "C1" and [i["id"] for i in event.invoices] == ["I1"]
