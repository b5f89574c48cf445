"""The demo ledger: deterministic, valid for the file connector, and realistic enough to exercise the robots."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.files.connector import FileConnector
from connectors.files.ledger_csv import write_ledger_csv
from demo.ledger import generate_demo_ledger, ledger_as_of
from robots.core.domain import Ledger

START, DAYS = date(2026, 1, 12), 60
END = START + timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return generate_demo_ledger()


def inn_is_valid(inn: str) -> bool:
    """The tax service's check-digit rule, written independently of the generator."""
    d = [int(c) for c in inn]

    def check(weights: tuple[int, ...]) -> int:
        return sum(a * b for a, b in zip(d, weights)) % 11 % 10

    if len(inn) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[9]
    return len(inn) == 12 and check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[10] and check(
        (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[11]


def test_deterministic(ledger: Ledger) -> None:
    assert generate_demo_ledger() == ledger
    assert generate_demo_ledger(seed=8) != ledger
    small = generate_demo_ledger(seed=3, start=date(2026, 5, 4), days=10, counterparties=5)
    assert small == generate_demo_ledger(seed=3, start=date(2026, 5, 4), days=10, counterparties=5)
    assert len(small.counterparties) == 5


def test_valid_for_the_file_connector(ledger: Ledger, tmp_path: Path) -> None:
    write_ledger_csv(ledger, tmp_path, "excel-ru")
    assert FileConnector("demo", tmp_path, frozenset({"default", "key_accounts"})).pull() == ledger


def test_counterparties_look_russian_and_valid(ledger: Ledger) -> None:
    cps = ledger.counterparties
    assert len(cps) == 36 and len({c.id for c in cps}) == 36 and len({c.name for c in cps}) == 36
    for c in cps:
        assert re.fullmatch(r"(ООО|АО) «[А-ЯЁа-яё-]+»|ИП [А-ЯЁ][а-яё]+ [А-ЯЁ]\. [А-ЯЁ]\.", c.name), c.name
        assert inn_is_valid(c.inn), c.inn
        assert len(c.inn) == (12 if c.name.startswith("ИП") else 10)
        assert re.fullmatch(r"[a-z0-9.\-]+@[a-z0-9\-]+\.(ru|com)", c.email), c.email
    groups = Counter(c.group for c in cps)
    assert set(groups) == {"default", "key_accounts"}
    assert 0.1 <= groups["key_accounts"] / len(cps) <= 0.3
    assert {c.name.split()[0] for c in cps} == {"ООО", "АО", "ИП"}


def test_contracts(ledger: Ledger) -> None:
    per_cp = Counter(c.counterparty_id for c in ledger.contracts)
    assert set(per_cp.values()) == {1, 2} and set(per_cp) == {c.id for c in ledger.counterparties}
    assert {c.payment_days for c in ledger.contracts} <= {10, 14, 30, 45}
    assert any("/" in c.number and re.search("[А-Я]", c.number) for c in ledger.contracts)
    assert len({c.number for c in ledger.contracts}) == len(ledger.contracts)
    penalties = Counter(c.penalty_rate_per_day for c in ledger.contracts)
    assert penalties.most_common(1)[0][0] == Decimal("0.001")


def test_invoices_span_the_period_with_installments_and_credit_notes(ledger: Ledger) -> None:
    invoices = ledger.invoices
    assert len({i.id for i in invoices}) == len(invoices)
    assert any(i.date < START and i.due_date < START for i in invoices)  # debts already overdue on day one
    assert any(START < i.date <= END for i in invoices) and max(i.date for i in invoices) <= END
    rows = Counter((i.contract_id, i.number) for i in invoices)
    installments = [k for k, n in rows.items() if n > 1]
    assert installments and all(rows[k] in (2, 3) for k in installments)
    for key in installments:
        parts = [i for i in invoices if (i.contract_id, i.number) == key]
        assert len({i.due_date for i in parts}) == len(parts) and len({i.date for i in parts}) == 1
    credits = [i for i in invoices if i.is_credit_note]
    assert 1 <= len(credits) <= 2
    for i in invoices:
        assert i.amount == i.amount.quantize(Decimal("0.01")) and i.amount != 0 and i.due_date >= i.date
    assert any(i.amount % 1 for i in invoices)  # kopecks


def test_payments_behave_like_customers(ledger: Ledger) -> None:
    invoices = {i.id: i for i in ledger.invoices}
    payments = ledger.payments
    assert all(p.amount > 0 and p.date <= END for p in payments)
    assert sum(p.date > START for p in payments) >= 20  # a day-by-day run sees money arrive
    named = [(p, invoices[p.invoice_id]) for p in payments if p.invoice_id]
    assert all(inv.contract_id == p.contract_id and p.date >= inv.date for p, inv in named)
    assert any(p.amount < inv.amount for p, inv in named)  # partial
    assert any(p.amount > inv.amount for p, inv in named)  # overpaid slightly
    assert all(p.amount - inv.amount <= 500 for p, inv in named)
    assert any(p.invoice_id is None for p in payments)  # undirected: goes to the oldest debt
    paying = {p.contract_id for p in payments}
    assert any(c.id not in paying for c in ledger.contracts)  # some never pay
    late = [p for p, inv in named if p.date > inv.due_date]
    assert late and len(late) < len(named)


def test_ledger_as_of_filters_by_date(ledger: Ledger) -> None:
    day = START + timedelta(days=20)
    snap = ledger_as_of(ledger, day)
    assert snap.counterparties == ledger.counterparties and snap.contracts == ledger.contracts
    assert snap.invoices == tuple(i for i in ledger.invoices if i.date <= day)
    assert snap.payments == tuple(p for p in ledger.payments if p.date <= day)
    assert 0 < len(snap.payments) < len(ledger.payments) and 0 < len(snap.invoices) < len(ledger.invoices)
    assert ledger_as_of(ledger, END) == ledger
    assert ledger_as_of(ledger, date(2000, 1, 1)).invoices == ()
