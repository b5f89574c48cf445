"""Promises to pay and disputes: what they mean for the robots (owned by the people's-input feature)."""

from __future__ import annotations

from datetime import date
from typing import Any

from robots.domain import Ledger


def promise_events(services: Any, ledger: Ledger, as_of: date) -> list:
    """Runs for promises that were broken by ``as_of`` (events.promise_broken's scenario), each once."""
    return []
