"""Contractual penalties against hand-computed cases, and the base timeline against the ledger's balances."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from robots.balances import open_balances
from robots.penalties import (
    Change,
    ContractualRate,
    PenaltyPeriod,
    RateSpan,
    accrue,
    open_on,
    open_timelines,
)
from tests.core.builders import inv, ledger, pay

D = Decimal
DUE = date(2026, 3, 10)
RATE = ContractualRate(D("0.001"))  # 0.1 % a day


def penalty(book, invoice_id: str, through: date, rate: ContractualRate = RATE):
    due = next(i.due_date for i in book.invoices if i.id == invoice_id)
    return accrue(open_timelines(book, through)[invoice_id], due, through, rate)


def test_an_unpaid_invoice_accrues_from_the_day_after_its_due_date_through_the_day_asked():
    book = ledger([inv("A", "100000.00")])
    result = penalty(book, "A", date(2026, 3, 20))
    # 11 .. 20 March = 10 days × 100 000.00 × 0.001 = 1 000.00
    assert result.periods == (PenaltyPeriod(date(2026, 3, 11), date(2026, 3, 20), D("100000.00"), 10, D("0.001"),
                                            D("1000.00")),)
    assert result.total == D("1000.00") and result.days == 10


def test_nothing_accrues_on_or_before_the_due_date():
    book = ledger([inv("A", "100000.00")])
    assert penalty(book, "A", DUE).periods == ()
    assert penalty(book, "A", DUE - timedelta(days=5)).total == D("0")


def test_a_partial_payment_reduces_the_base_from_the_day_after_it():
    book = ledger([inv("A", "100000.00")], [pay("P1", "40000.00", date(2026, 3, 15), invoice="A")])
    result = penalty(book, "A", date(2026, 3, 20))
    # 11 .. 15 March on 100 000.00 (the payment day accrues on the old base): 5 × 100.00 = 500.00
    # 16 .. 20 March on 60 000.00: 5 × 60.00 = 300.00
    assert [(p.start, p.end, p.base, p.days, p.amount) for p in result.periods] == [
        (date(2026, 3, 11), date(2026, 3, 15), D("100000.00"), 5, D("500.00")),
        (date(2026, 3, 16), date(2026, 3, 20), D("60000.00"), 5, D("300.00")),
    ]
    assert result.total == D("800.00")


def test_accrual_stops_on_the_day_of_full_payment_inclusive():
    book = ledger([inv("A", "100000.00")], [pay("P1", "100000.00", date(2026, 3, 15))])
    assert penalty(book, "A", date(2026, 3, 31)).total == D("500.00")  # 11 .. 15 March
    assert penalty(book, "A", date(2026, 3, 13)).total == D("300.00")  # not paid yet on the 13th: 11 .. 13


def test_a_payment_before_or_on_the_due_date_lowers_the_first_base():
    early = ledger([inv("A", "100000.00")], [pay("P1", "30000.00", date(2026, 3, 5))])
    on_due = ledger([inv("A", "100000.00")], [pay("P1", "30000.00", DUE)])
    for book in (early, on_due):
        result = penalty(book, "A", date(2026, 3, 20))
        assert [(p.base, p.days, p.amount) for p in result.periods] == [(D("70000.00"), 10, D("700.00"))]


def test_an_undirected_payment_pays_the_oldest_due_first_and_each_invoice_accrues_on_its_own_base():
    a = inv("A", "1000.00", due=date(2026, 3, 1))
    b = inv("B", "2000.00", due=date(2026, 3, 5))
    book = ledger([a, b], [pay("P1", "1500.00", DUE)])
    through = date(2026, 3, 20)
    # A: 2 .. 10 March (paid in full on the 10th) = 9 days × 1.00 = 9.00
    assert penalty(book, "A", through).total == D("9.00")
    # B: 6 .. 10 March on 2 000.00 = 5 × 2.00 = 10.00; 11 .. 20 March on 1 500.00 = 10 × 1.50 = 15.00
    b_result = penalty(book, "B", through)
    assert [(p.start, p.base, p.amount) for p in b_result.periods] == [
        (date(2026, 3, 6), D("2000.00"), D("10.00")), (date(2026, 3, 11), D("1500.00"), D("15.00"))]
    assert b_result.total == D("25.00")


def test_a_credit_note_reduces_the_base_like_an_undirected_payment():
    note = inv("CN", "-250.00", due=date(2026, 3, 14), issued=date(2026, 3, 14))
    book = ledger([inv("A", "1000.00"), note])
    result = penalty(book, "A", date(2026, 3, 18))
    # 11 .. 14 March on 1 000.00 = 4.00; 15 .. 18 March on 750.00 = 4 × 0.75 = 3.00
    assert [(p.base, p.days, p.amount) for p in result.periods] == [(D("1000.00"), 4, D("4.00")),
                                                                   (D("750.00"), 4, D("3.00"))]


def test_each_period_is_rounded_half_up_to_kopecks_and_the_total_is_their_sum():
    # 5.00 × 0.001 = 0.005 a day: one day rounds up to 0.01 (half-even would give 0.00)
    book = ledger([inv("A", "10.00")], [pay("P1", "5.00", date(2026, 3, 11)), pay("P2", "4.00", date(2026, 3, 12))])
    result = penalty(book, "A", date(2026, 3, 13))
    # 11 March on 10.00 = 0.01; 12 March on 5.00 = 0.005 -> 0.01; 13 March on 1.00 = 0.001 -> 0.00
    assert [(p.base, p.amount) for p in result.periods] == [(D("10.00"), D("0.01")), (D("5.00"), D("0.01")),
                                                           (D("1.00"), D("0.00"))]
    assert result.total == D("0.02")  # not 0.016 rounded once


def test_a_rate_with_many_decimals_is_exact_before_rounding():
    book = ledger([inv("A", "123456789.99")])
    result = penalty(book, "A", DUE + timedelta(days=365), ContractualRate(D("0.0001234567")))
    # 12 345 678 999 kopecks × 1 234 567 × 365 = 5 563 172 277 936 828 045 (× 10^-12 RUB) -> 5 563 172.28
    assert result.total == D("5563172.28")


def test_a_later_invoice_due_earlier_can_take_back_pool_credit_and_raise_the_base():
    a = inv("A", "1000.00", due=date(2026, 3, 20), issued=date(2026, 3, 1))
    b = inv("B", "500.00", due=date(2026, 3, 15), issued=date(2026, 3, 12))
    book = ledger([a, b], [pay("P1", "600.00", date(2026, 3, 5))])
    timeline = open_timelines(book, date(2026, 3, 25))
    assert timeline["A"] == (Change(date(2026, 3, 1), D("1000.00")), Change(date(2026, 3, 5), D("400.00")),
                             Change(date(2026, 3, 12), D("900.00")))
    # the pool pays B (due first) once it exists; A accrues 21 .. 25 March on 900.00 = 5 × 0.90 = 4.50
    assert penalty(book, "A", date(2026, 3, 25)).total == D("4.50")
    assert penalty(book, "B", date(2026, 3, 25)).periods == ()


def test_a_rate_schedule_splits_periods_where_its_rate_changes():
    class Stepped:  # e.g. a key-rate table: the rate changes on the 16th
        def spans(self, start, end):
            change = date(2026, 3, 16)
            if start < change <= end:
                return (RateSpan(start, change - timedelta(days=1), D("0.001")), RateSpan(change, end, D("0.002")))
            return (RateSpan(start, end, D("0.002") if start >= change else D("0.001")),)

        def amount(self, base, rate, days):
            return base * rate * days

    book = ledger([inv("A", "1000.00")])
    result = penalty(book, "A", date(2026, 3, 20), Stepped())
    assert [(p.start, p.end, p.rate, p.amount) for p in result.periods] == [
        (date(2026, 3, 11), date(2026, 3, 15), D("0.001"), D("5.00")),
        (date(2026, 3, 16), date(2026, 3, 20), D("0.002"), D("10.00"))]


# -- the timeline is the ledger's own allocation, day by day ------------------------------------------------------

_START = date(2026, 3, 1)
_day = st.integers(0, 20).map(lambda n: _START + timedelta(days=n))
_cents = st.integers(1, 100_000).map(lambda k: D(k).scaleb(-2))


@st.composite
def _ledgers(draw):
    invoices = []
    for n in range(draw(st.integers(1, 5))):
        issued = draw(_day)
        due = issued + timedelta(days=draw(st.integers(0, 10)))
        contract = draw(st.sampled_from(["C1", "C2"]))
        amount = draw(_cents)
        if draw(st.integers(0, 5)) == 0:
            amount = -amount  # a credit note
        invoices.append(inv(f"I{n}", str(amount), due=due, contract=contract, issued=issued))
    payments = []
    for n in range(draw(st.integers(0, 5))):
        named = draw(st.sampled_from([None, *(i.id for i in invoices)]))
        payments.append(pay(f"P{n}", str(draw(_cents)), draw(_day), contract=draw(st.sampled_from(["C1", "C2"])),
                            invoice=named))
    return ledger(invoices, payments, contracts=("C1", "C2"))


@settings(max_examples=300, deadline=None)
@given(_ledgers())
def test_the_timeline_gives_the_ledgers_open_balance_on_every_day(book):
    through = _START + timedelta(days=25)
    timelines = open_timelines(book, through)
    for n in range(-1, 27):
        day = _START + timedelta(days=n)
        expected = open_balances(book, day).open if day <= through else open_balances(book, through).open
        got = {i: open_on(t, min(day, through)) for i, t in timelines.items() if t[0].day <= day}
        assert got == expected, day
