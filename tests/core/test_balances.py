from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from robots.core.balances import allocate, open_balances, total_open_on
from robots.core.domain import Invoice, Payment
from tests.builders import D, inv, ledger, pay

D1, D2, D3 = date(2026, 1, 10), date(2026, 2, 10), date(2026, 3, 10)


def test_a_payment_naming_an_invoice_goes_to_that_invoice():
    b = allocate([inv("A", "100", D1), inv("B", "100", D2)], [pay("p", "60", D3, invoice="B")])
    assert b.open == {"A": D("100"), "B": D("40")}


def test_undirected_payments_go_to_the_oldest_due_debt_first():
    b = allocate([inv("late", "100", D2), inv("early", "100", D1)], [pay("p", "150", D3)])
    assert b.open == {"early": D("0"), "late": D("50")}


def test_overpayment_of_a_named_invoice_flows_to_the_other_debts():
    b = allocate([inv("A", "100", D1), inv("B", "100", D2)], [pay("p", "130", D3, invoice="B")])
    assert b.open == {"A": D("70"), "B": D("0")}


def test_overpayment_stays_as_contract_credit_and_pays_later_invoices():
    before = open_balances(ledger([inv("A", "100", D1, issued=D1)], [pay("p", "150", D1)]), D1)
    assert before.open == {"A": D("0")} and before.credit == {"C1": D("50")}
    later = ledger([inv("A", "100", D1, issued=D1), inv("B", "80", D3, issued=D2)], [pay("p", "150", D1)])
    assert open_balances(later, D2).open == {"A": D("0"), "B": D("30")}


def test_a_credit_note_reduces_the_oldest_debt():
    b = allocate([inv("A", "100", D1), inv("B", "100", D2), inv("CN", "-30", D2)], [])
    assert b.open == {"A": D("70"), "B": D("100")}
    assert "CN" not in b.open


def test_a_payment_naming_an_invoice_of_another_contract_is_treated_as_undirected():
    b = allocate([inv("A", "100", D1), inv("X", "100", D1, contract="C2")], [pay("p", "40", D3, invoice="X")])
    assert b.open == {"A": D("60"), "X": D("100")}


def test_only_entries_dated_on_or_before_as_of_count():
    lg = ledger([inv("A", "100", D2, issued=D1), inv("B", "50", D3, issued=D3)], [pay("p", "100", D3)])
    assert open_balances(lg, D2).open == {"A": D("100")}
    assert open_balances(lg, D3).open == {"A": D("0"), "B": D("50")}


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)


@st.composite
def contract_ledgers(draw):
    n = draw(st.integers(1, 6))
    invoices = [Invoice(f"I{i}", f"I{i}", "C1", D1, date(2026, 1, draw(st.integers(1, 28))), draw(money))
                for i in range(n)]
    if draw(st.booleans()):
        invoices.append(Invoice("CN", "CN", "C1", D1, D1, -draw(money)))
    payments = [Payment(f"P{j}", "C1", D2, draw(money),
                        draw(st.one_of(st.none(), st.sampled_from([i.id for i in invoices]))))
                for j in range(draw(st.integers(0, 5)))]
    return invoices, payments


@given(contract_ledgers())
def test_open_balances_sum_to_invoices_minus_payments_plus_unused_credit(data):
    invoices, payments = data
    b = allocate(invoices, payments)
    billed = sum((i.amount for i in invoices), Decimal(0))
    paid = sum((p.amount for p in payments), Decimal(0))
    assert b.total_open() - sum(b.credit.values(), Decimal(0)) == billed - paid
    assert all(Decimal(0) <= v <= next(i.amount for i in invoices if i.id == k) for k, v in b.open.items())
    # credit is left only when every debt is paid
    assert not b.credit or b.total_open() == 0


@given(contract_ledgers(), st.randoms())
def test_allocation_does_not_depend_on_the_order_payments_arrived_in(data, rnd):
    invoices, payments = data
    shuffled = list(payments)
    rnd.shuffle(shuffled)
    assert allocate(invoices, payments) == allocate(invoices, shuffled)


@st.composite
def dated_ledgers(draw):
    """Several contracts; invoices, credit notes and payments (directed, undirected, naming another contract's
    invoice or one not issued yet) on dates spread over three months."""
    day = st.dates(date(2026, 1, 1), date(2026, 3, 31))
    invoices, payments = [], []
    for c in range(draw(st.integers(1, 4))):
        for i in range(draw(st.integers(0, 5))):
            issued = draw(day)
            amount = draw(money)
            invoices.append(Invoice(f"I{c}-{i}", f"{i}", f"C{c}", issued, draw(day),
                                    -amount if draw(st.integers(0, 6)) == 0 else amount))
    ids = [i.id for i in invoices]
    for j in range(draw(st.integers(0, 8))):
        target = draw(st.one_of(st.none(), st.sampled_from(ids))) if ids else None
        payments.append(Payment(f"P{j}", f"C{draw(st.integers(0, 3))}", draw(day), draw(money), target))
    return ledger(invoices=invoices, payments=payments, contracts=("C0", "C1", "C2", "C3"))


@given(dated_ledgers(), st.lists(st.dates(date(2025, 12, 1), date(2026, 4, 30)), min_size=1, max_size=5))
def test_the_receivables_total_is_the_allocations_total_on_every_day(lg, days):
    totals = total_open_on(lg, days)
    for day in days:
        assert totals[day] == open_balances(lg, day).total_open()
