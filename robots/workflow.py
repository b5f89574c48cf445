"""Events of the collection workflow beyond aging columns (owned by the approvals/shipments feature)."""

from __future__ import annotations

from datetime import date
from typing import Any

from robots.domain import Ledger


def paid_events(services: Any, ledger: Ledger, as_of: date) -> list:
    """Runs for contracts that the robots wrote to or blocked and that now have no overdue debt, each once."""
    return []
