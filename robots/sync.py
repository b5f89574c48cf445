"""Sync: pull a whole snapshot from every connector, check it, then swap it into the store in one transaction.

If any connector fails or any record is bad, nothing is applied: the robots never act on a partial ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from connectors.base import Connector, Problem, SyncRejected
from connectors.files import FileConnector
from robots.config import Config
from robots.domain import Ledger
from robots.store import Store


def build_connectors(config: Config) -> list[Connector]:
    known_groups = frozenset(config.settings.groups)
    return [FileConnector(c.id, config.resolve(c.path), known_groups=known_groups)
            for c in config.settings.connectors]


def pull(connectors: Sequence[Connector]) -> Ledger:
    """Pull every connector and merge the snapshots; duplicate ids across connectors are refused."""
    parts = [c.pull() for c in connectors]
    if len(parts) == 1:
        return parts[0]
    merged = Ledger(
        counterparties=tuple(x for p in parts for x in p.counterparties),
        contracts=tuple(x for p in parts for x in p.contracts),
        invoices=tuple(x for p in parts for x in p.invoices),
        payments=tuple(x for p in parts for x in p.payments),
    )
    problems = []
    for kind in ("counterparties", "contracts", "invoices", "payments"):
        seen: set[str] = set()
        for item in getattr(merged, kind):
            if item.id in seen:
                problems.append(Problem(source=kind, message=f"id {item.id!r} comes from more than one connector"))
            seen.add(item.id)
    if problems:
        raise SyncRejected("+".join(c.id for c in connectors), tuple(problems))
    return merged


def sync(config: Config, store: Store, now: datetime, connectors: Sequence[Connector] | None = None) -> Ledger:
    connectors = list(connectors) if connectors is not None else build_connectors(config)
    ledger = pull(connectors)
    store.replace_ledger(ledger, ",".join(c.id for c in connectors), now)
    return ledger
