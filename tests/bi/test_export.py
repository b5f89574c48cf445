"""``export bi`` on a real store built by real ticks (signed letters), on SQLite and on PostgreSQL."""

from __future__ import annotations

import csv
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text

import bi.writer
from bi import debts, ledger_facts
from bi.debts import penalty_kopecks
from bi.export import export_bi
from bi.readme import render_readme
from bi.schema import BY_NAME, TABLES
from bi.writer import BOM
from connectors.files.ledger_csv import write_ledger_csv
from demo.ledger import generate_demo_ledger, ledger_as_of
from robots.config import Config, load_config
from robots.core.balances import open_balances
from robots.core.domain import (
    Column,
    Contract,
    Counterparty,
    DayCount,
    GroupSchedule,
    Invoice,
    Ledger,
    Payment,
)
from robots.core.errors import UsageError
from robots.core.kpi.kpis import compute_kpis
from robots.core.penalties import ContractualRate, accrue, open_timelines
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.store import Store
from robots.store import schema as t
from robots.store.types import utc
from robots.support.clock import SystemClock
from tests.conftest import PG_ADMIN_URL
from tests.worlds import shipped_world

REPO = Path(__file__).resolve().parents[2]
D = Decimal
START = date(2026, 1, 12)
TICKS = (START, date(2026, 1, 16), date(2026, 1, 21), date(2026, 1, 26), date(2026, 2, 1))
AS_OF = TICKS[-1]

#: A hand-made debt whose penalty is computed by hand below: 100 000.00 due 20 January at 0.1 % a day,
#: 40 000.00 paid on 25 January.
HAND = Ledger(
    counterparties=(Counterparty("CP-HAND", "ООО «Ручной расчёт»", "7707083893", "hand@example.ru", "default"),),
    contracts=(Contract("CT-HAND", "Р-1/2025", "CP-HAND", 30, "RUB", D("0.001")),),
    invoices=(Invoice("INV-HAND", "77", "CT-HAND", date(2025, 12, 21), date(2026, 1, 20), D("100000.00")),),
    payments=(Payment("PAY-HAND", "CT-HAND", date(2026, 1, 25), D("40000.00"), "INV-HAND"),),
)


@dataclass
class World:
    config: Config
    store: Store
    as_of: date
    ledger: Ledger  # what the store holds after the last tick


