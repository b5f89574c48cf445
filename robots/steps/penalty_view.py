"""A compute_penalty step's recorded output as templates want it: numbers as Decimals and dates as dates.

The output is recorded as JSON (text amounts, ISO dates); the annex macro ``calculation`` in
scenarios/templates/_penalty.j2 and the lawsuit pack compute and format with it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

_MONEY = ("principal", "total", "base", "amount", "cap_share", "rate")
_DATES = ("through", "due_date", "accrues_from", "start", "end")


def penalty_view(output: dict[str, Any]) -> dict[str, Any]:
    """A recorded penalty output with numbers as Decimals and dates as dates, as the annex macro wants them."""

    def convert(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: convert(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, str) and key in _MONEY:
            return Decimal(value)
        if isinstance(value, str) and key in _DATES:
            return date.fromisoformat(value)
        return value

    return convert(output)
