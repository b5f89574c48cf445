"""Promises to pay, disputes and the contacts journal in the store (owned by the people's-input feature)."""

from __future__ import annotations

from typing import Any


def promises_broken(store: Any, contract_id: str) -> int:
    """How many promises to pay of this contract were broken (the ``promises_broken`` of when: expressions)."""
    return 0