def world_ledger() -> Ledger:
    demo = generate_demo_ledger(seed=7, start=START, days=21, counterparties=10)
    return Ledger(*(getattr(demo, f) + getattr(HAND, f) for f in ("counterparties", "contracts", "invoices",
                                                                   "payments")))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory, officer_pki):
    """Ticks on five days over three weeks of a small demo ledger, every letter signed."""
    root = tmp_path_factory.mktemp(f"bi-export-{request.param}")
    shipped_world(root, pki=officer_pki)
    config = load_config(root / "schedules.yaml")
    schema = None
    if request.param == "sqlite":
        store = Store.open(config.database_url())
    else:
        schema = f"arbots_bi_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        store = Store.open(PG_ADMIN_URL, schema=schema)
    ledger = world_ledger()
    services = services_for(config, store, SystemClock())
    for day in TICKS:
        write_ledger_csv(ledger_as_of(ledger, day), config.resolve(config.settings.connectors[0].path))
        report = tick(services, day, datetime.combine(day, time(8), UTC))
        assert not report.runner.failed
    services.close()
    yield World(config, store, AS_OF, ledger_as_of(ledger, AS_OF))
    store.close()
    if schema:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def exported(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("bi-out") / "export"
    result = export_bi(world.config, world.store, out, world.as_of)
    return result


def read_csv(path: Path, name: str) -> pa.Table:
    return pacsv.read_csv(path / "csv" / f"{name}.csv", convert_options=pacsv.ConvertOptions(
        column_types=BY_NAME[name].schema, strings_can_be_null=True, quoted_strings_can_be_null=False))


def read_parquet(path: Path, name: str) -> pa.Table:
    return pq.read_table(path / "parquet" / f"{name}.parquet")


# -- files, headers, formats ---------------------------------------------------------------------------------


def test_an_export_holds_every_table_as_csv_and_parquet_plus_readme_and_manifest(exported):
    out = exported.out_dir
    expected = {f"csv/{t.name}.csv" for t in TABLES} | {f"parquet/{t.name}.parquet" for t in TABLES}
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == expected | {"README.md", "manifest.json"}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["as_of"] == AS_OF.isoformat() and manifest["from"] == AS_OF.isoformat()
    assert manifest["tables"] == exported.rows and list(exported.rows) == [t.name for t in TABLES]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_each_csv_starts_with_a_bom_and_a_header_of_the_schemas_columns(exported):
    for table in TABLES:
        raw = (exported.out_dir / "csv" / f"{table.name}.csv").read_bytes()
        assert raw.startswith(BOM), table.name
        header = next(csv.reader([raw[len(BOM):].decode("utf-8").splitlines()[0]]))
        assert header == table.column_names, table.name
        assert read_parquet(exported.out_dir, table.name).schema.equals(table.schema), table.name


def test_csv_and_parquet_hold_the_same_rows(exported):
    for table in TABLES:
        from_csv, from_parquet = read_csv(exported.out_dir, table.name), read_parquet(exported.out_dir, table.name)
        assert from_csv.num_rows == from_parquet.num_rows == exported.rows[table.name], table.name
        assert from_csv.to_pylist() == from_parquet.to_pylist(), table.name


def test_money_is_written_with_a_dot_and_two_decimals(exported):
    rows = list(csv.DictReader((exported.out_dir / "csv" / "fact_payments.csv").read_text("utf-8-sig").splitlines()))
    assert rows and all(r["amount"].count(".") == 1 and len(r["amount"].split(".")[1]) == 2 for r in rows)
    assert next(r for r in rows if r["payment_id"] == "PAY-HAND")["amount"] == "40000.00"


def test_the_world_has_rows_in_every_table(exported):
    assert all(exported.rows.values()), exported.rows


# -- exact reconciliation with the ledger ----------------------------------------------------------------------


def test_the_snapshot_and_the_payments_reconcile_to_the_kopeck_in_both_formats(world, exported):
    ledger = world.store.load_ledger()
    expected_open = sum(open_balances(ledger, world.as_of).open.values(), D(0))
    expected_paid = sum((p.amount for p in ledger.payments if p.date <= world.as_of), D(0))
    assert expected_open > 0 and expected_paid > 0
    for read in (read_csv, read_parquet):
        snapshot = read(exported.out_dir, "fact_debt_snapshot").to_pylist()
        assert sum((r["open_amount"] for r in snapshot), D(0)) == expected_open
        payments = read(exported.out_dir, "fact_payments").to_pylist()
        assert sum((r["amount"] for r in payments), D(0)) == expected_paid
    # and the robots' own open total of that day's evaluation
    recorded = world.store.scalar(select(t.evaluations.c.total_open).where(t.evaluations.c.as_of == world.as_of))
    within = sum((r["open_amount"] for r in snapshot if not r["within_tolerance"]), D(0))
    assert within == recorded


def test_duckdb_loads_the_files_as_they_are_and_joins_facts_to_dimensions(world, exported):
    out = exported.out_dir
    con = duckdb.connect()
    for kind, reader in (("csv", "read_csv_auto('{}/csv/{}.csv')"),
                         ("parquet", "read_parquet('{}/parquet/{}.parquet')")):
        for table in TABLES:
            con.execute(f"CREATE OR REPLACE VIEW {table.name} AS SELECT * FROM {reader.format(out, table.name)}")
        total, rows = con.execute("""
            SELECT sum(s.open_amount), count(*) FROM fact_debt_snapshot s
            JOIN dim_invoice i USING (invoice_id)
            JOIN dim_contract c ON c.contract_id = s.contract_id
            JOIN dim_counterparty p ON p.counterparty_id = s.counterparty_id
            JOIN dim_date d ON d.date_key = s.date_key
            LEFT JOIN dim_column k ON k.column_key = s.column_key""").fetchone()
        assert rows == exported.rows["fact_debt_snapshot"], kind
        expected = sum(open_balances(world.ledger, world.as_of).open.values(), D(0))
        assert D(str(round(total, 2))).quantize(D("0.01")) == expected, kind  # CSV money is DOUBLE in read_csv_auto
        by_column = con.execute("""
            SELECT k.title, sum(s.open_amount) FROM fact_debt_snapshot s JOIN dim_column k USING (column_key)
            GROUP BY ALL""").fetchall()
        assert by_column, kind
        paid = con.execute("""SELECT sum(f.amount) FROM fact_payments f JOIN dim_date d USING (date_key)
                              JOIN dim_contract c USING (contract_id)""").fetchone()[0]
        assert D(str(round(paid, 2))).quantize(D("0.01")) == sum((p.amount for p in world.ledger.payments), D(0))
    exact = con.execute(f"SELECT sum(open_amount) FROM read_parquet('{out}/parquet/fact_debt_snapshot.parquet')")
    assert exact.fetchone()[0] == sum(open_balances(world.ledger, world.as_of).open.values(), D(0))


def test_every_key_points_at_a_row_of_its_dimension(exported):
    con = duckdb.connect()
    for table in TABLES:
        con.execute(f"CREATE VIEW {table.name} AS SELECT * FROM read_parquet('{exported.out_dir}/parquet/"
                    f"{table.name}.parquet')")
    pk = {t.name: next(c.name for c in t.columns if c.key.startswith("PK")) for t in TABLES
          if t.name.startswith("dim_") or t.name == "fact_runs"}
    checked = 0
    for table in TABLES:
        for col in table.columns:
            target = col.key.split(", ")[-1]
            if target not in pk or target == table.name and col.key.startswith("PK"):
                continue
            orphans = con.execute(f"SELECT count(*) FROM {table.name} f WHERE f.{col.name} IS NOT NULL AND NOT EXISTS "
                                  f"(SELECT 1 FROM {target} d WHERE d.{pk[target]} = f.{col.name})").fetchone()[0]
            assert orphans == 0, f"{table.name}.{col.name} -> {target}"
            checked += 1
    assert checked > 40


# -- the snapshot over several days ---------------------------------------------------------------------------


def test_from_asks_for_a_snapshot_of_every_day_each_reconciling_with_that_days_balances(world, tmp_path):
    first = AS_OF - timedelta(days=6)
    result = export_bi(world.config, world.store, tmp_path / "range", AS_OF, first)
    assert result.date_from == first
    snapshot = read_parquet(tmp_path / "range", "fact_debt_snapshot").to_pylist()
    days = sorted({r["snapshot_date"] for r in snapshot})
    assert days == [first + timedelta(days=n) for n in range(7)]
    for day in days:
        rows = [r for r in snapshot if r["snapshot_date"] == day]
        balances = open_balances(world.ledger, day).open
        assert {r["invoice_id"]: r["open_amount"] for r in rows} == {i: a for i, a in balances.items() if a > 0}, day
        assert all(r["date_key"] == day.year * 10_000 + day.month * 100 + day.day for r in rows)
    hand = {r["snapshot_date"]: r for r in snapshot if r["invoice_id"] == "INV-HAND"}
    assert [hand[d]["days_past_due"] for d in days] == [(d - date(2026, 1, 20)).days for d in days]
    assert all(hand[d]["open_amount"] == D("60000.00") and hand[d]["is_overdue"] for d in days)
    # 6 .. 8 days: overdue_2; 9 days = 7 working days after Tue 20.01: overdue_7wd; 10 .. 12 days: overdue_10
    assert [hand[d]["column_id"] for d in days] == ["overdue_2"] * 3 + ["overdue_7wd"] + ["overdue_10"] * 3
    dim = read_parquet(tmp_path / "range", "dim_date").to_pylist()
    assert {d["date"] for d in dim} >= set(days)
    assert read_parquet(tmp_path / "range", "fact_payments").num_rows == len(world.ledger.payments)


def test_working_day_groups_count_working_days_and_dim_date_follows_the_production_calendar(world, exported):
    dim = {r["date"]: r for r in read_parquet(exported.out_dir, "dim_date").to_pylist()}
    assert dim[date(2026, 1, 7)]["is_working_day"] is False  # Christmas, a holiday
    assert dim[date(2026, 1, 12)]["is_working_day"] is True and dim[date(2026, 1, 17)]["is_working_day"] is False
    assert dim[date(2026, 1, 12)] == {"date_key": 20260112, "date": date(2026, 1, 12), "year": 2026, "quarter": 1,
                                            "month": 1, "iso_year": 2026, "iso_week": 3, "weekday": 1,
                                            "is_working_day": True}
    snapshot = read_parquet(exported.out_dir, "fact_debt_snapshot").to_pylist()
    working = [r for r in snapshot if r["debtor_group"] == "key_accounts" and r["due_date"] < AS_OF]
    for r in working:
        expected = sum(1 for n in range(1, (AS_OF - r["due_date"]).days + 1)
                       if dim[r["due_date"] + timedelta(days=n)]["is_working_day"])
        assert r["days_past_due"] == expected
    def count(r, unit) -> int:  # days past due in a column's own unit
        if unit == world.config.settings.groups[r["debtor_group"]].days:
            return r["days_past_due"]
        span = range(1, (r["snapshot_date"] - r["due_date"]).days + 1)
        if unit.value == "calendar":
            return len(span)
        return sum(1 for n in span if dim[r["due_date"] + timedelta(days=n)]["is_working_day"])

    for r in snapshot:
        group = world.config.settings.groups[r["debtor_group"]]
        offsets = [(c.offset, c.id) for c in group.columns if c.offset <= count(r, c.days or group.days)]
        assert r["column_id"] == (offsets[-1][1] if offsets else None)
        assert r["column_key"] == (f"{r['debtor_group']}/{r['column_id']}" if offsets else None)


# -- penalties --------------------------------------------------------------------------------------------------


def test_the_hand_made_debts_penalty_is_the_hand_computed_one_in_both_formats(exported):
    for read in (read_csv, read_parquet):
        penalty = next(r for r in read(exported.out_dir, "fact_penalties").to_pylist() if r["invoice_id"] == "INV-HAND")
        # 21 .. 25 January on 100 000.00: 5 × 100.00 = 500.00; 26 January .. 1 February on 60 000.00: 7 × 60.00
        expected = {
            "as_of": AS_OF, "contract_id": "CT-HAND", "counterparty_id": "CP-HAND", "due_date": date(2026, 1, 20),
            "rate_per_day": D("0.001"), "first_day": date(2026, 1, 21), "last_day": AS_OF, "days": 12,
            "periods": 2, "open_amount": D("60000.00"), "is_open": True, "penalty_amount": D("920.00")}
        assert {k: penalty[k] for k in expected} == expected
        periods = [(p["period"], p["start_date"], p["end_date"], p["days"], p["base"], p["amount"])
                   for p in read(exported.out_dir, "fact_penalty_periods").to_pylist() if p["invoice_id"] == "INV-HAND"]
        assert periods == [(1, date(2026, 1, 21), date(2026, 1, 25), 5, D("100000.00"), D("500.00")),
                           (2, date(2026, 1, 26), AS_OF, 7, D("60000.00"), D("420.00"))]


def test_penalties_are_the_sum_of_their_periods_and_only_for_contracts_with_a_rate(world, exported):
    penalties = read_parquet(exported.out_dir, "fact_penalties").to_pylist()
    periods = read_parquet(exported.out_dir, "fact_penalty_periods").to_pylist()
    rated = {c.id for c in world.ledger.contracts if c.penalty_rate_per_day}
    assert penalties and {p["contract_id"] for p in penalties} <= rated
    for p in penalties:
        mine = [q for q in periods if q["invoice_id"] == p["invoice_id"]]
        assert sum((q["amount"] for q in mine), D(0)) == p["penalty_amount"]
        assert sum(q["days"] for q in mine) == p["days"] and len(mine) == p["periods"]
        assert p["first_day"] == p["due_date"] + timedelta(days=1)
    assert any(not p["is_open"] for p in penalties)  # paid late: the penalty stays


# -- the robots' facts ------------------------------------------------------------------------------------------


def test_the_robots_facts_are_the_stores_rows(world, exported):
    store = world.store
    skipped = [json.loads(r.skipped or "[]") for r in store.rows(select(t.crossings))]
    assert any(skipped)  # the world has catch-ups: their skipped columns are rows of fact_crossings
    assert exported.rows["fact_crossings"] == len(skipped) + sum(map(len, skipped))
    assert exported.rows["fact_runs"] == len(store.rows(select(t.runs.c.id)))
    assert exported.rows["fact_steps"] == len(store.rows(select(t.run_steps.c.run_id)))
    assert exported.rows["fact_tasks"] == len(store.rows(select(t.tasks.c.id)))
    runs = {r["run_id"]: r for r in read_parquet(exported.out_dir, "fact_runs").to_pylist()}
    events = set(world.config.settings.events.model_dump())
    for row in store.rows(select(t.runs)):
        assert runs[row.id]["status"] == row.status == "done"
        if row.column_id.split(":")[0] in events:  # an event run crossed no column: its own list counts
            assert runs[row.id]["column_key"].endswith("/" + row.column_id.split(":")[0])
        assert runs[row.id]["open_amount"] == sum((D(i["open_amount"]) for i in row.invoices), D(0))
        assert runs[row.id]["invoices"] == len(row.invoices)
        assert runs[row.id]["created_at"] == utc(row.created_at)
    crossings = read_parquet(exported.out_dir, "fact_crossings").to_pylist()
    expected = {}
    for r in store.rows(select(t.crossings)):
        expected[(r.id, r.column_id)] = (r.open_amount, r.status, r.run_id, r.col_offset)
        for column_id, offset in json.loads(r.skipped or "[]"):
            expected[(r.id, column_id)] = (r.open_amount, "skipped", None, offset)
    assert {(c["crossing_id"], c["column_id"]): (c["open_amount"], c["status"], c["run_id"], c["column_offset"])
            for c in crossings} == expected


def test_documents_carry_the_officer_and_signature_of_their_sign_step(world, exported):
    documents = read_parquet(exported.out_dir, "fact_documents").to_pylist()
    assert len(documents) == len(world.store.rows(select(t.documents.c.id))) > 0
    steps = {(s.run_id, s.idx): s.output for s in world.store.rows(select(t.run_steps)) if s.kind == "sign"}
    officers = set(world.config.settings.officers)
    for d in documents:
        signature = next(o["signature"] for (run, idx), o in sorted(steps.items(), reverse=True)
                         if run == d["run_id"] and idx < d["step_idx"])
        assert d["officer_id"] == signature["officer"] and d["officer_id"] in officers
        assert d["signature_level"] == signature["level"]
        assert d["certificate_serial"] == str(signature["certificate_serial"])
        assert d["signed_at"] == datetime.fromisoformat(signature["signed_at"])
    assert {d["signature_level"] for d in documents} >= {"B-T"}


def test_the_kpi_tables_are_the_kpi_modules_figures(world, exported):
    from bi.inputs import load_inputs

    kpis = compute_kpis(load_inputs(world.config, world.store, world.as_of))
    rows = read_parquet(exported.out_dir, "fact_kpi").to_pylist()
    assert [(r["code"], r["value"]) for r in rows] == [(k.code, k.value) for k in kpis]
    assert read_parquet(exported.out_dir, "fact_step_effectiveness").num_rows > 0


# -- replacing a previous export ---------------------------------------------------------------------------------


def _snapshot_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_new_export_replaces_the_previous_one_whole(world, tmp_path):
    out = tmp_path / "bi"
    export_bi(world.config, world.store, out, AS_OF - timedelta(days=3))
    export_bi(world.config, world.store, out, AS_OF)
    assert json.loads((out / "manifest.json").read_text())["as_of"] == AS_OF.isoformat()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bi"]


def test_a_failure_midway_leaves_the_previous_export_intact(world, tmp_path, monkeypatch):
    out = tmp_path / "bi"
    export_bi(world.config, world.store, out, AS_OF - timedelta(days=3))
    before = _snapshot_of(out)
    written = []
    real = bi.writer.write_table

    def failing(folder, name, table):
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        written.append(name)
        real(folder, name, table)

    monkeypatch.setattr(bi.writer, "write_table", failing)
    with pytest.raises(OSError, match="No space left"):
        export_bi(world.config, world.store, out, AS_OF)
    assert _snapshot_of(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bi"]  # the half-built folder is gone


def test_a_folder_that_is_not_an_export_is_never_replaced(world, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds no previous BI export"):
        export_bi(world.config, world.store, tmp_path, AS_OF)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_from_after_as_of_is_refused(world, tmp_path):
    with pytest.raises(UsageError, match="after --as-of"):
        export_bi(world.config, world.store, tmp_path / "x", AS_OF, AS_OF + timedelta(days=1))


# -- the README ----------------------------------------------------------------------------------------------------


def test_the_readme_documents_every_table_and_column_and_docs_bi_md_is_it(exported):
    readme = (exported.out_dir / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# This export") and f"As of **{AS_OF.isoformat()}**" in readme
    for table in TABLES:
        assert f"### {table.name}\n" in readme
        assert all(f"| `{c.name}` |" in readme for c in table.columns)
    assert (REPO / "docs" / "bi.md").read_text(encoding="utf-8") == render_readme(), \
        "docs/bi.md is stale: python -m bi.readme > docs/bi.md"


# -- the demo world over eight weeks (payments, partial payments, credit notes) ------------------------------------


def test_every_day_of_a_two_week_range_reconciles_on_the_eight_week_demo_world(bi_world, tmp_path):
    config, store, as_of = bi_world
    first = as_of - timedelta(days=13)
    export_bi(config, store, tmp_path / "bi", as_of, first)
    ledger = store.load_ledger()
    con = duckdb.connect()
    totals = dict(con.execute(f"SELECT snapshot_date, sum(open_amount) FROM read_parquet('{tmp_path}/bi/parquet/"
                              "fact_debt_snapshot.parquet') GROUP BY ALL").fetchall())
    assert len(totals) == 14
    for day, total in totals.items():
        assert total == sum(open_balances(ledger, day).open.values(), D(0)), day
    assert any(i.is_credit_note for i in ledger.invoices)


# -- the vectorised penalty arithmetic is the pure module's -------------------------------------------------------


def _expected_penalties(ledger: Ledger, as_of: date) -> dict[str, tuple]:
    timelines = open_timelines(ledger, as_of)
    rate_of = {c.id: c.penalty_rate_per_day for c in ledger.contracts if c.penalty_rate_per_day}
    result = {}
    for inv in ledger.invoices:
        if inv.id in timelines and inv.contract_id in rate_of:
            periods = accrue(timelines[inv.id], inv.due_date, as_of, ContractualRate(rate_of[inv.contract_id])).periods
            if periods:
                result[inv.id] = tuple((p.start, p.end, p.days, p.base, p.rate, p.amount) for p in periods)
    return result


def _exported_penalties(folder: Path) -> dict[str, tuple]:
    result: dict[str, list] = {}
    for p in read_parquet(folder, "fact_penalty_periods").to_pylist():
        result.setdefault(p["invoice_id"], []).append(
            (p["start_date"], p["end_date"], p["days"], p["base"], p["rate_per_day"], p["amount"]))
    return {k: tuple(v) for k, v in result.items()}


def test_every_exported_penalty_is_the_pure_modules_period_by_period(world, exported):
    assert _exported_penalties(exported.out_dir) == _expected_penalties(world.ledger, world.as_of)


def test_every_penalty_of_the_eight_week_demo_world_is_the_pure_modules(bi_world, tmp_path):
    config, store, as_of = bi_world
    export_bi(config, store, tmp_path / "bi", as_of)
    expected = _expected_penalties(store.load_ledger(), as_of)
    assert len(expected) > 50 and any(len(p) > 1 for p in expected.values())
    assert _exported_penalties(tmp_path / "bi") == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 10 ** 12), min_size=1, max_size=20),
       st.sampled_from([D("0.001"), D("0.0005"), D("0.0001234567"), D("0.005"), D("1"), D("2E+1"), D("0.1000")]),
       st.integers(0, 3000))
def test_penalty_kopecks_rounds_half_up_exactly_like_decimal(bases, rate, days):
    result = penalty_kopecks(np.array(bases, np.int64), rate, np.full(len(bases), days, np.int64))
    expected = [int((D(b).scaleb(-2) * rate * days).quantize(D("0.01"), ROUND_HALF_UP).scaleb(2)) for b in bases]
    numerator = int("".join(map(str, rate.as_tuple().digits))) * 10 ** max(0, rate.as_tuple().exponent)
    if result is None:  # might not fit in int64: the caller falls back to the pure module
        assert max(bases) * numerator * days >= 2 ** 62
    else:
        assert result.tolist() == expected


def test_penalties_too_large_for_int64_are_computed_by_the_pure_module():
    due = date(2026, 1, 20)
    ledger = Ledger(
        counterparties=(Counterparty("P", "ООО «Большой»", group="default"),),
        contracts=(Contract("C", "1", "P", 30, "RUB", D("0.0001234567")),
                   Contract("C2", "2", "P", 30, "RUB", D("0.001"))),
        invoices=(Invoice("BIG", "1", "C", date(2025, 1, 1), due, D("900000000000.00")),
                  Invoice("SMALL", "2", "C2", date(2025, 1, 1), due, D("1000.00"))),
    )
    groups = {"default": GroupSchedule("default", DayCount.CALENDAR, (Column("c", 1, "s"),))}
    as_of = due + timedelta(days=1000)
    found = debts.debts(ledger, ledger_facts.invoice_columns(ledger), ledger_facts.schedules(ledger, groups), as_of)
    summary, periods = debts.fact_penalties(found)
    by_id = {r["invoice_id"]: r["penalty_amount"] for r in summary.to_pylist()}
    # 90 000 000 000 000 kopecks × 1 234 567 × 1000 days does not fit in int64
    assert by_id == {"BIG": D("111111030000.00"), "SMALL": D("1000.00")}
    assert [p["period"] for p in periods.to_pylist()] == [1, 1]
