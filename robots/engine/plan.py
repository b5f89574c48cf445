"""``plan``: what the robots would do on each coming day, with no side effect at all.

It pulls the ledger from the connectors (read-only), reads the history from the store if the store exists, and
simulates the evaluations day by day in memory, assuming no new payments arrive. Each planned letter names the
officers who would sign it (the scenario's sign steps) and the penalty accrued on its invoices by that day
(robots/penalties.py, as ``penalties:`` configures it; the scenario's compute_penalty step may override the basis).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from robots.config import Config
from robots.core.aging import PlannedRun, check_order, evaluate
from robots.core.domain import ZERO, Contract, Hold, Ledger
from robots.core.penalties import PenaltyError, open_timelines, penalty_for
from robots.engine.sync import build_connectors, pull
from robots.store import Store


@dataclass(frozen=True)
class PlannedLetter:
    """One scenario run the robots would start, with what a person needs to recognise it."""

    run: PlannedRun
    counterparty: str
    contract_number: str
    amount: Decimal
    #: "name (position)" of each officer the scenario's sign steps name, in step order.
    officers: tuple[str, ...] = ()
    #: The penalty accrued on the run's invoices by that day; None when nothing applies (no rate, no key rates).
    penalty: Decimal | None = None
    #: Why the penalty could not be computed (e.g. the key-rate table does not cover a day), if so.
    penalty_error: str | None = None


@dataclass(frozen=True)
class PlannedDay:
    day: date
    letters: tuple[PlannedLetter, ...]
    skipped: int

    @property
    def runs(self) -> tuple[PlannedRun, ...]:
        return tuple(letter.run for letter in self.letters)


def _existing_store(config: Config) -> Store | None:
    url = config.database_url()
    return Store(url) if Store.exists(url) else None  # never create a database just to plan


def plan(config: Config, as_of: date, days: int, ledger: Ledger | None = None) -> list[PlannedDay]:
    ledger = ledger if ledger is not None else pull(build_connectors(config))
    history: dict[tuple[str, str], int] = {}
    holds: dict[str, Hold] = {}
    store = _existing_store(config)
    if store is not None:
        try:
            state = store.planning_state(as_of)
        finally:
            store.close()
        check_order(as_of, state.last_as_of)
        history, holds = state.history, state.holds
    policy, calendar = config.policy(), config.calendar()
    names = {cp.id: cp.name for cp in ledger.counterparties}
    contracts = {c.id: (names.get(c.counterparty_id, c.counterparty_id), c.number) for c in ledger.contracts}
    by_id = {c.id: c for c in ledger.contracts}
    invoices = {i.id: i for i in ledger.invoices}
    out = []
    for n in range(days):
        day = as_of + timedelta(days=n)
        ev = evaluate(ledger, policy, calendar, day, history, holds)
        amounts: dict[tuple[str, str], Decimal] = {}
        for x in ev.crossings:
            key = (x.invoice_id, x.epoch)
            history[key] = max(history.get(key, x.offset), x.offset)
            if x.status == "run":
                amounts[(x.contract_id, x.column_id)] = amounts.get((x.contract_id, x.column_id), ZERO) + x.open_amount
        timelines = open_timelines(ledger, day, {r.contract_id for r in ev.runs}) if ev.runs else {}
        letters = []
        for r in ev.runs:
            penalty, error = _penalty(config, r, by_id.get(r.contract_id), invoices, timelines, day, calendar)
            letters.append(PlannedLetter(r, *contracts[r.contract_id], amounts[(r.contract_id, r.column_id)],
                                         _officers(config, r.scenario), penalty, error))
        out.append(PlannedDay(day, tuple(letters), sum(1 for x in ev.crossings if x.status == "skipped")))
    return out


def _officers(config: Config, scenario_id: str) -> tuple[str, ...]:
    scenario = config.scenarios.get(scenario_id)
    officers = config.settings.officers
    out = []
    for step in scenario.steps if scenario else ():
        officer_id = step.signer()
        if officer_id is not None:
            o = officers.get(officer_id)
            out.append(f"{o.name} ({o.position})" if o else officer_id)
    return tuple(dict.fromkeys(out))


def _penalty(config: Config, run: PlannedRun, contract: Contract | None, invoices: dict, timelines: dict,
             day: date, calendar) -> tuple[Decimal | None, str | None]:
    scenario = config.scenarios.get(run.scenario)
    basis = next((s.penalty_basis() for s in (scenario.steps if scenario else ()) if s.computes_penalty), None)
    total, applies = ZERO, False
    for invoice_id in run.invoice_ids:
        inv = invoices.get(invoice_id)
        if inv is None:
            continue
        try:
            accrual = penalty_for(timelines.get(invoice_id, ()), inv.due_date, day, principal=inv.amount,
                                  contract_rate=contract.penalty_rate_per_day if contract else None,
                                  config=config.settings.penalties, is_working=calendar.is_working, basis=basis)
        except PenaltyError as exc:
            return None, str(exc)
        applies = applies or accrual.basis != "none"
        total += accrual.total
    return (total, None) if applies else (None, None)


def print_plan(days_planned: list[PlannedDay], as_of: date, days: int) -> None:
    """The plan as people read it: one line per coming scenario run."""
    from robots.documents.formatting import format_money

    total = 0
    for day in days_planned:
        for letter in day.letters:
            run = letter.run
            total += 1
            if letter.penalty_error:
                penalty = f"penalty: cannot compute ({letter.penalty_error})"
            elif letter.penalty is None:
                penalty = "penalty: none"
            else:
                penalty = f"penalty: {format_money(letter.penalty)}"
            signed = f"signed by {', '.join(letter.officers)}" if letter.officers else "unsigned"
            print(f"{day.day}  {run.contract_id:<12} {run.column_id:<14} {run.scenario:<22} "
                  f"{format_money(letter.amount):>20}  {letter.counterparty}, contract {letter.contract_number}; "
                  f"invoices: {', '.join(run.invoice_ids)}; {penalty}; {signed}")
    print(f"{total} scenario runs planned over {days} days from {as_of} (assuming no new payments)")
