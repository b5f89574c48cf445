"""Penalties against hand-computed cases (contractual, ст. 395 interest, the cap, the shifted due date), and the base
timeline against the ledger's balances."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robots.config.penalty_config import KeyRate, PenaltiesConfig
from robots.core.balances import open_balances
from robots.core.penalties import (
    Accrual,
    Change,
    ContractualRate,
    PenaltyError,
    PenaltyPeriod,
    RateSpan,
    StatutoryRate,
    accrue,
    cap,
    open_on,
    open_timelines,
    penalty_for,
    shifted_due_date,
)
from robots.core.workdays import production_calendar
from tests.builders import inv, ledger, pay

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


# -- penalty_for: statutory interest, the cap, the shifted due date (cases computed by hand) -----------------------

#: The Bank of Russia key rate (cbr.ru), from the date each decision took effect.
KEY_RATES = (
    KeyRate(since=date(2024, 7, 29), rate=D("0.18")),
    KeyRate(since=date(2024, 9, 16), rate=D("0.19")),
    KeyRate(since=date(2024, 10, 28), rate=D("0.21")),
    KeyRate(since=date(2025, 6, 9), rate=D("0.20")),
    KeyRate(since=date(2025, 7, 28), rate=D("0.18")),
    KeyRate(since=date(2025, 9, 15), rate=D("0.17")),
    KeyRate(since=date(2025, 10, 27), rate=D("0.165")),
)
STATUTORY = PenaltiesConfig(basis="statutory", key_rates=KEY_RATES)
RU = production_calendar("RU").is_working


def _always(day: date) -> bool:
    return True


def computed(book, invoice_id: str, through: date, config: PenaltiesConfig, rate: str | None = "0.001",
             is_working=_always):
    invoice = next(i for i in book.invoices if i.id == invoice_id)
    return penalty_for(open_timelines(book, through)[invoice_id], invoice.due_date, through, principal=invoice.amount,
                       contract_rate=None if rate is None else D(rate), config=config, is_working=is_working)


def rows(accrual):
    return [(p.start, p.end, p.base, p.days, p.rate, p.amount) for p in accrual.periods]


def test_contractual_penalty_with_two_partial_payments():
    book = ledger([inv("A", "100000.00")], [pay("P1", "30000.00", date(2026, 3, 15), invoice="A"),
                                            pay("P2", "50000.00", date(2026, 3, 25), invoice="A")])
    result = computed(book, "A", date(2026, 3, 31), PenaltiesConfig(), is_working=RU)
    # 11 .. 15 March: 5 days × 100 000.00 × 0.001 = 500.00
    # 16 .. 25 March: 10 days × 70 000.00 × 0.001 = 700.00
    # 26 .. 31 March: 6 days × 20 000.00 × 0.001 = 120.00        total 1 320.00
    assert rows(result) == [
        (date(2026, 3, 11), date(2026, 3, 15), D("100000.00"), 5, D("0.001"), D("500.00")),
        (date(2026, 3, 16), date(2026, 3, 25), D("70000.00"), 10, D("0.001"), D("700.00")),
        (date(2026, 3, 26), date(2026, 3, 31), D("20000.00"), 6, D("0.001"), D("120.00"))]
    assert result.total == D("1320.00") and result.basis == "contractual" and not result.capped


def test_statutory_interest_splits_at_a_key_rate_change():
    book = ledger([inv("A", "100000.00", due=date(2025, 7, 18))])  # a Friday
    result = computed(book, "A", date(2025, 8, 10), STATUTORY)
    # 19 .. 27 July at 20 %: 100 000.00 × 0.20 × 9 / 365 = 180 000 / 365 = 493.1506… -> 493.15
    # 28 July .. 10 August at 18 %: 100 000.00 × 0.18 × 14 / 365 = 252 000 / 365 = 690.4109… -> 690.41
    assert rows(result) == [
        (date(2025, 7, 19), date(2025, 7, 27), D("100000.00"), 9, D("0.20"), D("493.15")),
        (date(2025, 7, 28), date(2025, 8, 10), D("100000.00"), 14, D("0.18"), D("690.41"))]
    assert [p.year_days for p in result.periods] == [365, 365]
    assert result.total == D("1183.56") and result.basis == "statutory"


def test_statutory_interest_splits_at_a_year_end_into_a_leap_year():
    book = ledger([inv("A", "500000.00", due=date(2027, 12, 20))])
    result = computed(book, "A", date(2028, 1, 15), STATUTORY)
    # 21 .. 31 December 2027 at 16.5 %: 500 000.00 × 0.165 × 11 / 365 = 907 500 / 365 = 2 486.3013… -> 2 486.30
    # 1 .. 15 January 2028 (366 days): 500 000.00 × 0.165 × 15 / 366 = 1 237 500 / 366 = 3 381.1475… -> 3 381.15
    assert rows(result) == [
        (date(2027, 12, 21), date(2027, 12, 31), D("500000.00"), 11, D("0.165"), D("2486.30")),
        (date(2028, 1, 1), date(2028, 1, 15), D("500000.00"), 15, D("0.165"), D("3381.15"))]
    assert [p.year_days for p in result.periods] == [365, 366]
    assert result.total == D("5867.45")


def test_statutory_interest_out_of_a_leap_year_with_a_partial_payment():
    book = ledger([inv("A", "100000.00", due=date(2024, 12, 24))], [pay("P1", "40000.00", date(2025, 1, 3))])
    result = computed(book, "A", date(2025, 1, 9), STATUTORY)
    # 25 .. 31 December 2024 (366 days) at 21 %: 100 000.00 × 0.21 × 7 / 366 = 147 000 / 366 = 401.6393… -> 401.64
    # 1 .. 3 January 2025: 100 000.00 × 0.21 × 3 / 365 = 63 000 / 365 = 172.6027… -> 172.60
    # 4 .. 9 January on 60 000.00: 60 000.00 × 0.21 × 6 / 365 = 75 600 / 365 = 207.1232… -> 207.12
    assert [(p.start, p.end, p.base, p.amount) for p in result.periods] == [
        (date(2024, 12, 25), date(2024, 12, 31), D("100000.00"), D("401.64")),
        (date(2025, 1, 1), date(2025, 1, 3), D("100000.00"), D("172.60")),
        (date(2025, 1, 4), date(2025, 1, 9), D("60000.00"), D("207.12"))]
    assert result.total == D("781.36")


def test_a_contract_without_its_own_rate_gets_statutory_interest_when_key_rates_are_set():
    book = ledger([inv("A", "100000.00", due=date(2025, 7, 18))])
    with_rates = computed(book, "A", date(2025, 7, 27), PenaltiesConfig(key_rates=KEY_RATES), rate=None)
    assert with_rates.basis == "statutory" and with_rates.total == D("493.15")
    without = computed(book, "A", date(2025, 7, 27), PenaltiesConfig(), rate=None)
    assert without.basis == "none" and without.periods == () and without.total == D("0")
    # the statutory basis ignores the contract's own rate
    assert computed(book, "A", date(2025, 7, 27), STATUTORY, rate="0.001").total == D("493.15")


def test_a_day_before_the_key_rate_table_is_an_error_that_says_how_to_fix_it():
    book = ledger([inv("A", "100000.00", due=date(2024, 7, 20))])
    with pytest.raises(PenaltyError, match=r"no key rate for 2024-07-21: penalties.key_rates starts on 2024-07-29"):
        computed(book, "A", date(2024, 8, 5), STATUTORY)
    with pytest.raises(PenaltyError, match="penalties.key_rates"):
        computed(book, "A", date(2024, 8, 5), PenaltiesConfig(basis="statutory"))


def test_the_cap_cuts_the_period_where_it_is_reached_and_drops_the_later_ones():
    book = ledger([inv("A", "10000.00")], [pay("P1", "4000.00", date(2026, 3, 20), invoice="A"),
                                           pay("P2", "1000.00", date(2026, 4, 10), invoice="A")])
    config = PenaltiesConfig(cap_share=D("0.10"))  # at most 10 % of 10 000.00 = 1 000.00
    result = computed(book, "A", date(2026, 4, 30), config, rate="0.005")
    # uncapped: 11 .. 20 March 10 × 50.00 = 500.00; 21 March .. 10 April 21 × 30.00 = 630.00;
    #           11 .. 30 April 20 × 25.00 = 500.00 (1 630.00 in all)
    # capped:   500.00, then the second period is cut to 1 000.00 − 500.00 = 500.00 and the third is dropped
    assert [(p.start, p.end, p.days, p.amount, p.capped) for p in result.periods] == [
        (date(2026, 3, 11), date(2026, 3, 20), 10, D("500.00"), False),
        (date(2026, 3, 21), date(2026, 4, 10), 21, D("500.00"), True)]
    assert result.total == D("1000.00") and result.capped
    uncapped = computed(book, "A", date(2026, 4, 30), PenaltiesConfig(), rate="0.005")
    assert uncapped.total == D("1630.00") and not uncapped.capped
    # under the cap nothing changes
    assert computed(book, "A", date(2026, 3, 25), config, rate="0.005").total == D("650.00")


def test_a_cap_reached_exactly_by_the_last_period_is_not_a_cut():
    period = PenaltyPeriod(date(2026, 3, 11), date(2026, 3, 20), D("1000.00"), 10, D("0.01"), D("100.00"))
    assert cap(Accrual((period,)), D("100.00")) == Accrual((period,))
    assert cap(Accrual((period, period)), D("100.00")).capped


def test_a_due_date_on_a_saturday_before_a_holiday_moves_to_the_next_working_day():
    # 7 March 2026 is a Saturday, 8 March a holiday on a Sunday, so Monday 9 March is a day off: due on the 10th
    assert shifted_due_date(date(2026, 3, 7), RU) == date(2026, 3, 10)
    assert shifted_due_date(date(2026, 1, 1), RU) == date(2026, 1, 12)  # the New Year holidays
    assert shifted_due_date(date(2026, 3, 10), RU) == date(2026, 3, 10)
    book = ledger([inv("A", "100000.00", due=date(2026, 3, 7))])
    # shifted: 11 .. 20 March = 10 days × 100.00 = 1 000.00; not shifted: 8 .. 20 March = 13 days = 1 300.00
    assert computed(book, "A", date(2026, 3, 20), PenaltiesConfig(), is_working=RU).total == D("1000.00")
    assert computed(book, "A", date(2026, 3, 20), PenaltiesConfig(shift_due_date=False),
                    is_working=RU).total == D("1300.00")


def test_the_key_rate_table_must_be_in_date_order():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must come after entry 0"):
        PenaltiesConfig(key_rates=(KEY_RATES[1], KEY_RATES[0]))
    with pytest.raises(PenaltyError, match="date order"):
        StatutoryRate(((date(2025, 1, 1), D("0.2")), (date(2025, 1, 1), D("0.21"))))
