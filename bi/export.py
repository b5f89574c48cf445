"""``export bi``: the star schema of the receivables and of the robots' work, as CSV and as Parquet.

One call builds every table (:mod:`bi.schema` defines them) and writes each twice (``csv/<table>.csv``, UTF-8
with a BOM so Excel and Power BI read Cyrillic right; ``parquet/<table>.parquet``, money as decimal(18,2)), with
the schema README and a manifest. The folder is built as a hidden sibling and swapped in only when complete, so
``out_dir`` always holds one whole export, the previous or the new one (:mod:`bi.writer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from bi import arrays, debts, ledger_facts
from bi.inputs import load_inputs
from bi.readme import render_readme
from bi.schema import BY_NAME, DATE, TABLES
from bi.store_facts import robot_facts
from bi.writer import (
    ExportResult,
    TableWriter,
    check_replaceable,
    replace_dir,
    write_manifest,
    write_text,
)
from robots.config import Config
from robots.core.domain import Ledger
from robots.core.errors import UsageError
from robots.core.kpi.effectiveness import step_effectiveness
from robots.core.kpi.kpis import compute_kpis
from robots.core.workdays import WorkCalendar
from robots.store import Store
from robots.support.gcpause import no_cyclic_gc


def export_bi(config: Config, store: Store, out_dir: Path, as_of: date, date_from: date | None = None) -> ExportResult:
    """Export the star schema as of ``as_of`` into ``out_dir``, replacing a previous export there.

    The debt snapshot has one day per day in ``date_from`` .. ``as_of`` (default: ``as_of`` alone); every other
    fact holds its whole history up to ``as_of``.
    """
    date_from = date_from or as_of
    if date_from > as_of:
        raise UsageError(f"--from {date_from.isoformat()} is after --as-of {as_of.isoformat()}")
    out_dir = Path(out_dir).absolute()
    check_replaceable(out_dir)
    result = ExportResult(out_dir, as_of, date_from)

    def build(folder: Path) -> None:
        writer = TableWriter(folder)
        try:
            for name, table in build_tables(config, store, as_of, date_from, emit=writer.put).items():
                result.rows[name] = table.num_rows
            writer.wait()
        finally:
            writer.close()
        write_text(folder / "README.md", render_readme(result))
        write_manifest(folder, {"as_of": as_of.isoformat(), "from": date_from.isoformat(), "tables": result.rows})

    with no_cyclic_gc():
        replace_dir(out_dir, build)
    return result


def build_tables(config: Config, store: Store, as_of: date, date_from: date,
                 emit: Callable[[str, pa.Table], None] = lambda name, table: None) -> dict[str, pa.Table]:
    """Every table of the schema, in schema order; ``emit`` gets each as soon as it is built."""
    tables: dict[str, pa.Table] = {}

    def add(found: dict[str, pa.Table]) -> None:
        for name, table in found.items():
            tables[name] = table
            emit(name, table)

    ledger = store.load_ledger()
    calendar = config.calendar()
    policy = config.policy()
    schedule_of = ledger_facts.schedules(ledger, policy.groups)
    days = [date_from + timedelta(days=n) for n in range((as_of - date_from).days + 1)]
    invoices = ledger_facts.invoice_columns(ledger)
    add({"dim_counterparty": ledger_facts.dim_counterparty(ledger), "dim_contract": ledger_facts.dim_contract(ledger),
         "dim_invoice": ledger_facts.dim_invoice(invoices), "dim_column": ledger_facts.dim_column(config),
         "dim_officer": ledger_facts.dim_officer(config), "fact_payments": ledger_facts.fact_payments(ledger, as_of)})
    open_debts = debts.debts(ledger, invoices, schedule_of, as_of)
    add({"fact_debt_snapshot": debts.fact_debt_snapshot(open_debts, calendar, days, policy.tolerance)})
    add(dict(zip(("fact_penalties", "fact_penalty_periods"), debts.fact_penalties(open_debts))))
    del open_debts, invoices
    add(robot_facts(store, as_of, {c: s.name for c, s in schedule_of.items()},
                    {c.id: c.counterparty_id for c in ledger.contracts}))
    add(kpi_facts(config, _WithLedger(store, ledger), as_of))
    del ledger
    add({"dim_date": dim_date(tables.values(), days, calendar)})
    return {t.name: tables[t.name] for t in TABLES}


class _WithLedger:
    """The store, except that the ledger is the one this export already loaded (loading a million invoices
    twice would cost as much again, and both halves of the export must see the same ledger)."""

    def __init__(self, store: Store, ledger: Ledger):
        self._store, self._ledger = store, ledger

    def load_ledger(self) -> Ledger:
        return self._ledger

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def kpi_facts(config: Config, store: Store, as_of: date) -> dict[str, pa.Table]:
    """fact_kpi and fact_step_effectiveness, from the KPI module."""
    inputs = load_inputs(config, store, as_of)
    kpis = compute_kpis(inputs)
    effects = step_effectiveness(inputs)
    key = arrays.day_key(as_of)
    return {
        "fact_kpi": arrays.table(BY_NAME["fact_kpi"], {
            "as_of": [as_of] * len(kpis), "date_key": [key] * len(kpis), "code": [k.code for k in kpis],
            "title": [k.title for k in kpis], "value": [k.value for k in kpis], "unit": [k.unit for k in kpis],
            "note": [k.note or "" for k in kpis]}),
        "fact_step_effectiveness": arrays.table(BY_NAME["fact_step_effectiveness"], {
            "as_of": [as_of] * len(effects), "date_key": [key] * len(effects),
            "scenario": [e.scenario for e in effects], "column_id": [e.column_id for e in effects],
            "window_days": [e.window_days for e in effects], "runs": [e.runs for e in effects],
            "debt": arrays.money([e.debt for e in effects]), "paid": arrays.money([e.paid for e in effects]),
            "share": [e.share for e in effects], "complete": [e.complete for e in effects]}),
    }


def dim_date(tables: Iterable[pa.Table], days: list[date], calendar: WorkCalendar) -> pa.Table:
    """Every day from the earliest to the latest date in ``tables`` (and at least ``days``)."""
    lo, hi = min(days), max(days)
    for t in tables:
        for f in t.schema:
            if f.type == DATE and t.num_rows:
                bounds = pc.min_max(t[f.name]).as_py()
                if bounds["min"] is not None:
                    lo, hi = min(lo, bounds["min"]), max(hi, bounds["max"])
    span = [lo + timedelta(days=n) for n in range((hi - lo).days + 1)]
    iso = [d.isocalendar() for d in span]
    day = pa.array(span, DATE)
    return arrays.table(BY_NAME["dim_date"], {
        "date_key": arrays.date_keys(day), "date": day, "year": [d.year for d in span],
        "quarter": [(d.month - 1) // 3 + 1 for d in span], "month": [d.month for d in span],
        "iso_year": [i.year for i in iso], "iso_week": [i.week for i in iso], "weekday": [i.weekday for i in iso],
        "is_working_day": [calendar.is_working(d) for d in span]})


__all__ = ["build_tables", "export_bi"]
