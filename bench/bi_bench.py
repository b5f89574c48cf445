"""BI export benchmark: ``export_bi`` for one as-of day on a million invoices, against a bare dump of the same
store tables to the same CSV + Parquet files (pandas reads, one join, pyarrow writes), in the same run.

    .venv/bin/python bench/bi_bench.py                  # 1,000,000 invoices over 50,000 contracts
    .venv/bin/python bench/bi_bench.py --quick          # 10,000 / 500: a smoke run of the export and the check
    .venv/bin/python bench/bi_bench.py --profile FILE   # also a cProfile of ours (pstats file)

The database is the aging benchmark's ledger (bench/aging_bench.py, same seed) with penalty rates on the
contracts, after the robots' first evaluation of it (its crossings and runs), every run done with its steps, a
signed document and a task. Each side runs in its own spawned subprocess on its own copy; bench/README.md
explains the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from aging_bench import AS_OF, NOW, SEED, make_ledger  # noqa: E402

RATES = (Decimal("0.001"), Decimal("0.001"), Decimal("0.001"), Decimal("0.001"), Decimal("0.001"),
         Decimal("0.001"), Decimal("0.001"), Decimal("0.001"), Decimal("0.0005"), None)  # as the demo: 80/10/10 %
TARGET = 2.0
BOM = b"\xef\xbb\xbf"
#: The tables both sides write from the same store rows: the check compares their rows and money totals. (The
#: snapshot differs by design: ours has the open debts with their balances, the baseline every invoice.)
SHARED = ("dim_counterparty", "dim_contract", "dim_invoice", "fact_payments", "fact_crossings", "fact_runs",
          "fact_steps", "fact_documents", "fact_tasks")

# ------------------------------------------------------------------------------------------------- the data


def build_database(path: Path, n_invoices: int, n_contracts: int, paying_share: float | None = None) -> dict[str, Any]:
    """The ledger with penalty rates, its first evaluation recorded, and every run done with its effects.
    ``paying_share`` overrides the aging benchmark's share of contracts with a payment (10 %)."""
    import dataclasses

    import aging_bench

    from robots.config import load_config
    from robots.engine.services import services_for
    from robots.engine.tick import evaluate_and_record
    from robots.store import Store
    from robots.support.clock import SystemClock

    if paying_share is not None:
        aging_bench.PAYING_SHARE = paying_share
    t0 = time.perf_counter()
    ledger = make_ledger(n_invoices, n_contracts)
    ledger = dataclasses.replace(ledger, contracts=tuple(
        dataclasses.replace(c, penalty_rate_per_day=RATES[k % len(RATES)]) for k, c in enumerate(ledger.contracts)))
    store = Store.open(f"sqlite:///{path}")
    store.replace_ledger(ledger, "bench", NOW)
    t1 = time.perf_counter()
    config = load_config(ROOT / "schedules.yaml")
    evaluate_and_record(services_for(config, store, SystemClock()), AS_OF, NOW)
    t2 = time.perf_counter()
    store.close()
    con = sqlite3.connect(path)
    _runs_done(con, config)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (
        "ledger_invoices", "ledger_payments", "crossings", "runs", "run_steps", "documents", "tasks")}
    con.close()
    return {"ledger": t1 - t0, "evaluate": t2 - t1, "effects": time.perf_counter() - t2, "counts": counts}


