"""``penalties:`` in schedules.yaml: how penalties and statutory interest are computed (robots/penalties.py).

docs/penalties.md is the reference. Example::

    penalties:
      basis: contractual        # or statutory: always ГК РФ ст. 395 interest
      cap_share: "0.10"         # at most 10 % of each invoice's amount
      shift_due_date: true      # ГК РФ ст. 193: a due date on a day off moves to the next working day
      key_rates:                # the Bank of Russia key rate (keep it current: cbr.ru)
        - {since: 2024-10-28, rate: "0.21"}
        - {since: 2025-06-09, rate: "0.20"}
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from robots.support.config_types import Frozen


class KeyRate(Frozen):
    """The Bank of Russia key rate from ``since`` on (annual, as a fraction: 0.21 = 21 %)."""

    since: date
    rate: Decimal = Field(ge=0, le=5)


class PenaltiesConfig(Frozen):
    #: contractual: the contract's own rate per day (no rate: statutory interest when key_rates are set, else
    #: nothing); statutory: always ГК РФ ст. 395 interest at the key rate.
    basis: Literal["contractual", "statutory"] = "contractual"
    #: The key-rate table for statutory interest, in date order; a day before its first entry is an error.
    key_rates: tuple[KeyRate, ...] = ()
    #: At most this share of each invoice's amount (0.10 = 10 %); unset = no cap.
    cap_share: Decimal | None = Field(default=None, gt=0, le=10)
    #: ГК РФ ст. 193: a due date on a non-working day (the production calendar) moves to the next working day.
    shift_due_date: bool = True

    @field_validator("key_rates")
    @classmethod
    def _in_date_order(cls, rates: tuple[KeyRate, ...]) -> tuple[KeyRate, ...]:
        for k in range(1, len(rates)):
            if rates[k].since <= rates[k - 1].since:
                raise ValueError(f"entry {k} (since {rates[k].since}) must come after entry {k - 1} "
                                 f"(since {rates[k - 1].since}): list the key rates in date order, one per date")
        return rates
