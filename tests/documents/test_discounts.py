"""Early-payment discount tiers: read from the ledger, kept by the store, offered in the reminder."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from robots.core.discounts import format_discounts, parse_discounts
from robots.core.domain import Contract, Counterparty, Ledger
from robots.documents.templates import TemplateRenderer
from tests.documents.test_templates import SHIPPED_DIR, flat, sample_context


def test_tiers_are_read_in_russian_and_plain_notation_and_written_back_the_same():
    assert parse_discounts("3%/7; 2%/14") == ((Decimal("0.03"), 7), (Decimal("0.02"), 14))
    assert parse_discounts("2,5 % / 10") == ((Decimal("0.025"), 10),)
    assert parse_discounts("") == () and parse_discounts(None) == ()
    assert format_discounts(parse_discounts("2%/14;3%/7")) == "3%/7; 2%/14"


@pytest.mark.parametrize("text", ["3%", "3%/x", "2%/7; 3%/14", "3%/7; 2%/7"])
def test_a_bad_tier_says_how_to_write_it(text):
    with pytest.raises(ValueError, match="write tiers as 3%/7; 2%/14"):
        parse_discounts(text)


def test_the_store_keeps_a_contracts_tiers(store):
    tiers = ((Decimal("0.03"), 7), (Decimal("0.02"), 14))
    ledger = Ledger((Counterparty("P1", "ООО «Ромашка»", "7701234567", "a@b.ru"),),
                    (Contract("C1", "1/2026", "P1", 30, "RUB", None, tiers), Contract("C2", "2/2026", "P1")), (), ())
    store.replace_ledger(ledger, "test", datetime(2026, 3, 1, tzinfo=UTC))
    assert store.load_ledger().contracts == ledger.contracts


def test_the_reminder_offers_the_open_tiers_with_the_amount_to_pay():
    ctx = sample_context()
    ctx["discount_offers"] = [{"number": "СЧ-1040", "percent": Decimal("3"), "days": 7, "until": date(2026, 1, 17),
                               "amount": Decimal("55519.50")}]
    text = flat(TemplateRenderer(SHIPPED_DIR).render("reminder_before_due.j2", ctx))
    assert "скидка за досрочную оплату" in text
    assert "| СЧ-1040 | 3,00 % | 17.01.2026 | 55 519,50 |" in text.replace("\u00a0", " ")
    del ctx["discount_offers"]
    assert "скидка" not in flat(TemplateRenderer(SHIPPED_DIR).render("reminder_before_due.j2", ctx))
