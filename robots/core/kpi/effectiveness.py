"""Step effectiveness (pure): of the debt a scenario's runs were about, how much was paid within N days.

Computed from the runs in a :class:`~robots.core.kpi.facts.KpiInputs` snapshot; see ``docs/kpi.md``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from robots.core.balances import open_balances
from robots.core.domain import ZERO, Ledger
from robots.core.kpi.facts import KpiInputs, RunFact, money, ratio


@dataclass(frozen=True)
class StepEffect:
    """How much of the debt a scenario's runs were about was paid within ``window_days`` of each run."""

    scenario: str
    column_id: str
    window_days: int
    runs: int  # runs whose window ended on or before as_of
    debt: Decimal  # open amounts at those runs
    paid: Decimal | None
    share: Decimal | None
    complete: bool  # False when some runs were left out because their window had not ended yet


def _restricted(ledger: Ledger, invoice_ids: Iterable[str]) -> Ledger:
    """The ledger of only the contracts holding ``invoice_ids``. Contracts never share money, so their open
    balances are exactly those of the whole ledger, for a fraction of the work."""
    ids = set(invoice_ids)
    contracts = {i.contract_id for i in ledger.invoices if i.id in ids}
    return Ledger(ledger.counterparties, tuple(c for c in ledger.contracts if c.id in contracts),
                  tuple(i for i in ledger.invoices if i.contract_id in contracts),
                  tuple(p for p in ledger.payments if p.contract_id in contracts))


def step_effectiveness(inputs: KpiInputs, windows: tuple[int, ...] = (7, 14, 30)) -> tuple[StepEffect, ...]:
    """For each (scenario, column) and window N: of the debt its runs were about, the share paid within N days.

    paid = sum over the runs and their invoices of max(0, open at the run - open on run day + N). Runs whose
    window ends after ``as_of`` are left out (``complete=False``); with none left, paid and share are None.
    Open balances are computed once per distinct day.
    """
    groups: dict[tuple[str, str], list[RunFact]] = defaultdict(list)
    for run in inputs.runs:
        groups[(run.scenario, run.column_id)].append(run)
    days_needed = {r.as_of + timedelta(days=n) for r in inputs.runs for n in windows}
    days_needed = {d for d in days_needed if d <= inputs.as_of}
    sub = _restricted(inputs.ledger, (i for r in inputs.runs for i, _ in r.invoices)) if days_needed else None
    open_on = {d: open_balances(sub, d).open for d in sorted(days_needed)} if sub else {}

    result = []
    for (scenario, column_id), runs in sorted(groups.items()):
        for n in windows:
            done = [r for r in runs if r.as_of + timedelta(days=n) <= inputs.as_of]
            debt, paid = ZERO, ZERO
            for r in done:
                later = open_on[r.as_of + timedelta(days=n)]
                for inv_id, amount in r.invoices:
                    debt += amount
                    # an invoice gone from the ledger is not counted as paid
                    paid += max(ZERO, amount - later.get(inv_id, amount))
            complete = len(done) == len(runs)
            if not done:
                result.append(StepEffect(scenario, column_id, n, 0, money(ZERO), None, None, False))
            else:
                result.append(StepEffect(scenario, column_id, n, len(done), money(debt), money(paid),
                                         ratio(paid, debt), complete))
    return tuple(result)
