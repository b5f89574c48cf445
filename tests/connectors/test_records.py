"""The shared validator: typed JSON values and text are read by the same rules, problems are located exactly."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import Problem, Record, Where
from connectors.records import (
    build_ledger,
    parse_date,
    parse_money,
    parse_payment_days,
    parse_penalty_percent,
    parse_text,
)
from robots.core.domain import Contract, Counterparty, Invoice, Payment


@pytest.mark.parametrize("value, expected", [
    (Decimal("1234.50"), Decimal("1234.50")), (Decimal("7"), Decimal("7.00")), (1200, Decimal("1200.00")),
    (12.3, Decimal("12.30")), ("1 234,56", Decimal("1234.56")), ("\u22122 138,00", Decimal("-2138.00")),
    ("-50", Decimal("-50.00")),
])
def test_money_from_json_numbers_and_text(value, expected):
    assert parse_money(value) == expected


@pytest.mark.parametrize("value, message", [
    (Decimal("1.005"), "more than 2 decimal places"), (True, "not an amount"), ("12 руб", "contains letters"),
    (Decimal("1e16"), "too large"), (Decimal("NaN"), "not an amount"), ([1], "not an amount"),
])
def test_bad_money_says_why(value, message):
    with pytest.raises(ValueError, match=message):
        parse_money(value)


@given(st.decimals(min_value=Decimal("-999999999999.99"), max_value=Decimal("999999999999.99"), places=2))
def test_any_two_place_decimal_round_trips_as_number_and_as_text(d):
    assert parse_money(d) == d and parse_money(f"{d:.2f}") == d


@pytest.mark.parametrize("value, expected", [
    ("2026-03-31", date(2026, 3, 31)), ("31.03.2026", date(2026, 3, 31)), ("2026-03-31T00:00:00", date(2026, 3, 31)),
    ("2026-03-31T23:59:59.123+03:00", date(2026, 3, 31)), ("2026-03-31 10:00", date(2026, 3, 31)),
    (datetime(2026, 3, 31, 14, 5), date(2026, 3, 31)), (date(2026, 3, 31), date(2026, 3, 31)),
])
def test_dates_from_text_iso_timestamps_and_parsed_values(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["2026-02-30", "31/03/2026", 20260331, "2026-03-31T25"])
def test_bad_dates_are_refused(value):
    with pytest.raises(ValueError):
        parse_date(value)


def test_text_ids_numbers_and_other_fields():
    assert parse_text(42) == "42" and parse_text(Decimal("42")) == "42" and parse_text(None) == ""
    with pytest.raises(ValueError):
        parse_text(1.5)
    with pytest.raises(ValueError):
        parse_text(True)
    assert parse_payment_days("30") == 30 and parse_payment_days(Decimal("30")) == 30 and parse_payment_days(None) == 0
    with pytest.raises(ValueError, match="0 to 3650"):
        parse_payment_days(99999)
    assert parse_penalty_percent(Decimal("0.1")) == Decimal("0.001") and parse_penalty_percent("0,1%") == Decimal(
        "0.001")
    assert parse_penalty_percent(None) is None and parse_penalty_percent(Decimal("0")) is None


def _rec(source, page, n, **values):
    return Record(Where(source, page=page, record=n), values)


def test_typed_records_from_two_sources_build_one_ledger_and_problems_name_source_page_record_field():
    api = "erp: GET invoices"
    tables = {
        "counterparties": [_rec("erp: GET counterparties", 1, 1, id=7, name="ООО «Кедр»", inn="7707083893",
                                email=None, group=None)],
        "contracts": [_rec("erp: GET contracts", 1, 1, id="C1", number="15/2025", counterparty_id=7,
                           payment_days="30", currency=None, penalty_rate_per_day=Decimal("0.1"))],
        "invoices": [
            _rec(api, 1, 1, id="I1", number="101", contract_id="C1", date="2026-03-01T00:00:00", due_date=None,
                 amount=Decimal("1200.00")),
            _rec(api, 2, 1, id="I2", number="102", contract_id="C1", date=date(2026, 3, 2), due_date="",
                 amount=Decimal("-100.5")),
        ],
        "payments": [Record(Where("выписка.xlsx", line=2), {"id": "P1", "contract_id": "C1", "date": "05.03.2026",
                                                             "amount": 500})],
    }
    problems: list[Problem] = []
    ledger = build_ledger(tables, problems, {"default"})
    assert problems == []
    assert ledger.counterparties == (Counterparty("7", "ООО «Кедр»", "7707083893", "", "default"),)
    assert ledger.contracts == (Contract("C1", "15/2025", "7", 30, "RUB", Decimal("0.001")),)
    assert ledger.invoices == (
        Invoice("I1", "101", "C1", date(2026, 3, 1), date(2026, 3, 31), Decimal("1200.00")),
        Invoice("I2", "102", "C1", date(2026, 3, 2), date(2026, 4, 1), Decimal("-100.50")))
    assert ledger.payments == (Payment("P1", "C1", date(2026, 3, 5), Decimal("500.00"), None),)

    tables["invoices"].append(_rec(api, 3, 17, id="I1", number=None, contract_id="C9", date="x",
                                   amount=Decimal("1.001")))
    problems = []
    build_ledger(tables, problems, {"default"})
    text = [str(p) for p in problems]
    assert text == [
        "erp: GET invoices page 3 record 17 field 'id': duplicate id 'I1': already used at erp: GET invoices page 1 "
        "record 1",
        "erp: GET invoices page 3 record 17 field 'number': is empty; this value is required",
        "erp: GET invoices page 3 record 17 field 'contract_id': unknown contract 'C9': no contract record has this id",
        "erp: GET invoices page 3 record 17 field 'date': 'x' is not a date in an accepted form; write it as "
        "2026-03-31 or 31.03.2026",
        "erp: GET invoices page 3 record 17 field 'amount': 1.001 has more than 2 decimal places (amounts go down to "
        "kopecks)",
    ]
