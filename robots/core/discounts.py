"""Early-payment discount tiers: how a contract writes them, and what they offer on a given day (pure).

A contract's ``discounts`` are tiers ``3%/7; 2%/14``: 3 % off an invoice paid within 7 days of its date, 2 %
within 14. A later tier waits longer for a smaller discount. The reminder letter lists the tiers still open.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from robots.core.domain import Invoice

#: One tier: (share of the invoice amount, days after the invoice date), e.g. (Decimal("0.03"), 7).
Tier = tuple[Decimal, int]
HINT = "write tiers as 3%/7; 2%/14 (percent / days after the invoice date), separated by ';'"


def _describe(v: Any) -> str:
    return f"'{v}'" if isinstance(v, str) else f"{v!r} ({type(v).__name__})"


def parse_discounts(v: Any) -> tuple[Tier, ...]:
    """Early-payment discount tiers, ``3%/7; 2%/14`` (3 % when paid within 7 days of the invoice date, 2 % within
    14), as ((0.03, 7), (0.02, 14)); empty for none. Tiers must give a smaller discount for a longer wait."""
    if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, (list, tuple)) and not v):
        return ()
    if isinstance(v, (list, tuple)):  # JSON: ["3%/7", "2%/14"], or [[0.03, 7], [0.02, 14]] as fraction and days
        if all(isinstance(x, str) for x in v):
            return parse_discounts("; ".join(v))
        try:
            return parse_discounts("; ".join(f"{Decimal(str(f)) * 100}%/{int(d)}" for f, d in v))
        except (TypeError, ValueError, ArithmeticError):
            raise ValueError(f"{_describe(v)} is not a list of discount tiers; {HINT}") from None
    if not isinstance(v, str):
        raise ValueError(f"{_describe(v)} is not a list of discount tiers; {HINT}")
    tiers = []
    for part in re.split(r"[;\n]", v):
        if not part.strip():
            continue
        m = re.fullmatch(r"\s*(\d{1,2}(?:[.,]\d{1,4})?)\s*%?\s*/\s*(\d{1,3})\s*", part)
        if m is None:
            raise ValueError(f"'{part.strip()}' is not a discount tier; {HINT}")
        tiers.append((Decimal(m[1].replace(",", ".")) / 100, int(m[2])))
    tiers.sort(key=lambda t: t[1])
    for (a, da), (b, db) in zip(tiers, tiers[1:]):
        if da == db or b >= a:
            raise ValueError(f"'{v.strip()}': each later tier needs more days and a smaller discount; {HINT}")
    return tuple(tiers)


def format_discounts(tiers: tuple[Tier, ...]) -> str | None:
    """Tiers as stored: ``3%/7; 2%/14`` (None for none); :func:`parse_discounts` reads it back."""
    if not tiers:
        return None
    return "; ".join(f"{format(share * 100, 'f').rstrip('0').rstrip('.')}%/{days}" for share, days in tiers)


def discount_offers(invoices: Iterable[tuple[Invoice, Decimal]], tiers: tuple[Tier, ...],
                    as_of: date) -> list[dict[str, Any]]:
    """The tiers still open on ``as_of``, per (invoice, open amount) and tier: pay ``amount`` by ``until`` (the
    invoice date plus the tier's days) instead of the open amount."""
    offers = []
    for invoice, open_amount in invoices:
        for share, days in tiers:
            until = invoice.date + timedelta(days=days)
            if until >= as_of:
                discount = (invoice.amount * share).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                offers.append({"number": invoice.number, "percent": share * 100, "days": days, "until": until,
                               "amount": max(open_amount - discount, Decimal("0.00"))})
    return offers
