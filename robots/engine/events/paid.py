"""The paid event: a collection episode ended (the contract has no overdue debt left after the robots wrote to it or
blocked it). One run of ``events.paid``'s scenario (a closing letter, ``unblock_shipments``), once per episode;
a later overdue letter starts a new episode. The decision is :func:`robots.core.decisions.decide_paid`; this module
reads the store's history and the ledger for it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from robots.core.balances import open_balances
from robots.core.decisions import decide_paid, overdue_balances
from robots.core.domain import ZERO, Ledger
from robots.engine.events.base import EventRun
from robots.store import shipments as sb

PAID = "paid"


def overdue_columns(settings: Any) -> set[str]:
    """Column ids with a positive offset in any group: their runs are overdue letters."""
    return {c.id for g in settings.groups.values() for c in g.columns if c.offset > 0}


def paid_events(services: Any, ledger: Ledger, as_of: date) -> list[EventRun]:
    """Runs for contracts that the robots wrote to or blocked and that now have no overdue debt, each once."""
    settings = services.config.settings
    scenario = settings.events.paid
    if scenario is None:
        return []
    store = services.store
    columns = overdue_columns(settings)
    blocks = sb.active_block_days(store)
    letters = sb.last_run_days(store, columns)
    paid = sb.last_run_days(store, [PAID])
    overdue = overdue_balances(ledger, set(blocks) | set(letters), as_of)
    ended = decide_paid(overdue, blocks, letters, paid, settings.aging.tolerance)
    if not ended:
        return []

    # The invoices in collection: those of the episode's letters and of the runs that placed its blocks.
    collected: dict[str, list[str]] = {c: [] for c in ended}
    for row in [*sb.runs_since(store, ended, columns), *sb.blocking_runs(store, ended)]:
        if paid.get(row.contract_id) is not None and row.as_of <= paid[row.contract_id]:
            continue
        ids = collected[row.contract_id]
        ids.extend(i["id"] for i in row.invoices if i["id"] not in ids)
    invoices = {i.id: i for i in ledger.invoices if i.contract_id in collected}
    left = open_balances(Ledger(invoices=tuple(invoices.values()),
                                payments=tuple(p for p in ledger.payments if p.contract_id in collected)),
                         as_of).open
    runs = []
    for contract_id in ended:
        items = tuple({"id": i, "open_amount": str(left.get(i, ZERO)),
                       "days_past_due": max(0, (as_of - invoices[i].due_date).days)}
                      for i in collected[contract_id] if i in invoices)
        runs.append(EventRun(contract_id, PAID, scenario, as_of, items))
    return runs
