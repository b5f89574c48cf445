"""Money, dates, percentages and amounts in words, as Russian documents write them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from robots.documents.formatting import (
    NBSP,
    amount_in_words,
    amount_in_words_capitalized,
    currency_label,
    format_date,
    format_money,
    format_number,
    format_percent,
    plural,
)


def sp(text: str) -> str:
    """Write expectations with ordinary spaces; amounts use no-break spaces."""
    return text.replace(" ", NBSP)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1234567.8", "RUB", "1 234 567,80 руб."),
        ("0", "RUB", "0,00 руб."),
        ("5", "RUB", "5,00 руб."),
        ("999.999", "RUB", "1 000,00 руб."),
        ("100000", "RUB", "100 000,00 руб."),
        ("-1234.5", "RUB", "-1 234,50 руб."),
        ("1234", "USD", "1 234,00 USD"),
        ("1234", "eur", "1 234,00 EUR"),
        ("10", "RUR", "10,00 руб."),  # the old rouble code some ledgers still export
    ],
)
def test_format_money(amount: str, currency: str, expected: str) -> None:
    assert format_money(Decimal(amount), currency) == sp(expected)


def test_format_money_uses_no_break_spaces_only() -> None:
    assert " " not in format_money(Decimal("1234567.89"))


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("0.005", "0,01"), ("2.675", "2,68"), ("0.004", "0,00"), ("-0.005", "-0,01"), ("-0.004", "0,00")],
)
def test_rounding_is_half_up_to_kopecks_and_never_minus_zero(amount: str, expected: str) -> None:
    assert format_number(Decimal(amount)) == expected


def test_ints_are_money_but_floats_are_refused() -> None:
    assert format_money(7) == sp("7,00 руб.")
    with pytest.raises(TypeError, match="float"):
        format_money(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        amount_in_words(0.1)  # type: ignore[arg-type]


def test_format_date() -> None:
    assert format_date(date(2026, 3, 5)) == "05.03.2026"
    assert format_date(date(2026, 12, 31)) == "31.12.2026"
    with pytest.raises(TypeError):
        format_date("2026-03-05")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [("0.001", "0,1 %"), ("0.0005", "0,05 %"), ("0.1", "10 %"), ("1", "100 %"), ("0.00033", "0,033 %")],
)
def test_format_percent(rate: str, expected: str) -> None:
    assert format_percent(Decimal(rate)) == sp(expected)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("1", "один рубль 00 копеек"),
        ("2", "два рубля 00 копеек"),
        ("5", "пять рублей 00 копеек"),
        ("11", "одиннадцать рублей 00 копеек"),
        ("21", "двадцать один рубль 00 копеек"),
        ("111", "сто одиннадцать рублей 00 копеек"),
        ("1000", "одна тысяча рублей 00 копеек"),
        ("1001", "одна тысяча один рубль 00 копеек"),
        ("0.01", "ноль рублей 01 копейка"),
        ("0.02", "ноль рублей 02 копейки"),
        ("0.11", "ноль рублей 11 копеек"),
        ("0.21", "ноль рублей 21 копейка"),
        ("1234.56", "одна тысяча двести тридцать четыре рубля 56 копеек"),
        ("1234567.89", "один миллион двести тридцать четыре тысячи пятьсот шестьдесят семь рублей 89 копеек"),
        ("2000000", "два миллиона рублей 00 копеек"),
        ("-3.5", "минус три рубля 50 копеек"),
    ],
)
def test_amount_in_words_rub(amount: str, expected: str) -> None:
    assert amount_in_words(Decimal(amount)) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("1.01", "USD", "один доллар 01 цент"),
        ("2.02", "USD", "два доллара 02 цента"),
        ("11.11", "USD", "одиннадцать долларов 11 центов"),
        ("1", "EUR", "один евро 00 центов"),
        ("21.05", "EUR", "двадцать один евро 05 центов"),
    ],
)
def test_amount_in_words_other_currencies(amount: str, currency: str, expected: str) -> None:
    assert amount_in_words(Decimal(amount), currency) == expected


def test_amount_in_words_rounds_half_up_first() -> None:
    assert amount_in_words(Decimal("0.995")) == "один рубль 00 копеек"


def test_amount_in_words_refuses_unsupported_currency() -> None:
    with pytest.raises(ValueError, match="CNY"):
        amount_in_words(Decimal("1"), "CNY")


def test_capitalized_variant() -> None:
    assert amount_in_words_capitalized(Decimal("1234.56")) == "Одна тысяча двести тридцать четыре рубля 56 копеек"


@pytest.mark.parametrize(("n", "expected"), [(0, "дней"), (1, "день"), (3, "дня"), (5, "дней"), (12, "дней"),
                                              (22, "дня"), (101, "день"), (111, "дней")])
def test_plural(n: int, expected: str) -> None:
    assert plural(n, "день", "дня", "дней") == expected


def test_currency_label() -> None:
    assert currency_label("RUB") == "руб."
    assert currency_label("usd") == "USD"
