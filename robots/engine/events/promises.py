"""The broken-promise event: each promise to pay decided broken asks once for ``events.promise_broken``'s scenario."""

from __future__ import annotations

from datetime import date
from typing import Any

from robots.core.balances import open_balances
from robots.core.decisions import Promise, PromiseStatus, decide_promises
from robots.core.domain import ZERO, Ledger
from robots.core.workdays import DaysPastDue
from robots.engine.events.base import EventRun
from robots.store import people as db


def promise_events(services: Any, ledger: Ledger, as_of: date) -> list:
    """Decide the open promises on ``as_of``, save the decisions, and ask for the ``events.promise_broken``
    scenario for each promise found broken on ``as_of`` (run key ``<contract>|promise_broken:<id>|<day>``).

    Decide, save, then act: the status is saved first; the runs are returned for every promise whose saved
    decision is dated ``as_of``, so a tick that crashed before recording them returns them again on a re-run of
    the same day, and the unique run key keeps them single. A later day never asks again: the promise is decided.
    """
    store, settings = services.store, services.config.settings
    grace, tolerance = settings.promises.grace_days, settings.aging.tolerance
    open_ = [_promise(r) for r in db.promise_rows(store, status=PromiseStatus.OPEN)]
    if open_:
        db.record_outcomes(store, decide_promises(open_, ledger, as_of, grace, tolerance))
    scenario = settings.events.promise_broken
    if scenario is None:
        return []
    broken = db.promise_rows(store, status=PromiseStatus.BROKEN, closed_on=as_of)
    if not broken:
        return []
    balances = open_balances(ledger, as_of).open
    groups = services.config.policy().groups
    group_of = {cp.id: cp.group for cp in ledger.counterparties}
    contract = {c.id: c for c in ledger.contracts}
    dpd = DaysPastDue(services.calendar, as_of)
    runs = []
    for row in broken:
        ct = contract.get(row.contract_id)
        if ct is None:
            continue
        schedule = groups.get(group_of.get(ct.counterparty_id, "default"))
        invoices = tuple(
            {"id": i.id, "open_amount": str(balances[i.id]),
             "days_past_due": dpd(i.due_date, schedule.days) if schedule else (as_of - i.due_date).days}
            for i in ledger.invoices if i.contract_id == ct.id and balances.get(i.id, ZERO) > tolerance)
        runs.append(EventRun(ct.id, f"promise_broken:{row.id}", scenario, as_of, invoices))
    return runs


def _promise(row: Any) -> Promise:
    return Promise(row.id, row.contract_id, row.invoice_id, row.amount, row.promised_on, row.recorded_on)
