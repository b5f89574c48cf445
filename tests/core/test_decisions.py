"""The pure promise decision: kept by payments in the window or a closed debt, broken after date + grace."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal as D

from robots.core.decisions import Promise, PromiseStatus, decide_promise, decide_promises
from robots.core.domain import Contract, Invoice, Ledger, Payment

RECORDED, PROMISED, GRACE, TOL = date(2026, 3, 12), date(2026, 3, 20), 3, D("1.00")
DEADLINE = date(2026, 3, 23)
INVOICES = [Invoice("I1", "1", "C1", date(2026, 2, 1), date(2026, 3, 1), D("1000.00")),
            Invoice("I2", "2", "C1", date(2026, 2, 5), date(2026, 3, 5), D("500.00"))]


def promise(amount="600.00", invoice=None, pid=1):
    return Promise(pid, "C1", invoice, D(amount), PROMISED, RECORDED)


_PAYMENT_IDS = itertools.count(1)


def pay(day, amount, invoice=None):
    return Payment(f"P{next(_PAYMENT_IDS)}", "C1", day, D(amount), invoice)


def test_a_promise_is_open_until_its_date_plus_grace_when_nothing_was_paid():
    for day in (RECORDED, PROMISED, DEADLINE):
        assert decide_promise(promise(), INVOICES, [], day, GRACE, TOL) is None


def test_it_is_broken_the_day_after_its_date_plus_grace():
    out = decide_promise(promise(), INVOICES, [], date(2026, 3, 24), GRACE, TOL)
    assert (out.status, out.day, out.paid) == (PromiseStatus.BROKEN, date(2026, 3, 24), D("0"))


def test_partial_payments_that_sum_up_to_the_amount_keep_it():
    pays = [pay(date(2026, 3, 13), "200.00"), pay(date(2026, 3, 19), "250.00")]
    assert decide_promise(promise(), INVOICES, pays, date(2026, 3, 19), GRACE, TOL) is None  # 450 of 600
    pays.append(pay(date(2026, 3, 22), "150.00"))
    out = decide_promise(promise(), INVOICES, pays, date(2026, 3, 22), GRACE, TOL)
    assert (out.status, out.paid) == (PromiseStatus.KEPT, D("600.00"))


def test_a_shortfall_within_the_tolerance_still_keeps_it_but_not_beyond():
    assert decide_promise(promise(), INVOICES, [pay(RECORDED, "599.00")], RECORDED, GRACE, TOL).status == "kept"
    assert decide_promise(promise(), INVOICES, [pay(RECORDED, "598.99")], date(2026, 3, 24), GRACE,
                          TOL).status == "broken"


def test_payments_before_it_was_recorded_or_after_the_deadline_do_not_count():
    pays = [pay(date(2026, 3, 11), "600.00"), pay(date(2026, 3, 24), "600.00")]
    out = decide_promise(promise(), INVOICES, pays, date(2026, 3, 24), GRACE, TOL)
    assert (out.status, out.paid) == (PromiseStatus.BROKEN, D("0"))


def test_a_late_payment_seen_only_after_skipped_days_does_not_keep_it():
    pays = [pay(date(2026, 3, 25), "1500.00")]  # closes the whole debt, two days late
    assert decide_promise(promise(), INVOICES, pays, date(2026, 3, 30), GRACE, TOL).status == "broken"


def test_a_closed_debt_keeps_it_even_when_less_than_the_amount_was_paid_in_the_window():
    pays = [pay(date(2026, 3, 1), "1400.00"), pay(date(2026, 3, 15), "100.00")]  # the rest of 1500
    out = decide_promise(promise(), INVOICES, pays, date(2026, 3, 15), GRACE, TOL)
    assert (out.status, out.paid) == (PromiseStatus.KEPT, D("100.00"))


def test_an_invoice_promise_counts_payments_naming_it_or_none_but_not_those_naming_another_invoice():
    p = promise("400.00", invoice="I2")
    other = [pay(date(2026, 3, 14), "400.00", "I1")]
    assert decide_promise(p, INVOICES, other, date(2026, 3, 24), GRACE, TOL).status == "broken"
    mixed = [pay(date(2026, 3, 14), "300.00", "I2"), pay(date(2026, 3, 15), "100.00")]
    assert decide_promise(p, INVOICES, mixed, date(2026, 3, 15), GRACE, TOL).status == "kept"


def test_an_invoice_promise_is_kept_when_that_invoice_is_closed():
    p = promise("900.00", invoice="I2")
    pays = [pay(date(2026, 3, 14), "500.00", "I2")]  # the whole invoice, less than promised
    assert decide_promise(p, INVOICES, pays, date(2026, 3, 14), GRACE, TOL).status == "kept"


def test_a_contract_promise_is_not_kept_while_one_of_its_invoices_is_open():
    pays = [pay(date(2026, 3, 14), "500.00", "I2")]  # I2 closed, I1 open; 500 < 600
    assert decide_promise(promise(), INVOICES, pays, date(2026, 3, 24), GRACE, TOL).status == "broken"


def test_decide_promises_leaves_promises_of_contracts_gone_from_the_ledger_open():
    ledger = Ledger(contracts=(Contract("C1", "1", "P1"),), invoices=tuple(INVOICES))
    gone = Promise(2, "C9", None, D("10.00"), PROMISED, RECORDED)
    out = decide_promises([promise(), gone], ledger, date(2026, 3, 24), GRACE, TOL)
    assert [(o.promise_id, o.status) for o in out] == [(1, PromiseStatus.BROKEN)]


def test_a_zero_grace_breaks_it_the_day_after_the_promised_date():
    assert decide_promise(promise(), INVOICES, [], PROMISED, 0, TOL) is None
    assert decide_promise(promise(), INVOICES, [], date(2026, 3, 21), 0, TOL).status == "broken"
