"""What the demo accounting system serves: its entities, their fields with a kind each, and a record as JSON.

The state precomputes every record's JSON row with :func:`record_json`; the API serves those rows and rewrites
only corrupted ones; the HTML pages show the same values (:func:`money_value`, :func:`percent_value`) as
``data-value``.
"""

from __future__ import annotations

import enum
import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from demo.erp.faults import DROP
from robots.core.discounts import format_discounts

ENTITIES = ("counterparties", "contracts", "invoices", "payments")
#: The title of each entity's pages (and of its link in the navigation).
TITLES = {"counterparties": "Контрагенты", "contracts": "Договоры", "invoices": "Счета", "payments": "Платежи"}
_CENT = Decimal("0.01")


class Kind(enum.Enum):
    TEXT = "text"
    INT = "int"
    MONEY = "money"
    DATE = "date"
    PERCENT = "percent"  # a fraction per day in the ledger, shown and served as percent per day
    DISCOUNTS = "discounts"  # early-payment tiers, shown and served as text: 3%/7; 2%/14


_T, _I, _M, _D, _P = Kind.TEXT, Kind.INT, Kind.MONEY, Kind.DATE, Kind.PERCENT
#: The ledger fields of each entity (the names of connectors.base.FIELDS) in display order, with their kind.
SCHEMA: dict[str, tuple[tuple[str, Kind], ...]] = {
    "counterparties": (("id", _T), ("name", _T), ("inn", _T), ("email", _T), ("group", _T)),
    "contracts": (("id", _T), ("number", _T), ("counterparty_id", _T), ("payment_days", _I), ("currency", _T),
                  ("penalty_rate_per_day", _P), ("discounts", Kind.DISCOUNTS)),
    "invoices": (("id", _T), ("number", _T), ("contract_id", _T), ("date", _D), ("due_date", _D), ("amount", _M)),
    "payments": (("id", _T), ("contract_id", _T), ("invoice_id", _T), ("date", _D), ("amount", _M)),
}

_json_str = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C string encoder, non-ASCII kept


def money_value(v: Decimal) -> str:
    """An amount as served: two decimals, rounded half up, never through a float."""
    return format(v.quantize(_CENT, rounding=ROUND_HALF_UP), "f")


def percent_value(rate: Decimal) -> str:
    """A fraction per day as served: percent per day, with no trailing zeros."""
    return format((rate * 100).normalize(), "f")


def _json_date(d: date) -> str:
    return f'"{d.isoformat()}"'


#: How each kind of field becomes JSON text: amounts are numbers with two decimals, never a float on the way.
_TO_JSON = {Kind.TEXT: _json_str, Kind.INT: lambda v: str(int(v)), Kind.MONEY: money_value, Kind.DATE: _json_date,
            Kind.PERCENT: percent_value, Kind.DISCOUNTS: lambda v: _json_str(format_discounts(v) or "")}
#: Per entity: ('"field":', field, converter), so that serializing 100,000 records is one tight loop each.
_PLANS = {e: tuple((f'"{name}":', name, _TO_JSON[kind]) for name, kind in fields) for e, fields in SCHEMA.items()}


def _json_any(v: Any) -> str:
    """A corrupted value as JSON text: Decimals stay exact numbers, dates become ISO strings."""
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, date):
        return f'"{v.isoformat()}"'
    return json.dumps(v, ensure_ascii=False)


def record_json(entity: str, record: Any, version: int, override: dict[str, Any] | None = None) -> str:
    """One record as a JSON object with ``updated_at``; ``override`` replaces (or, with DROP, removes) fields."""
    if not override:
        return "{" + ",".join([key + ("null" if (v := getattr(record, name)) is None else to_json(v))
                               for key, name, to_json in _PLANS[entity]]) + f',"updated_at":{version}}}'
    parts = []
    for key, name, to_json in _PLANS[entity]:
        if name not in override:
            v = getattr(record, name)
            parts.append(key + ("null" if v is None else to_json(v)))
        elif override[name] is not DROP:
            parts.append(key + _json_any(override[name]))
    return "{" + ",".join(parts) + f',"updated_at":{version}}}'
