"""Money, dates and amounts in words as Russian business documents write them.

Pure functions, no I/O. Money is always :class:`~decimal.Decimal` (or an ``int``); a ``float`` is refused
because it cannot represent kopecks exactly. Amounts are rounded ROUND_HALF_UP to hundredths, the way
accounting rounds.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from num2words import num2words

#: No-break space: keeps "1 234 567,80 руб." on one line when a paragraph wraps.
NBSP = "\u00a0"

_CENT = Decimal("0.01")

#: Plural forms (one, few, many) of the major and minor units, per currency.
#: All major units are grammatically masculine (евро is used as masculine: "один евро"), so num2words'
#: default masculine cardinals fit; kopecks and cents are only written as digits, so their gender never matters.
_UNITS: dict[str, tuple[tuple[str, str, str], tuple[str, str, str]]] = {
    "RUB": (("рубль", "рубля", "рублей"), ("копейка", "копейки", "копеек")),
    "USD": (("доллар", "доллара", "долларов"), ("цент", "цента", "центов")),
    "EUR": (("евро", "евро", "евро"), ("цент", "цента", "центов")),
}

#: Short unit labels after an amount in figures; other currencies show their ISO code.
_LABELS = {"RUB": "руб."}

#: RUR is the pre-1998 code still exported by some ledgers (1С); it is the same rouble.
_ALIASES = {"RUR": "RUB"}


def _currency(code: str) -> str:
    code = code.strip().upper()
    return _ALIASES.get(code, code)


def _to_cents(amount: Decimal | int) -> Decimal:
    """Validate and round an amount to hundredths (ROUND_HALF_UP)."""
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise TypeError(f"money must be a Decimal or an int, not {type(amount).__name__}: {amount!r}")
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError(f"money must be a finite number, not {value}")
    rounded = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    # -0.004 rounds to -0.00; a letter must never say "-0,00".
    return rounded if rounded != 0 else Decimal("0.00")


def _group(digits: str) -> str:
    """'1234567' -> '1 234 567' with no-break spaces between groups of three."""
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return NBSP.join(groups)


def format_number(amount: Decimal | int) -> str:
    """An amount in figures without a unit: ``Decimal("1234567.8")`` -> ``"1 234 567,80"`` (NBSP groups)."""
    value = _to_cents(amount)
    sign = "-" if value < 0 else ""
    whole, frac = f"{abs(value):.2f}".split(".")
    return f"{sign}{_group(whole)},{frac}"


def format_money(amount: Decimal | int, currency: str = "RUB") -> str:
    """An amount with its unit: ``1 234 567,80 руб.``, ``1 234,00 USD``.

    Group separators and the space before the unit are no-break spaces, so an amount never wraps.
    Negative amounts keep their minus sign.
    """
    return f"{format_number(amount)}{NBSP}{currency_label(currency)}"


def currency_label(currency: str = "RUB") -> str:
    """The unit shown after amounts and in table headers: ``руб.`` for roubles, the ISO code otherwise."""
    code = _currency(currency)
    return _LABELS.get(code, code)


def format_date(d: date) -> str:
    """A date as ``dd.mm.yyyy``."""
    if not isinstance(d, date):
        raise TypeError(f"expected a date, not {type(d).__name__}: {d!r}")
    return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"


def format_percent(rate: Decimal | int) -> str:
    """A fraction as a Russian percentage: ``Decimal("0.001")`` -> ``"0,1 %"`` (NBSP before the sign).

    Trailing zeros are dropped (``0.05`` -> ``5 %``), no rounding is applied: a contractual rate is
    quoted exactly as agreed.
    """
    if isinstance(rate, bool) or not isinstance(rate, (Decimal, int)):
        raise TypeError(f"a rate must be a Decimal or an int, not {type(rate).__name__}: {rate!r}")
    pct = (Decimal(rate) * 100).normalize()
    text = f"{pct:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text.replace('.', ',')}{NBSP}%"


def plural(n: int, one: str, few: str, many: str) -> str:
    """Pick the Russian plural form for the integer ``n``: ``plural(21, "день", "дня", "дней")`` -> ``"день"``."""
    n = abs(int(n))
    if 11 <= n % 100 <= 14:
        return many
    if n % 10 == 1:
        return one
    if 2 <= n % 10 <= 4:
        return few
    return many


def amount_in_words(amount: Decimal | int, currency: str = "RUB") -> str:
    """The amount as written in Russian documents: whole units in words, the minor units as two digits.

    ``Decimal("1234.56")`` -> ``"одна тысяча двести тридцать четыре рубля 56 копеек"``.
    Supported currencies: RUB, USD, EUR (a ValueError names any other).

    num2words' own currency mode is not used: it spells kopecks in words and puts a comma before them
    ("..., пятьдесят шесть копеек"), which is not the form used in payment documents.
    """
    code = _currency(currency)
    if code not in _UNITS:
        raise ValueError(f"amount in words is not supported for currency {currency!r} (supported: RUB, USD, EUR)")
    major_forms, minor_forms = _UNITS[code]
    value = _to_cents(amount)
    whole, frac = divmod(int(abs(value) * 100), 100)
    words = num2words(whole, lang="ru")
    sign = "минус " if value < 0 else ""
    return f"{sign}{words} {plural(whole, *major_forms)} {frac:02d} {plural(frac, *minor_forms)}"


def amount_in_words_capitalized(amount: Decimal | int, currency: str = "RUB") -> str:
    """:func:`amount_in_words` starting with a capital letter, to open a sentence or a parenthesis."""
    return capitalize_first(amount_in_words(amount, currency))


def capitalize_first(text: str) -> str:
    """Upper-case only the first character (str.capitalize would lower-case the rest)."""
    return text[:1].upper() + text[1:]
