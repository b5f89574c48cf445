"""Open promises to pay in the weekly cash-inflow plan, by their promised date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from robots.core.domain import Contract, Counterparty, Invoice, Ledger
from robots.core.kpi.facts import KpiInputs, PromiseFact
from robots.core.kpi.figures import cash_plan

AS_OF = date(2026, 3, 11)  # a Wednesday
LEDGER = Ledger((Counterparty("P1", "ООО «Клиент»"),), (Contract("C1", "1", "P1"),),
                (Invoice("I1", "1", "C1", date(2026, 2, 1), date(2026, 3, 2), D("1000.00")),))


def plan(*promises):
    inputs = KpiInputs(LEDGER, AS_OF, 365, 90, None, {}, promises=tuple(promises))
    return {w.start: w for w in cash_plan(inputs, weeks_back=1, weeks_ahead=2)}


def test_open_promises_add_up_in_the_week_of_their_date_beside_the_contractual_plan():
    weeks = plan(PromiseFact(1, "C1", D("300.00"), date(2026, 3, 13)), PromiseFact(2, "C1", D("200.50"),
                                                                                     date(2026, 3, 15)),
                 PromiseFact(3, "C1", D("100.00"), date(2026, 3, 18)))
    assert weeks[date(2026, 3, 9)].promised == D("500.50")
    assert weeks[date(2026, 3, 16)].promised == D("100.00")
    assert weeks[date(2026, 3, 2)].open == D("1000.00")  # the invoice stays in its due week
    assert weeks[date(2026, 3, 2)].promised == D("0.00")


def test_without_promises_the_plan_has_none():
    assert all(w.promised == D("0") for w in plan().values())


def test_a_promise_outside_the_weeks_is_left_out():
    weeks = plan(PromiseFact(1, "C1", D("300.00"), date(2026, 6, 1)))
    assert sum(w.promised for w in weeks.values()) == D("0")