def _runs_done(con: sqlite3.Connection, config: Any) -> None:
    """Every run done as the runner leaves it: its steps (the sign step's output with its signature), one
    archived document and one task. Written directly: running 125,000 scenarios is not what is measured."""
    officers = list(config.settings.officers)
    done = NOW + timedelta(minutes=5)
    ts = done.strftime("%Y-%m-%d %H:%M:%S.%f")
    runs = con.execute("SELECT id, contract_id, scenario FROM runs ORDER BY id").fetchall()
    steps, documents, tasks = [], [], []
    for run_id, contract, scenario in runs:
        sha = f"{run_id:064x}"
        officer = officers[run_id % len(officers)]
        signature = {"officer": officer, "on_behalf_of": None, "signer_name": officer, "position": "",
                     "certificate_serial": str(10 ** 20 + run_id), "certificate_subject": f"CN={officer}",
                     "certificate_issuer": "CN=Issuing CA", "valid_from": "2025-01-01T00:00:00+00:00",
                     "valid_to": "2027-01-01T00:00:00+00:00", "level": "B-T", "signed_at": done.isoformat(),
                     "key_source": "pkcs12"}
        out = {"path": f"/work/{run_id}.signed.pdf", "sha256": sha, "title": scenario, "signature": signature}
        steps += [(run_id, 0, "render", "done", 1, json.dumps({"path": f"/work/{run_id}.pdf"}), None, ts),
                  (run_id, 1, "sign", "done", 1, json.dumps(out), None, ts),
                  (run_id, 2, "archive", "done", 1, json.dumps({"kind": "archived", "sha256": sha}), None, ts),
                  (run_id, 3, "task", "done", 1, json.dumps({"task": run_id}), None, ts)]
        documents.append((run_id, 2, contract, scenario, f"{contract}/{run_id}.pdf", sha, ts))
        tasks.append((run_id, 3, contract, "account_manager", "Кузнецов А. П.", f"Проконтролировать оплату {contract}",
                      (AS_OF + timedelta(days=2)).isoformat(), "open", ts))
    con.executemany("INSERT INTO run_steps (run_id, idx, kind, status, attempts, output, error, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", steps)
    con.executemany("INSERT INTO documents (run_id, step_idx, contract_id, title, path, sha256, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", documents)
    con.executemany("INSERT INTO tasks (run_id, step_idx, contract_id, role, assignee, title, due_on, status, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", tasks)
    con.execute("UPDATE runs SET status = 'done', attempts = 1, finished_at = ?", (ts,))
    con.commit()


# ------------------------------------------------------------------------------------------------- ours


def run_ours(db: str, out: str, profile: str | None = None) -> dict[str, Any]:
    """``bi.export.export_bi`` itself, timed as a whole and phase by phase (by wrapping what it calls)."""
    import bi.export as ex
    from bi import debts
    from robots.config import load_config
    from robots.store import Store

    config = load_config(ROOT / "schedules.yaml")
    store = Store.open(f"sqlite:///{db}")
    phases: dict[str, float] = defaultdict(float)
    loads: list[float] = []  # the KPI inputs must reuse the export's ledger, not load it again

    def timed(owner: Any, name: str, phase: str) -> None:
        fn = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[phase] += time.perf_counter() - t0
                if phase == "load_ledger":
                    loads.append(time.perf_counter() - t0)

        setattr(owner, name, wrapper)

    timed(Store, "load_ledger", "load_ledger")  # ours, and again inside the KPI inputs (bi.inputs.load_inputs)
    timed(debts, "debts", "debts")  # the invoices as columns, with the timelines of contracts with payments
    timed(debts, "fact_debt_snapshot", "snapshot")
    timed(debts, "fact_penalties", "penalties")
    timed(ex, "robot_facts", "robot_facts")
    timed(ex, "kpi_facts", "kpi")
    timed(ex, "write_text", "readme")  # after every table is written (the tables are written in threads)

    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    result = ex.export_bi(config, store, Path(out), AS_OF)
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    total = time.perf_counter() - t0
    times = dict(phases)
    assert len(loads) == 1, "the export loaded the ledger more than once"
    times["other"] = total - sum(times.values())
    times["total"] = total
    store.close()
    return {"side": "ours", "times": times, "peak_rss_mb": _peak_rss_mb(), "rows": result.rows,
            "bytes": _size(Path(out)), "totals": _totals(Path(out))}


# ------------------------------------------------------------------------------------------------- baseline


