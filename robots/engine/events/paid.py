"""Events of the collection workflow beyond aging columns: a debt paid after the robots wrote or blocked.

A *collection episode* of a contract starts with the robots' first overdue letter (a run of a column with a
positive offset) or shipment block after its last ``paid`` event, and ends when the contract has no overdue open
debt left (open balance of its invoices due before ``as_of``, within ``aging.tolerance``). The end is the paid
event: one run of ``events.paid``'s scenario (a closing letter, ``unblock_shipments``), once per episode; a later
overdue letter starts a new episode.

:func:`decide_paid` is the decision, pure; :func:`paid_events` reads the store's history and the ledger for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from robots.core.domain import Ledger
from robots.engine.events import EventRun

ZERO = Decimal("0")
PAID = "paid"


def decide_paid(overdue: Mapping[str, Decimal], blocks: Mapping[str, date], letters: Mapping[str, date],
                paid: Mapping[str, date], tolerance: Decimal) -> list[str]:
    """The contracts whose collection episode ends now, in id order (pure).

    ``overdue``: contract -> its overdue open balance now (contracts that left the ledger are absent: no event);
    ``blocks``: contract -> day of the run that placed the robots' oldest active block;
    ``letters``: contract -> day of its latest overdue-letter run; ``paid``: contract -> day of its latest paid
    event. An episode is open when a block or a letter is newer than the last paid event (or there was none).
    """
    done = []
    for contract_id in sorted(set(blocks) | set(letters)):
        if contract_id not in overdue or overdue[contract_id] > tolerance:
            continue
        last_paid = paid.get(contract_id)
        started = max(d for d in (blocks.get(contract_id), letters.get(contract_id)) if d is not None)
        if last_paid is None or started > last_paid:
            done.append(contract_id)
    return done


def overdue_columns(settings: Any) -> set[str]:
    """Column ids with a positive offset in any group: their runs are overdue letters."""
    return {c.id for g in settings.groups.values() for c in g.columns if c.offset > 0}


def overdue_balances(ledger: Ledger, contract_ids: Iterable[str], as_of: date) -> dict[str, Decimal]:
    """contract -> open balance of its invoices due before ``as_of``, for these contracts still in the ledger."""
    from robots.core.balances import open_balances

    wanted = set(contract_ids) & {c.id for c in ledger.contracts}
    part = Ledger(invoices=tuple(i for i in ledger.invoices if i.contract_id in wanted),
                  payments=tuple(p for p in ledger.payments if p.contract_id in wanted))
    left = open_balances(part, as_of).open
    out = {c: ZERO for c in wanted}
    for inv in part.invoices:
        if inv.due_date < as_of and inv.id in left:
            out[inv.contract_id] += left[inv.id]
    return out


def paid_events(services: Any, ledger: Ledger, as_of: date) -> list[EventRun]:
    """Runs for contracts that the robots wrote to or blocked and that now have no overdue debt, each once."""
    from robots.core.balances import open_balances
    from robots.store import shipments as sb

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
