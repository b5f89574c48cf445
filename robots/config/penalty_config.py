"""``penalties:`` in schedules.yaml: how penalties and statutory interest are computed (robots/penalties.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import Field

from robots.config.common import Frozen


class KeyRate(Frozen):
    """The Bank of Russia key rate from ``since`` on (annual, as a fraction: 0.21 = 21 %)."""

    since: date
    rate: Decimal = Field(ge=0, le=5)


class PenaltiesConfig(Frozen):
    #: contractual: the contract's own rate per day (no rate: statutory interest); statutory: always ГК РФ ст. 395.
    basis: Literal["contractual", "statutory"] = "contractual"
    #: The key-rate table for statutory interest, in date order.
    key_rates: tuple[KeyRate, ...] = ()
    #: At most this share of the debt (0.10 = 10 %); unset = no cap.
    cap_share: Decimal | None = Field(default=None, gt=0, le=10)
