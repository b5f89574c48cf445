"""The BI dimensions and the payments, from the ledger and the config (no I/O). The debt snapshot and the
penalties are in :mod:`bi.debts`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from bi import arrays
from bi.schema import BY_NAME, MONEY
from robots.config import Config
from robots.core.domain import GroupSchedule, Ledger
from robots.core.errors import ConfigError

_HUNDRED = Decimal(100)


def dim_counterparty(ledger: Ledger) -> pa.Table:
    cps = ledger.counterparties
    return arrays.table(BY_NAME["dim_counterparty"], {
        "counterparty_id": [c.id for c in cps], "name": [c.name for c in cps], "inn": [c.inn for c in cps],
        "email": [c.email for c in cps], "debtor_group": [c.group for c in cps]})


def dim_contract(ledger: Ledger) -> pa.Table:
    cts = ledger.contracts
    rates = [c.penalty_rate_per_day for c in cts]
    return arrays.table(BY_NAME["dim_contract"], {
        "contract_id": [c.id for c in cts], "number": [c.number for c in cts],
        "counterparty_id": [c.counterparty_id for c in cts], "payment_days": [c.payment_days for c in cts],
        "currency": [c.currency for c in cts], "penalty_rate_per_day": rates,
        "penalty_percent_per_day": [None if r is None else r * _HUNDRED for r in rates]})


def invoice_columns(ledger: Ledger) -> pa.Table:
    """Every invoice as columns (the shape of dim_invoice without its date keys), converted by Arrow in bulk."""
    invs = ledger.invoices
    contracts = pa.array([i.contract_id for i in invs], pa.string())
    amount = pa.array([i.amount for i in invs], MONEY)  # refuses an amount finer than kopecks
    return pa.table({
        "invoice_id": pa.array([i.id for i in invs], pa.string()),
        "number": pa.array([i.number for i in invs], pa.string()),
        "contract_id": contracts,
        "counterparty_id": arrays.lookup(contracts, {c.id: c.counterparty_id for c in ledger.contracts}),
        "issued_on": pa.array([i.date for i in invs], pa.date32()),
        "due_date": pa.array([i.due_date for i in invs], pa.date32()),
        "amount": amount, "is_credit_note": pc.less(amount, pa.scalar(0, MONEY))})


def dim_invoice(invoices: pa.Table) -> pa.Table:
    return arrays.table(BY_NAME["dim_invoice"], {
        **{name: invoices[name] for name in invoices.column_names},
        "issued_date_key": arrays.date_keys(invoices["issued_on"]),
        "due_date_key": arrays.date_keys(invoices["due_date"])})


def dim_column(config: Config) -> pa.Table:
    rows: dict[str, list] = defaultdict(list)
    for group, schedule in config.settings.groups.items():
        for position, col in enumerate(schedule.columns, 1):
            scenario = config.scenarios.get(col.scenario)
            for name, value in (("column_key", f"{group}/{col.id}"), ("debtor_group", group),
                                ("column_id", col.id), ("position", position), ("offset_days", col.offset),
                                ("day_count", (col.days or schedule.days).value), ("title", col.title),
                                ("scenario", col.scenario), ("scenario_title", scenario.title if scenario else "")):
                rows[name].append(value)
        for event, scenario_id in config.settings.events.model_dump().items():  # runs on events, per group
            if scenario_id is None:
                continue
            scenario = config.scenarios.get(scenario_id)
            for name, value in (("column_key", f"{group}/{event}"), ("debtor_group", group), ("column_id", event),
                                ("position", 0), ("offset_days", 0), ("day_count", "event"),
                                ("title", scenario.title if scenario else event), ("scenario", scenario_id),
                                ("scenario_title", scenario.title if scenario else "")):
                rows[name].append(value)
    return arrays.table(BY_NAME["dim_column"], rows)


def dim_officer(config: Config) -> pa.Table:
    officers = config.settings.officers
    return arrays.table(BY_NAME["dim_officer"], {
        "officer_id": list(officers), "name": [o.name for o in officers.values()],
        "position": [o.position for o in officers.values()],
        "level": [o.level.value if o.level else None for o in officers.values()],
        "deputy_id": [o.deputy for o in officers.values()]})


def fact_payments(ledger: Ledger, as_of: date) -> pa.Table:
    pays = [p for p in ledger.payments if p.date <= as_of]
    counterparty = {c.id: c.counterparty_id for c in ledger.contracts}
    paid_on = pa.array([p.date for p in pays], pa.date32())
    return arrays.table(BY_NAME["fact_payments"], {
        "payment_id": [p.id for p in pays], "paid_on": paid_on, "date_key": arrays.date_keys(paid_on),
        "contract_id": [p.contract_id for p in pays],
        "counterparty_id": [counterparty.get(p.contract_id) for p in pays],
        "invoice_id": [p.invoice_id for p in pays],
        "amount": arrays.money_from_kopecks([arrays.kopecks(p.amount) for p in pays])})


def schedules(ledger: Ledger, groups: dict[str, GroupSchedule]) -> dict[str, GroupSchedule]:
    """The aging schedule of each contract, by its counterparty's debtor group (as the aging engine does)."""
    group_of = {cp.id: cp.group for cp in ledger.counterparties}
    result = {}
    for contract in ledger.contracts:
        group = group_of.get(contract.counterparty_id, "default")
        if group not in groups:
            raise ConfigError(
                f"counterparty {contract.counterparty_id!r} is in debtor group {group!r}, which schedules.yaml "
                f"does not define (groups: {', '.join(sorted(groups))})")
        result[contract.id] = groups[group]
    return result
