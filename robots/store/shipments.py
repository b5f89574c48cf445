"""Shipment blocks the robots placed through a connector's write-back (owned by the shipments feature)."""

from __future__ import annotations

from typing import Any


def is_blocked(store: Any, contract_id: str) -> bool:
    """True while the robots hold a shipment block for this contract (the ``blocked`` of when: expressions)."""
    return False
