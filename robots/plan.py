"""``plan``: what the robots would do on each coming day, with no side effect at all.

It pulls the ledger from the connectors (read-only), reads the history from the store if the store exists, and
simulates the evaluations day by day in memory, assuming no new payments arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.engine import make_url

from robots.aging import PlannedRun, check_order, evaluate
from robots.config import Config
from robots.domain import ZERO, Hold, Ledger
from robots.store import Store
from robots.sync import build_connectors, pull
from robots.tick import calendar_for


@dataclass(frozen=True)
class PlannedLetter:
    """One scenario run the robots would start, with what a person needs to recognise it."""

    run: PlannedRun
    counterparty: str
    contract_number: str
    amount: Decimal


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
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return None  # never create a database just to plan
    return Store(url)


def plan(config: Config, as_of: date, days: int, ledger: Ledger | None = None) -> list[PlannedDay]:
    ledger = ledger if ledger is not None else pull(build_connectors(config))
    history: dict[tuple[str, str], int] = {}
    holds: dict[str, Hold] = {}
    store = _existing_store(config)
    if store is not None:
        try:
            with store.engine.connect() as conn:
                from robots.store.store import EvaluationTx

                tx = EvaluationTx(conn)  # read-only use: history, holds and the last day
                check_order(as_of, tx.last_as_of())
                history = dict(tx.history())
                holds = tx.holds(as_of)
                conn.rollback()
        finally:
            store.close()
    policy, calendar = config.policy(), calendar_for(config)
    names = {cp.id: cp.name for cp in ledger.counterparties}
    contracts = {c.id: (names.get(c.counterparty_id, c.counterparty_id), c.number) for c in ledger.contracts}
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
        letters = tuple(PlannedLetter(r, *contracts[r.contract_id], amounts[(r.contract_id, r.column_id)])
                        for r in ev.runs)
        out.append(PlannedDay(day, letters, sum(1 for x in ev.crossings if x.status == "skipped")))
    return out


def print_plan(days_planned: list[PlannedDay], as_of: date, days: int) -> None:
    """The plan as people read it: one line per coming scenario run."""
    from robots.documents.formatting import format_money

    total = 0
    for day in days_planned:
        for letter in day.letters:
            run = letter.run
            total += 1
            print(f"{day.day}  {run.contract_id:<12} {run.column_id:<14} {run.scenario:<22} "
                  f"{format_money(letter.amount):>20}  {letter.counterparty}, contract {letter.contract_number}; "
                  f"invoices: {', '.join(run.invoice_ids)}")
    print(f"{total} scenario runs planned over {days} days from {as_of} (assuming no new payments)")