def run_baseline(db: str, out: str, no_gc: bool = False) -> dict[str, Any]:
    """A bare dump: pandas reads each store table the export reads, joins the contract's counterparty (and its
    group) onto the facts, and pyarrow writes each as CSV (with a BOM) and Parquet, dates as dates and money as
    decimal(18,2). No balances, no days past due, no penalties, no KPIs. ``no_gc`` pauses the cyclic garbage
    collector for the whole dump, as ``export_bi`` does (information: a tuned baseline)."""
    import gc

    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder = Path(out)
    (folder / "csv").mkdir(parents=True)
    (folder / "parquet").mkdir()
    phases: dict[str, float] = defaultdict(float)
    rows: dict[str, int] = {}

    def money(kopecks: Any) -> pa.Array:
        v = np.asarray(kopecks, dtype=np.int64)
        words = np.stack([v, v >> 63], axis=1)
        return pa.Array.from_buffers(pa.decimal128(18, 2), len(v), [None, pa.py_buffer(words.tobytes())])

    def write(name: str, df: Any, money_cols: tuple[str, ...] = (), date_cols: tuple[str, ...] = ()) -> None:
        t = time.perf_counter()
        table = pa.Table.from_pandas(df, preserve_index=False)
        for c in money_cols:
            table = table.set_column(table.schema.get_field_index(c), c, money(df[c].to_numpy()))
        for c in date_cols:
            table = table.set_column(table.schema.get_field_index(c), c, table[c].cast(pa.date32()))
        with pa.OSFile(str(folder / "csv" / f"{name}.csv"), "wb") as f:
            f.write(BOM)
            pacsv.write_csv(table, f)
        pq.write_table(table, folder / "parquet" / f"{name}.parquet", compression="snappy")
        rows[name] = table.num_rows
        phases["write"] += time.perf_counter() - t

    if no_gc:
        gc.disable()
    t0 = time.perf_counter()
    con = sqlite3.connect(db)

    def read(sql: str) -> Any:
        t = time.perf_counter()
        df = pd.read_sql(sql, con)
        phases["read_sql"] += time.perf_counter() - t
        return df

    def join(df: Any, who: Any) -> Any:
        t = time.perf_counter()
        df = df.merge(who, on="contract_id", how="left")
        phases["join"] += time.perf_counter() - t
        return df

    cps = read("SELECT id AS counterparty_id, name, inn, email, debtor_group FROM ledger_counterparties")
    cts = read("SELECT id AS contract_id, number, counterparty_id, payment_days, currency, penalty_rate_per_day "
               "FROM ledger_contracts")
    t = time.perf_counter()
    who = cts[["contract_id", "counterparty_id"]].merge(cps[["counterparty_id", "debtor_group"]],
                                                        on="counterparty_id", how="left")
    phases["join"] += time.perf_counter() - t
    write("dim_counterparty", cps)
    write("dim_contract", cts)
    inv = read("SELECT id AS invoice_id, number, contract_id, issued_on, due_date, amount FROM ledger_invoices")
    inv = join(inv, who)
    write("dim_invoice", inv, ("amount",), ("issued_on", "due_date"))
    write("fact_debt_snapshot", inv[["invoice_id", "contract_id", "counterparty_id", "debtor_group", "due_date",
                                     "amount"]], ("amount",), ("due_date",))
    del inv
    pay = join(read("SELECT id AS payment_id, paid_on, contract_id, invoice_id, amount FROM ledger_payments"), who)
    write("fact_payments", pay, ("amount",), ("paid_on",))
    crossings = read("SELECT id AS crossing_id, as_of, invoice_id, contract_id, column_id, col_offset, epoch, "
                     "status, days_past_due, open_amount, run_id, skipped FROM crossings")
    t = time.perf_counter()  # a catch-up's skipped columns, kept in the row that passed them (0011): a row each
    passed = crossings["skipped"].dropna()
    crossings = crossings.drop(columns="skipped")
    if len(passed):
        lists = {text: json.loads(text) for text in passed.unique()}
        extra = crossings.loc[passed.index].assign(pair=passed.map(lists)).explode("pair")
        extra = extra.assign(column_id=extra["pair"].str[0], col_offset=extra["pair"].str[1].astype("int64"),
                             status="skipped", run_id=None).drop(columns="pair")
        crossings = pd.concat([crossings, extra], ignore_index=True)
    phases["join"] += time.perf_counter() - t
    crossings = join(crossings, who)
    write("fact_crossings", crossings, ("open_amount",), ("as_of",))
    del crossings
    runs = join(read("SELECT id AS run_id, run_key, as_of, contract_id, column_id, scenario, invoices, status, "
                     "attempts, created_at, finished_at, error FROM runs"), who)
    write("fact_runs", runs, (), ("as_of",))
    write("fact_steps", read("SELECT run_id, idx AS step_idx, kind, status, attempts, updated_at, error, output "
                             "FROM run_steps"))
    write("fact_documents", join(read("SELECT id AS document_id, run_id, step_idx, contract_id, title, path, sha256, "
                                      "created_at FROM documents"), who))
    write("fact_tasks", join(read("SELECT id AS task_id, run_id, step_idx, contract_id, role, assignee, title, "
                                  "due_on, status, created_at FROM tasks"), who), (), ("due_on",))
    con.close()
    times = dict(phases)
    times["total"] = time.perf_counter() - t0
    return {"side": "baseline_nogc" if no_gc else "baseline", "times": times, "peak_rss_mb": _peak_rss_mb(),
            "rows": rows, "bytes": _size(folder), "totals": _totals(folder)}


