"""The built-in demo accounting data: a realistic Russian B2B receivables ledger, generated from a seed.

Pure and deterministic: no clock, no I/O, only ``random.Random(seed)``; the same arguments give the same ledger.
The ledger covers a whole simulation of ``days`` days from ``start``: some invoices are older than ``start`` (so
debts are already open, some overdue, on day one), the rest are issued during the period, and payments arrive
on their own dates, so a day-by-day run over :func:`ledger_as_of` sees them come in.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment

CENT = Decimal("0.01")
KEY_ACCOUNTS = "key_accounts"

# Name parts as (Cyrillic, Latin) pairs, so an e-mail address can be derived from the company name.
_ROOT_A = (("Сиб", "sib"), ("Урал", "ural"), ("Волга", "volga"), ("Балт", "balt"), ("Техно", "tekhno"),
           ("Агро", "agro"), ("Энерго", "energo"), ("Пром", "prom"), ("Север", "sever"), ("Гранит", "granit"),
           ("Вектор", "vektor"), ("Альфа", "alfa"), ("Дельта", "delta"), ("Кедр", "kedr"), ("Ока", "oka"),
           ("Меридиан", "meridian"), ("Стандарт", "standart"), ("Кама", "kama"))
_ROOT_B = (("Снаб", "snab"), ("Торг", "torg"), ("Сервис", "servis"), ("Комплект", "komplekt"),
           ("Логистик", "logistik"), ("Ресурс", "resurs"), ("Трейд", "treid"), ("Строй", "stroi"),
           ("Маркет", "market"), ("Систем", "sistem"), ("Монтаж", "montazh"), ("Пласт", "plast"))
_SURNAMES = (("Кузнецов", "kuznetsov"), ("Смирнов", "smirnov"), ("Попов", "popov"), ("Соколов", "sokolov"),
             ("Лебедев", "lebedev"), ("Морозов", "morozov"), ("Волков", "volkov"), ("Фёдоров", "fedorov"),
             ("Голубев", "golubev"), ("Орлов", "orlov"), ("Зайцев", "zaitsev"), ("Никитин", "nikitin"),
             ("Белов", "belov"), ("Ершов", "ershov"), ("Карпов", "karpov"), ("Тихонов", "tikhonov"))
_INITIALS = (("А", "a"), ("В", "v"), ("Д", "d"), ("Е", "e"), ("И", "i"), ("М", "m"), ("Н", "n"), ("О", "o"),
             ("П", "p"), ("С", "s"), ("Т", "t"), ("Ю", "yu"))
_MAILBOXES = ("buh", "info", "finance", "oplata", "office")
_FREEMAIL = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru")
_REGIONS = ("77", "78", "50", "66", "54", "16", "52", "63", "74", "02", "23", "61")

# How customers pay, with their share; the rare kinds come first so that small ledgers still get one of each.
_PROFILES = (("partial", 0.11), ("never", 0.11), ("overpay", 0.08), ("very_late", 0.14), ("late", 0.22),
             ("prompt", 0.34))


@dataclass(frozen=True, slots=True)
class _Bill:
    """An invoice before numbering: installments are rows of one bill."""

    contract: Contract
    issued: date
    total_kop: int
    parts: int = 1


def _inn(rng: random.Random, individual: bool) -> str:
    """A random INN with correct check digit(s): 10 digits for a company, 12 for an individual (ИП)."""
    digits = [int(c) for c in rng.choice(_REGIONS)] + [rng.randint(0, 9) for _ in range(8 if individual else 7)]
    weights = ((7, 2, 4, 10, 3, 5, 9, 4, 6, 8), (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) if individual else (
        (2, 4, 10, 3, 5, 9, 4, 6, 8),)
    for w in weights:
        digits.append(sum(d * k for d, k in zip(digits, w)) % 11 % 10)
    return "".join(map(str, digits))


def _rub(kop: int) -> Decimal:
    return (Decimal(kop) / 100).quantize(CENT)


def _weekday(d: date) -> date:
    """The next working day on or after ``d``: accountants issue invoices and banks credit payments on weekdays."""
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _counterparties(rng: random.Random, n: int) -> list[Counterparty]:
    n_ip, n_ao = round(n * 0.2), round(n * 0.15)
    kinds = ["ИП"] * n_ip + ["АО"] * n_ao + ["ООО"] * (n - n_ip - n_ao)
    rng.shuffle(kinds)
    key = set(rng.sample(range(n), max(1, round(n * 0.2)))) if n >= 2 else set()
    names: set[str] = set()
    result = []
    for i, kind in enumerate(kinds):
        while True:
            if kind == "ИП":
                (sur, sur_lat), female = rng.choice(_SURNAMES), rng.random() < 0.35
                (i1, l1), (i2, l2) = rng.choice(_INITIALS), rng.choice(_INITIALS)
                sur, sur_lat = (sur + "а", sur_lat + "a") if female else (sur, sur_lat)
                name, email = f"ИП {sur} {i1}. {i2}.", f"{sur_lat}.{l1}{l2}@{rng.choice(_FREEMAIL)}"
            else:
                (a, a_lat), (b, b_lat), dash = rng.choice(_ROOT_A), rng.choice(_ROOT_B), rng.random() < 0.4
                name = f"{kind} «{a}-{b}»" if dash else f"{kind} «{a}{b}»"
                email = f"{rng.choice(_MAILBOXES)}@{a_lat}{'-' if dash else ''}{b_lat}.ru"
            if name not in names:  # two firms with one name would confuse everyone reading the letters
                break
        names.add(name)
        group = KEY_ACCOUNTS if i in key else "default"
        result.append(Counterparty(f"CP-{i + 1:03d}", name, _inn(rng, kind == "ИП"), email, group))
    return result


def _contract_number(rng: random.Random) -> str:
    year, style = rng.choice((2024, 2025, 2025, 2026)), rng.random()
    if style < 0.35:
        return f"{rng.randint(1, 250)}/{year}-П"  # поставка
    if style < 0.7:
        return f"Д-{rng.randint(1, 999):04d}"
    if style < 0.85:
        return f"{rng.randint(1, 99):02d}-{year % 100}/У"  # услуги
    return f"ДП-{year}/{rng.randint(1, 300):03d}"


def _contracts(rng: random.Random, counterparties: list[Counterparty], with_discounts: bool = False) -> list[Contract]:
    numbers: set[str] = set()
    result = []
    for cp in counterparties:
        for _ in range(2 if rng.random() < 0.3 else 1):
            number = _contract_number(rng)
            while number in numbers:
                number = _contract_number(rng)
            numbers.add(number)
            r = rng.random()
            penalty = Decimal("0.001") if r < 0.8 else Decimal("0.0005") if r < 0.9 else None
            days = rng.choice((10, 14, 30, 45))
            # every third contract rewards paying early (no draw from rng: the rest of the ledger stays the same)
            discounts = _DISCOUNTS.get(days, ()) if with_discounts and len(result) % 3 == 0 else ()
            result.append(Contract(f"CT-{len(result) + 1:03d}", number, cp.id, days, "RUB", penalty, discounts))
    return result


#: Early-payment discount tiers by payment term: (share, days after the invoice date).
_DISCOUNTS = {14: ((Decimal("0.03"), 7), (Decimal("0.02"), 14)), 30: ((Decimal("0.02"), 30),)}


def _bills(rng: random.Random, contracts: list[Contract], key: set[str], start: date, end: date) -> list[_Bill]:
    bills = []
    for ct in contracts:
        # Typical invoice size per contract, log-uniform from 15 thousand to 1.5 million rubles.
        base = math.exp(rng.uniform(math.log(15_000), math.log(1_500_000))) * (2 if ct.counterparty_id in key else 1)
        cadence = rng.choice((14, 30, 30, 30, 45))
        d = start - timedelta(days=rng.randint(20, 75))
        while d <= end - timedelta(days=3):
            bills.append(_Bill(ct, _weekday(d), round(base * rng.uniform(0.6, 1.4) * 100)))
            d += timedelta(days=cadence + rng.randint(-3, 3))
    # A few large bills are paid in installments: one invoice number, one row per installment.
    for i in rng.sample(range(len(bills)), min(len(bills), max(1, len(bills) // 40))):
        bills[i] = _Bill(bills[i].contract, bills[i].issued, bills[i].total_kop * 2, rng.choice((2, 3)))
    return sorted(bills, key=lambda b: (b.issued, b.contract.id))


def _invoices(rng: random.Random, bills: list[_Bill], end: date) -> list[Invoice]:
    counters: dict[int, int] = {}
    result: list[Invoice] = []
    for bill in bills:
        year = bill.issued.year
        # Numbering restarts each year, as in 1C; start mid-range so that numbers look lived-in.
        counters[year] = counters.get(year, bill.issued.timetuple().tm_yday * 4) + 1
        due = bill.issued + timedelta(days=bill.contract.payment_days)
        share, rest = divmod(bill.total_kop, bill.parts)
        for k in range(bill.parts):
            result.append(Invoice(f"INV-{len(result) + 1:05d}", str(counters[year]), bill.contract.id, bill.issued,
                                  due + timedelta(days=30 * k), _rub(share + (rest if k == bill.parts - 1 else 0))))
    # One or two credit notes: a partial return or a price correction, shortly after the original invoice.
    rows = Counter(i.number for i in result)
    singles = [i for i in result if rows[i.number] == 1 and i.date < end - timedelta(days=10)]
    for orig in rng.sample(singles, min(len(singles), 2 if len(result) >= 20 else 1)):
        issued = _weekday(orig.date + timedelta(days=rng.randint(3, 9)))
        amount = -_rub(round(orig.amount * 100 * Decimal(rng.randint(5, 20)) / 100))
        result.append(Invoice(f"INV-{len(result) + 1:05d}", f"{orig.number}-К", orig.contract_id, issued, issued,
                              amount))
    return sorted(result, key=lambda i: (i.date, i.id))


def _payments(rng: random.Random, invoices: list[Invoice], profile: dict[str, str], end: date) -> list[Payment]:
    credits = {(i.contract_id, i.number.removesuffix("-К")): i for i in invoices if i.is_credit_note}
    raw: list[tuple[date, str, str | None, Decimal]] = []  # (date, contract, invoice named, amount)
    for inv in invoices:
        kind = profile[inv.contract_id]
        if inv.is_credit_note or kind == "never":
            continue
        if kind == "prompt" and rng.random() < 0.1:
            kind = "late"  # even good payers slip now and then
        delay = {"prompt": -rng.randint(0, 5), "late": rng.randint(1, 12), "very_late": rng.randint(20, 50),
                 "partial": rng.randint(0, 10), "overpay": rng.randint(-2, 3)}[kind]
        paid = _weekday(max(inv.date, inv.due_date + timedelta(days=delay)))
        named: str | None = inv.id if rng.random() < 0.75 or kind in ("partial", "overpay") else None
        amount = inv.amount
        if (credit := credits.get((inv.contract_id, inv.number))) is not None:
            amount, named = amount + credit.amount, None  # the customer pays net of the credit note
        if kind == "partial":
            first = _rub(round(amount * 100 * Decimal(rng.randint(40, 70)) / 100))
            raw.append((paid, inv.contract_id, named, first))
            if rng.random() < 0.5:  # the rest comes later, or never
                raw.append((_weekday(paid + timedelta(days=rng.randint(15, 35))), inv.contract_id, named,
                            amount - first))
            continue
        if kind == "overpay":  # a few rubles to a few hundred too much: a rounded-up transfer, a fee paid twice
            amount += _rub(rng.randint(100, 50_000))
        raw.append((paid, inv.contract_id, named, amount))
    raw = sorted((p for p in raw if p[0] <= end), key=lambda p: (p[0], p[1]))  # later ones are not paid yet
    return [Payment(f"PAY-{k + 1:05d}", ct, d, amount, named) for k, (d, ct, named, amount) in enumerate(raw)]


def generate_demo_ledger(seed: int = 7, start: date = date(2026, 1, 12), days: int = 60,
                         counterparties: int = 36, *, discounts: bool = False) -> Ledger:
    """A realistic receivables ledger for a simulation of ``days`` days from ``start``; same seed, same ledger.

    Invoices run from up to 75 days before ``start`` to the end of the period, a few in installments and one or
    two credit notes; payments are dated up to the last simulated day (later ones have not arrived yet).
    With ``discounts``, every third contract has early-payment discount tiers (the demo's reminders offer them;
    sources that have no such field, like Fava or the 1C preset, are compared without them).
    """
    if days < 1 or counterparties < 1:
        raise ValueError("days and counterparties must be at least 1")
    rng = random.Random(seed)
    end = start + timedelta(days=days - 1)
    cps = _counterparties(rng, counterparties)
    contracts = _contracts(rng, cps, discounts)
    deck = [kind for kind, share in _PROFILES for _ in range(max(1, round(share * counterparties)))]
    deck = (deck[:counterparties] + ["prompt"] * counterparties)[:counterparties]
    rng.shuffle(deck)
    by_cp = dict(zip((c.id for c in cps), deck))
    profile = {ct.id: by_cp[ct.counterparty_id] for ct in contracts}
    key = {c.id for c in cps if c.group == KEY_ACCOUNTS}
    invoices = _invoices(rng, _bills(rng, contracts, key, start, end), end)
    payments = _payments(rng, invoices, profile, end)
    return Ledger(tuple(cps), tuple(contracts), tuple(invoices), tuple(payments))


def ledger_as_of(ledger: Ledger, day: date) -> Ledger:
    """What the accounting system shows on ``day``: every counterparty and contract, documents dated ≤ ``day``."""
    return Ledger(ledger.counterparties, ledger.contracts, tuple(i for i in ledger.invoices if i.date <= day),
                  tuple(p for p in ledger.payments if p.date <= day))
