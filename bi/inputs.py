"""Build the KPI snapshot (:class:`robots.core.kpi.kpis.KpiInputs`) from the loaded config and the store.

This is the I/O side of the KPIs: it reads the ledger, the tasks and the scenario runs, and counts each
invoice's days past due the way the aging engine does (the debtor group's calendar or working days).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from robots.config import Config
from robots.core.domain import DayCount, Ledger
from robots.core.errors import ConfigError, UsageError
from robots.core.kpi.facts import KpiInputs, PromiseFact, RunFact, TaskFact
from robots.core.workdays import DaysPastDue
from robots.store import Store
from robots.store.facts import finished_run_facts, task_facts


def load_inputs(config: Config, store: Store, as_of: date | None = None) -> KpiInputs:
    """The KPI snapshot on ``as_of`` (default: the day of the last evaluation)."""
    as_of = as_of or store.last_as_of()
    if as_of is None:
        raise UsageError("no evaluation yet: run a tick first, or give the as-of date")
    ledger = store.load_ledger()
    kpi = config.settings.kpi
    return KpiInputs(
        ledger=ledger,
        as_of=as_of,
        period_days=kpi.period_days,
        problem_debt_days=kpi.problem_debt_days,
        working_capital=kpi.working_capital,
        days_past_due=days_past_due(config, ledger, as_of),
        tasks=_tasks(store, as_of),
        runs=_runs(store, as_of),
        top_debtors=kpi.top_debtors,
        promises=_promises(store, as_of),
    )


def days_past_due(config: Config, ledger: Ledger, as_of: date) -> dict[str, int]:
    """invoice id -> days past due on ``as_of``, counted per the debtor group's ``days`` (as robots/aging.py)."""
    groups = config.settings.groups
    group_of = {cp.id: cp.group for cp in ledger.counterparties}
    counting: dict[str, DayCount] = {}
    for contract in ledger.contracts:
        group = group_of.get(contract.counterparty_id, "default")
        if group not in groups:
            raise ConfigError(
                f"counterparty {contract.counterparty_id!r} is in debtor group {group!r}, which schedules.yaml "
                f"does not define (groups: {', '.join(sorted(groups))})"
            )
        counting[contract.id] = groups[group].days
    dpd = DaysPastDue(config.calendar(), as_of)
    return {inv.id: dpd(inv.due_date, counting[inv.contract_id]) for inv in ledger.invoices
            if inv.date <= as_of and not inv.is_credit_note}


def _tasks(store: Store, as_of: date) -> tuple[TaskFact, ...]:
    """Tasks given by runs of ``as_of`` or earlier."""
    return tuple(TaskFact(row.id, row.role, row.due_on, row.status) for row in task_facts(store, as_of))


def _runs(store: Store, as_of: date) -> tuple[RunFact, ...]:
    """Finished runs of ``as_of`` or earlier: only a run that did its steps can have had an effect."""
    return tuple(RunFact(row.id, row.scenario, row.column_id, row.as_of,
                         tuple((i["id"], Decimal(i["open_amount"])) for i in row.invoices))
                 for row in finished_run_facts(store, as_of))


def _promises(store: Store, as_of: date) -> tuple[PromiseFact, ...]:
    """Promises to pay open on ``as_of`` (recorded by then, not kept, broken or cancelled by then)."""
    from robots.store.people import promises_for_plan

    return tuple(PromiseFact(r.id, r.contract_id, r.amount, r.promised_on) for r in promises_for_plan(store, as_of))