# ------------------------------------------------------------------------------------------------- harness


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _totals(folder: Path) -> dict[str, dict[str, int]]:
    """Per shared table, read back from its Parquet file after the clock: its rows, and the total of each money
    column (decimal(18,2)) in kopecks."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out = {}
    for name in SHARED:
        table = pq.read_table(folder / "parquet" / f"{name}.parquet")
        totals = {"rows": table.num_rows}
        for field in table.schema:
            if field.type == pa.decimal128(18, 2):
                total = pc.sum(table[field.name]).as_py()
                totals[field.name] = 0 if total is None else int(total * 100)
        out[name] = totals
    return out


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _in_subprocess(fn, *args) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _build(path: str, n: int, m: int, paying_share: float | None) -> dict[str, Any]:
    return build_database(Path(path), n, m, paying_share)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoices", type=int, default=1_000_000)
    ap.add_argument("--contracts", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true", help="10,000 invoices over 500 contracts")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per side (the sides take turns)")
    ap.add_argument("--workdir", type=Path, help="keep the generated database here and reuse it next time")
    ap.add_argument("--profile", type=Path, help="write a cProfile of ours' first run to this file")
    ap.add_argument("--paying-share", type=float, help="share of contracts with a payment (default 0.10, as the "
                    "aging benchmark); 1.0 puts every contract's invoices on the per-contract allocation path")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.invoices, args.contracts = 10_000, 500

    tmp = None
    if args.workdir:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bi_bench_")
        workdir = Path(tmp.name)
    share = "" if args.paying_share is None else f"_paying{args.paying_share:g}"
    base = workdir / f"bi_{args.invoices}_{args.contracts}_{SEED}{share}.sqlite"
    meta_file = base.with_suffix(".json")
    try:
        if base.exists() and meta_file.exists():
            build = json.loads(meta_file.read_text())
            print(f"reusing {base}")
        else:
            print(f"generating {args.invoices:,} invoices over {args.contracts:,} contracts (seed {SEED}), "
                  "their first evaluation and the runs' effects ...", flush=True)
            build = _in_subprocess(_build, str(base), args.invoices, args.contracts, args.paying_share)
            meta_file.write_text(json.dumps(build))
        print(f"  ledger {build['ledger']:.1f} s, evaluation {build['evaluate']:.1f} s, effects "
              f"{build['effects']:.1f} s (not part of the comparison); "
              + ", ".join(f"{k} {v:,}" for k, v in build["counts"].items()), flush=True)

        results: dict[str, list[dict[str, Any]]] = defaultdict(list)
        sides = ["ours", "baseline", "baseline_nogc"]
        for r in range(args.repeat):
            for side in sides if r % 2 == 0 else reversed(sides):
                db = str(base.with_name(f"{base.stem}.{side}.sqlite"))
                shutil.copyfile(base, db)
                out = workdir / f"out-{side}"
                shutil.rmtree(out, ignore_errors=True)
                print(f"  run {r + 1}/{args.repeat}: {side} ...", flush=True)
                if side == "ours":
                    profile = str(args.profile) if args.profile and r == 0 else None
                    res = _in_subprocess(run_ours, db, str(out), profile)
                else:
                    res = _in_subprocess(run_baseline, db, str(out), side == "baseline_nogc")
                results[side].append(res)
                shutil.rmtree(out, ignore_errors=True)
                for suffix in ("", "-wal", "-shm"):
                    Path(db + suffix).unlink(missing_ok=True)
        report = _report(args, results)
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "build": build,
                                             "results": results, "report": report}, indent=1))
        return 0 if report["ok"] else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return min(runs, key=lambda r: r["times"]["total"])


def _check(results) -> bool:
    """Every run of every side wrote the same rows and money totals into the shared tables (columns of the same
    name and type in both)."""
    first = results["baseline"][0]["totals"]
    ok = True
    for side, runs in results.items():
        for res in runs:
            for name in SHARED:
                a, b = res["totals"][name], first[name]
                same = {k: a[k] for k in a.keys() & b.keys()} == {k: b[k] for k in a.keys() & b.keys()}
                if not same:
                    print(f"  CHECK FAILED: {side} wrote {name} with {a}, the baseline with {b}")
                    ok = False
    if ok:
        ours = results["ours"][0]["totals"]
        money = [f"{t}.{k}" for t in SHARED for k in sorted(ours[t].keys() & first[t].keys() - {"rows"})]
        print(f"  check: ours and the baseline agree on the rows of {len(SHARED)} tables ({', '.join(SHARED)}) "
              f"and on the totals of {', '.join(money)}")
    return ok


def _report(args, results) -> dict[str, Any]:
    ours, base = _best(results["ours"]), _best(results["baseline"])
    print("\nrows per table (ours | baseline):")
    for name in sorted(set(ours["rows"]) | set(base["rows"])):
        print(f"  {name:<26} {ours['rows'].get(name, 0):>12,} | {base['rows'].get(name, ''):>12}")
    ok = _check(results)
    ratio = ours["times"]["total"] / base["times"]["total"]
    print(f"\n{'invoices':>10} {'ours s':>8} {'baseline s':>11} {'ratio':>6} {'ours RSS MB':>12} {'base RSS MB':>12} "
          f"{'ours MB out':>12} {'base MB out':>12}")
    print(f"{args.invoices:>10,} {ours['times']['total']:>8.2f} {base['times']['total']:>11.2f} {ratio:>6.2f} "
          f"{ours['peak_rss_mb']:>12,.0f} {base['peak_rss_mb']:>12,.0f} {ours['bytes'] / 2**20:>12,.0f} "
          f"{base['bytes'] / 2**20:>12,.0f}")
    print(f"  target: ours <= {TARGET}x the baseline ({'met' if ratio <= TARGET else 'NOT met'})")
    tuned = _best(results["baseline_nogc"])
    print(f"  information: the baseline with the GC paused took {tuned['times']['total']:.2f} s; ours / that = "
          f"{ours['times']['total'] / tuned['times']['total']:.2f}")
    kpi = ours["times"].get("kpi", 0.0)
    print(f"  information: ours without the KPI tables (robots.core.kpi.kpis, {kpi:.2f} s) / baseline = "
          f"{(ours['times']['total'] - kpi) / base['times']['total']:.2f}")
    if args.repeat > 1:
        print("  run by run: ours " + ", ".join(f"{r['times']['total']:.2f}" for r in results["ours"])
              + "; baseline " + ", ".join(f"{r['times']['total']:.2f}" for r in results["baseline"]))
    print("\nphases, seconds (best run of each side):")
    print("  ours:     " + ", ".join(f"{k} {v:.2f}" for k, v in ours["times"].items()))
    print("  baseline: " + ", ".join(f"{k} {v:.2f}" for k, v in base["times"].items()))
    print("  baseline, GC paused: " + ", ".join(f"{k} {v:.2f}" for k, v in tuned["times"].items()))
    return {"ratio": ratio, "ok": ok}


if __name__ == "__main__":
    sys.exit(main())
