"""Aging benchmark: the robots' evaluation (load the ledger, age it, record crossings and runs) against a
straightforward pandas computation of the same columns, on the same SQLite database, in the same run.

    .venv/bin/python bench/aging_bench.py                     # 1,000,000 invoices over 50,000 contracts
    .venv/bin/python bench/aging_bench.py --quick             # 50,000 / 2,500: a smoke run in seconds
    .venv/bin/python bench/aging_bench.py --proposals         # also the proposed product changes (private copies)

Each side runs in its own spawned subprocess on its own copy of the freshly generated database, so the timings
and the peak RSS (``ru_maxrss``) of one never include the other. bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AS_OF = date(2025, 11, 17)  # a Monday; the due dates span the working Saturday of 1 Nov and the 3-4 Nov holidays
NOW = datetime(2025, 11, 17, 5, 0, tzinfo=UTC)
SEED = 20251117
DUE_FROM, DUE_TO = -100, 20  # due dates as_of-100 .. as_of+20: every aging column gets invoices
KEY_SHARE = 0.20  # counterparties in "key_accounts" (working days)
PAYING_SHARE = 0.10  # contracts with an undirected payment on their oldest invoice
PANDAS_TABLE = "bench_pandas_crossings"

# ------------------------------------------------------------------------------------------------- the data


def make_ledger(n_invoices: int, n_contracts: int, seed: int = SEED, old_share: float = 0.0, old_from: int = -1000):
    """A reproducible ledger of open invoices, with some undirected partial payments. ``old_share`` of the
    invoices (none by default) are old debts instead, due ``old_from`` to DUE_FROM days before the day."""
    import numpy as np

    from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment

    rng = np.random.default_rng(seed)
    key = rng.random(n_contracts) < KEY_SHARE
    pay_days = rng.choice(np.array([30, 45, 60]), n_contracts)  # issued_on = due - pay_days <= as_of - 10
    cps = tuple(Counterparty(f"CP{c:06d}", f"Debtor {c}", f"77{c:08d}", f"ap{c}@debtor.example",
                             "key_accounts" if key[c] else "default") for c in range(n_contracts))
    cts = tuple(Contract(f"C{c:06d}", f"D-{c}", f"CP{c:06d}", int(pay_days[c])) for c in range(n_contracts))

    contract = rng.integers(0, n_contracts, n_invoices)
    due_off = rng.integers(DUE_FROM, DUE_TO + 1, n_invoices)
    kopecks = rng.integers(100_00, 500_000_00, n_invoices)
    if old_share:  # drawn after the others, so the default ledger stays the one every earlier run measured
        old = rng.random(n_invoices) < old_share
        due_off = np.where(old, rng.integers(old_from, DUE_FROM, n_invoices), due_off)
    days = {o: AS_OF + timedelta(days=int(o)) for o in range(min(DUE_FROM, old_from) - 61, DUE_TO + 1)}

    def money(k: int) -> Decimal:
        return Decimal(k).scaleb(-2)

    invs = []
    for i in range(n_invoices):
        c = int(contract[i])
        off = int(due_off[i])
        invs.append(Invoice(f"INV{i:08d}", f"{i}", f"C{c:06d}", days[off - int(pay_days[c])], days[off],
                            money(int(kopecks[i]))))

    # Undirected payments: part of the oldest debt (oldest due, then issue date, then id), or, for a third of
    # them, all of it and part of the next one, so allocation crosses invoices and some invoices close.
    oldest: dict[int, list[int]] = {}
    order = np.lexsort((np.arange(n_invoices), due_off - pay_days[contract], due_off, contract))
    for i in order:
        lst = oldest.setdefault(int(contract[i]), [])
        if len(lst) < 2:
            lst.append(int(i))
    payers = [c for c in range(n_contracts) if c in oldest and rng.random() < PAYING_SHARE]
    pays = []
    for p, c in enumerate(payers):
        first = oldest[c]
        part = float(rng.uniform(0.1, 0.9))
        k = int(kopecks[first[0]] * part)
        if len(first) > 1 and rng.random() < 1 / 3:
            k = int(kopecks[first[0]]) + int(kopecks[first[1]] * part)
        pays.append(Payment(f"PAY{p:07d}", f"C{c:06d}", AS_OF - timedelta(days=int(rng.integers(1, 30))), money(k)))
    return Ledger(cps, cts, tuple(invs), tuple(pays))


def build_database(path: Path, n_invoices: int, n_contracts: int, old_share: float = 0.0) -> dict[str, float]:
    """Generate the ledger and write it with Store.replace_ledger; return the two timings."""
    from robots.store import Store

    t0 = time.perf_counter()
    ledger = make_ledger(n_invoices, n_contracts, old_share=old_share)
    t1 = time.perf_counter()
    store = Store.open(f"sqlite:///{path}")
    store.replace_ledger(ledger, "bench", NOW)
    store.close()
    t2 = time.perf_counter()
    con = sqlite3.connect(path)  # one self-contained file to copy for each side
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"generate": t1 - t0, "replace_ledger": t2 - t1, "payments": len(ledger.payments)}


# ------------------------------------------------------------------------------------------------- helpers


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _crossing_stats(con: sqlite3.Connection, table: str) -> dict[str, Any]:
    """Per column id: crossings, of which run, and the open amount in kopecks; the columns a row passed in a
    catch-up (its ``skipped`` JSON list) count as skipped crossings of their own."""
    stats: dict[str, list[int]] = {}
    for column_id, status, n, amount in con.execute(
            f"SELECT column_id, status, COUNT(*), SUM(open_amount) FROM {table} GROUP BY column_id, status"):
        s = stats.setdefault(column_id, [0, 0, 0])
        s[0] += n
        s[1] += n if status == "run" else 0
        s[2] += int(amount)
    for text, n, amount in con.execute(
            f"SELECT skipped, COUNT(*), SUM(open_amount) FROM {table} WHERE skipped IS NOT NULL GROUP BY skipped"):
        for column_id, _offset in json.loads(text):
            s = stats.setdefault(column_id, [0, 0, 0])
            s[0] += n
            s[2] += int(amount)
    return stats


def _config():
    """The shipped schedules.yaml: its policy is what both sides age by (ours through ``services_for``)."""
    from robots.config import load_config

    return load_config(ROOT / "schedules.yaml")


# ------------------------------------------------------------------------------------------------- ours


def run_ours(db: str, variant: str = "product") -> dict[str, Any]:
    """robots.engine.tick.evaluate_and_record, the tick's evaluation itself, timed as a whole and phase by phase.

    The phases are timed by wrapping what it calls (Store.load_ledger, EvaluationTx.history, .holds and .record,
    robots.engine.tick.evaluate), so whatever the tick does around them (the evaluation lock, the order check, its GC
    pause, the commit) is in the total and in "other". ``variant`` applies a proposal first (see PROPOSALS).
    """
    from robots.engine import tick
    from robots.engine.services import services_for
    from robots.store import EvaluationTx, Store
    from robots.support.clock import SystemClock

    config = _config()
    store = Store.open(f"sqlite:///{db}")  # the daemon opens its store once; not part of a tick
    services = services_for(config, store, SystemClock())
    opts = PROPOSALS[variant]
    if "setup" in opts:
        opts["setup"](store)  # not timed
    for target, name, replacement in opts.get("patches", ()):
        setattr(_resolve(target), name, replacement)

    phases: dict[str, float] = defaultdict(float)

    def timed(owner: Any, name: str, phase: str) -> None:
        fn = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[phase] += time.perf_counter() - t0

        setattr(owner, name, wrapper)

    timed(EvaluationTx, "load_ledger", "load_ledger")
    timed(EvaluationTx, "history", "history_holds")
    timed(EvaluationTx, "holds", "history_holds")
    timed(tick, "evaluate", "evaluate")
    timed(EvaluationTx, "save_state", "state")
    timed(EvaluationTx, "record", "record")

    c0, t0 = time.process_time(), time.perf_counter()
    ev, run_ids = tick.evaluate_and_record(services, AS_OF, NOW)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    t = {k: phases[k] for k in ("load_ledger", "history_holds", "evaluate", "state", "record")}
    t["other"] = total - sum(t.values())  # lock, order check, state key, commit, GC pause and resume
    t["total"] = total
    t["cpu"] = cpu
    rss = _peak_rss_mb()
    n_cross, n_rows, n_runs = ev.crossing_count, len(ev.decided), len(run_ids)
    del ev, run_ids
    store.close()
    con = sqlite3.connect(db)
    try:
        stats = _crossing_stats(con, "crossings")
        runs_in_db = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        closed = con.execute("SELECT COUNT(*) FROM closed_invoices").fetchone()[0]
        digest = _recorded_digest(con)
    finally:
        con.close()
    return {"side": f"ours:{variant}", "times": t, "peak_rss_mb": rss, "stats": stats, "crossings": n_cross,
            "rows": n_rows, "runs": n_runs, "runs_in_db": runs_in_db, "closed": closed, "digest": digest}


def _resolve(target: str) -> Any:
    """``"package.module"`` or ``"package.module:Class"``."""
    import importlib

    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


def _recorded_digest(con: sqlite3.Connection) -> str:
    """A hash of every row (values and SQLite storage classes) that the evaluation recorded, ids included: a
    proposal must store exactly what the product stores."""
    import hashlib

    h = hashlib.sha256()
    for sql in (
        ("SELECT id, run_key, contract_id, column_id, scenario, as_of, invoices, status, attempts, created_at, "
         "typeof(as_of), typeof(created_at), typeof(invoices) FROM runs ORDER BY id"),
        ("SELECT invoice_id, column_id, epoch, contract_id, col_offset, status, as_of, days_past_due, open_amount, "
         "run_id, skipped, typeof(as_of), typeof(open_amount), typeof(col_offset) FROM crossings ORDER BY id"),
        "SELECT invoice_id, closed_on, typeof(closed_on) FROM closed_invoices ORDER BY invoice_id",
        "SELECT as_of, crossings, runs, total_open, total_overdue FROM evaluations ORDER BY id",
        "SELECT id, last_as_of FROM robot_state",
    ):
        for row in con.execute(sql):
            h.update(repr(row).encode())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------- pandas


def run_pandas(db: str, indexed: bool = False, per_column: bool = False) -> dict[str, Any]:
    """The baseline: the same columns with pandas/numpy, persisted with DataFrame.to_sql, in the rows the product
    stores (one per invoice and newly reached column that runs, with the columns it passed).

    ``indexed`` (an information side, not the baseline) gives the table the unique constraint and the index of
    the product's crossings table first, to show what SQLite's index maintenance costs by itself. ``per_column``
    (information too) writes one row per invoice and column reached, skipped ones included, as the product did
    before migration 0011.
    """
    import holidays
    import numpy as np
    import pandas as pd

    from robots.core.domain import CatchUp, DayCount

    config = _config()  # the same policy; its reading is not timed on either side
    policy, cal = config.policy(), config.settings.calendar
    # Per group: how it counts days, and per column its offset, its id and whether it counts working days (a
    # column may count in other days than its group: "7 working days" among calendar days).
    groups = {name: (g.days is DayCount.WORKING, np.array([c.offset for c in g.columns]),
                     np.array([c.id for c in g.columns], dtype=object),
                     np.array([(c.days or g.days) is DayCount.WORKING for c in g.columns]))
              for name, g in policy.groups.items()}
    tolerance = int(policy.tolerance * 100)
    as_of = np.datetime64(AS_OF.isoformat(), "D")

    c0, t0 = time.process_time(), time.perf_counter()
    con = sqlite3.connect(db)
    inv = pd.read_sql("SELECT id, contract_id, issued_on, due_date, amount FROM ledger_invoices", con)
    ctr = pd.read_sql("SELECT id AS contract_id, counterparty_id FROM ledger_contracts", con)
    cps = pd.read_sql("SELECT id AS counterparty_id, debtor_group FROM ledger_counterparties", con)
    pay = pd.read_sql("SELECT contract_id, invoice_id, paid_on, amount FROM ledger_payments", con)
    t1 = time.perf_counter()

    # What exists on as_of (ISO dates compare as text).
    day = AS_OF.isoformat()
    inv = inv[inv["issued_on"] <= day]
    pay = pay[pay["paid_on"] <= day]
    credit = inv["amount"] < 0
    pool = (-inv.loc[credit, "amount"]).groupby(inv.loc[credit, "contract_id"]).sum()
    inv = inv[~credit].reset_index(drop=True)
    remaining = inv["amount"].to_numpy().copy()

    # Payments naming an invoice of their contract pay it (the excess joins the pool); the rest join the pool.
    pay = pay.reset_index(drop=True)
    directed = pay[pay["invoice_id"].notna()].rename_axis("pay_row").reset_index().merge(
        inv[["id", "contract_id"]].rename_axis("inv_row").reset_index(),
        left_on=["invoice_id", "contract_id"], right_on=["id", "contract_id"])
    if len(directed):
        per_inv = directed.groupby("inv_row").agg(paid=("amount", "sum"), contract_id=("contract_id", "first"))
        rows = per_inv.index.to_numpy()
        applied = np.minimum(per_inv["paid"].to_numpy(), remaining[rows])
        remaining[rows] -= applied
        pool = pool.add((per_inv["paid"] - applied).groupby(per_inv["contract_id"]).sum(), fill_value=0)
    undirected = pay.drop(index=directed["pay_row"]) if len(directed) else pay
    pool = pool.add(undirected.groupby("contract_id")["amount"].sum(), fill_value=0)
    pool = pool[pool > 0].astype(np.int64)

    # The pool pays its contract's debts oldest due first (ties: issue date, id): a cumulative sum per contract.
    inv["remaining"] = remaining
    debts = inv[inv["contract_id"].isin(pool.index)].sort_values(["contract_id", "due_date", "issued_on", "id"])
    before = debts.groupby("contract_id")["remaining"].cumsum() - debts["remaining"]
    avail = debts["contract_id"].map(pool).to_numpy()
    alloc = np.clip(avail - before.to_numpy(), 0, debts["remaining"].to_numpy())
    remaining[debts.index.to_numpy()] -= alloc
    inv["open"] = remaining
    inv = inv[inv["open"] > tolerance]

    # Days past due, per the group of the contract's counterparty.
    group_of = ctr.merge(cps, on="counterparty_id", how="left").set_index("contract_id")["debtor_group"]
    inv = inv.assign(group=inv["contract_id"].map(group_of).fillna("default"))
    due = pd.to_datetime(inv["due_date"], format="%Y-%m-%d").to_numpy().astype("datetime64[D]")
    years = range(int(str(due.min())[:4]) - 1, AS_OF.year + 2)
    official = holidays.country_holidays(cal.country, years=years)
    extra_on = {*official.weekend_workdays, *cal.extra_working_days}
    hol = np.array(sorted({*official.keys(), *cal.extra_non_working_days} - extra_on), dtype="datetime64[D]")
    sat = np.array(sorted(d for d in extra_on if d.weekday() >= 5), dtype="datetime64[D]")  # working weekends
    one = np.timedelta64(1, "D")
    past = due <= as_of
    working = np.where(
        past,
        np.busday_count(due + one, as_of + one, holidays=hol)
        + np.searchsorted(sat, as_of, "right") - np.searchsorted(sat, due, "right"),
        -(np.busday_count(as_of, np.maximum(due, as_of), holidays=hol)
          + np.searchsorted(sat, due, "left") - np.searchsorted(sat, as_of, "left")),
    )
    calendar_days = (as_of - due).astype(np.int64)
    group = inv["group"].to_numpy()
    days = np.empty(len(inv), dtype=np.int64)  # as the group counts them: the crossings' days_past_due

    # One crossing per (invoice, column) reached, each column by its own count (the history is empty), lowest
    # column first; "latest": only the highest column reached runs, and its row lists the columns it passed (as
    # the product stores them: JSON [[column_id, offset], ...], one string per distinct set of columns passed).
    latest = policy.catch_up is not CatchUp.ALL and not per_column
    parts = []
    for name, (group_working, offsets, ids, column_working) in groups.items():
        m = np.flatnonzero(group == name)
        days[m] = working[m] if group_working else calendar_days[m]
        count = np.where(column_working, working[m, None], calendar_days[m, None])  # invoices x columns
        reached = count >= offsets
        if latest:
            width = reached.shape[1]
            rows_of = np.flatnonzero(reached.any(axis=1))
            reached = reached[rows_of]
            highest = width - 1 - np.argmax(reached[:, ::-1], axis=1)  # the highest column reached
            below = reached & (np.arange(width) < highest[:, None])  # the columns it passed
            code = below.astype(np.int64) @ (1 << np.arange(width, dtype=np.int64))
            texts = {int(c): None if c == 0 else json.dumps(
                [[str(ids[j]), int(offsets[j])] for j in range(width) if int(c) >> j & 1], separators=(",", ":"))
                for c in np.unique(code)}
            skipped = pd.Series(code).map(texts).to_numpy(dtype=object)
            parts.append((m[rows_of], ids[highest], offsets[highest], skipped))
        else:
            inv_row, col = np.nonzero(reached)  # row by row, columns in order
            runs = np.ones(len(inv_row), dtype=bool)
            if policy.catch_up is not CatchUp.ALL:  # one row per column; only the highest reached runs
                runs[:-1] = inv_row[1:] != inv_row[:-1]
            parts.append((m[inv_row], ids[col], offsets[col], np.where(runs, "run", "skipped").astype(object)))
    rows, column_id, col_offset, passed = (np.concatenate(a) for a in zip(*parts))
    order = np.argsort(rows, kind="stable")  # in invoice order, as the product records them
    rows, column_id, col_offset, passed = rows[order], column_id[order], col_offset[order], passed[order]
    status, skipped = (passed, None) if not latest else ("run", passed)
    epoch = inv["due_date"].to_numpy()[rows] if policy.rearm_on_due_date_change else ""
    out = pd.DataFrame({
        "invoice_id": inv["id"].to_numpy()[rows], "column_id": column_id, "epoch": epoch,
        "contract_id": inv["contract_id"].to_numpy()[rows], "col_offset": col_offset,
        "status": status, "as_of": day, "days_past_due": days[rows],
        "open_amount": inv["open"].to_numpy()[rows], "run_id": None, "skipped": skipped})
    t2 = time.perf_counter()
    if indexed:
        con.execute(f"CREATE TABLE {PANDAS_TABLE} (id INTEGER PRIMARY KEY, invoice_id TEXT, column_id TEXT, "
                    "epoch TEXT, contract_id TEXT, col_offset INTEGER, status TEXT, as_of TEXT, days_past_due "
                    "INTEGER, open_amount INTEGER, run_id INTEGER, skipped TEXT, UNIQUE (invoice_id, column_id, "
                    "epoch))")
    out.to_sql(PANDAS_TABLE, con, if_exists="append" if indexed else "replace", index=False)
    con.commit()
    t3, cpu = time.perf_counter(), time.process_time() - c0
    rss = _peak_rss_mb()
    n_rows = len(out)
    del inv, out, debts, pay, ctr, cps
    stats = _crossing_stats(con, PANDAS_TABLE)
    con.close()
    n_cross = sum(v[0] for v in stats.values())
    return {"side": "pandas_indexed" if indexed else "pandas_per_column" if per_column else "pandas",
            "times": {"read_sql": t1 - t0, "compute": t2 - t1, "to_sql": t3 - t2, "total": t3 - t0, "cpu": cpu},
            "peak_rss_mb": rss, "stats": stats, "crossings": n_cross, "rows": n_rows}


# ------------------------------------------------------------------------------------------------- proposals
# A proposal is measured here before it goes into the product: "setup" (not timed) changes the side's database,
# "patches" replace product functions with private copies, as (module[:Class], attribute, function). The harness
# checks that each variant records exactly what the product records (a digest of every recorded row, ids
# included). The first round (batched runs, driver tuples for crossings, raw ledger load, NamedTuple crossings,
# the GC pause, the larger SQLite cache) went into the product in ed1db2a, and P7 (no contract index on
# crossings) in migration 0002; README.md keeps their figures.


PROPOSALS: dict[str, dict[str, Any]] = {
    "product": {},
}
#: What --proposals runs (any other name is there for --variants).
DEFAULT_VARIANTS = ("pandas_indexed", "pandas_per_column")
PROPOSAL_DOCS: dict[str, str] = {
    "product": "the product code as it is",
    "pandas_indexed": "information: the baseline into a table with the crossings' unique constraint",
    "pandas_per_column": "information: the baseline writing one row per invoice and column (skipped ones too)",
}


# ------------------------------------------------------------------------------------------------- harness


def _in_subprocess(fn, *args) -> dict[str, Any]:
    """Run ``fn`` in a fresh spawned interpreter, so its time and peak RSS are its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _copy(base: Path, name: str) -> str:
    dst = base.with_name(f"{base.stem}.{name}.sqlite")
    shutil.copyfile(base, dst)
    return str(dst)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoices", type=int, default=1_000_000)
    ap.add_argument("--contracts", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true", help="50,000 invoices over 2,500 contracts")
    ap.add_argument("--proposals", action="store_true", help="also time the proposed product changes")
    ap.add_argument("--variants", default="", help="comma-separated proposal names to time (see --list)")
    ap.add_argument("--list", action="store_true", help="list the proposal variants and exit")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per side (fresh database copy each)")
    ap.add_argument("--workdir", type=Path, help="keep the databases here and reuse the generated ledger")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.list:
        for name in PROPOSALS:
            print(name, "-", PROPOSAL_DOCS.get(name, ""))
        return 0
    if args.quick:
        args.invoices, args.contracts = 50_000, 2_500
    variants = [v for v in args.variants.split(",") if v]
    if args.proposals and not variants:
        variants = list(DEFAULT_VARIANTS)
    unknown = [v for v in variants if v not in PROPOSALS and v not in ("pandas_indexed", "pandas_per_column")]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; --list shows them")

    tmp = None
    if args.workdir:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="aging_bench_")
        workdir = Path(tmp.name)
    base = workdir / f"ledger_{args.invoices}_{args.contracts}_{SEED}.sqlite"
    meta_file = base.with_suffix(".json")
    try:
        if base.exists() and meta_file.exists():
            build = json.loads(meta_file.read_text())
            print(f"reusing {base}")
        else:
            print(f"generating {args.invoices:,} invoices over {args.contracts:,} contracts (seed {SEED}) ...",
                  flush=True)
            build = _in_subprocess(_build, str(base), args.invoices, args.contracts)
            meta_file.write_text(json.dumps(build))
        print(f"  generate {build['generate']:.1f} s, Store.replace_ledger {build['replace_ledger']:.1f} s "
              f"(not part of the comparison), {build['payments']:,} payments", flush=True)

        results: dict[str, list[dict[str, Any]]] = defaultdict(list)
        sides = ["product", "pandas", *variants]
        for r in range(args.repeat):
            for side in sides if r % 2 == 0 else reversed(sides):
                db = _copy(base, side)
                print(f"  run {r + 1}/{args.repeat}: {side} ...", flush=True)
                if side.startswith("pandas"):
                    res = _in_subprocess(run_pandas, db, side == "pandas_indexed", side == "pandas_per_column")
                else:
                    res = _in_subprocess(run_ours, db, side)
                results[side].append(res)
                os.remove(db)
                for suffix in ("-wal", "-shm"):
                    Path(db + suffix).unlink(missing_ok=True)
        report = _report(args, build, results, variants)
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "build": build, "results": results, "report": report}, indent=1))
        return 0 if report["ok"] else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


def _build(path: str, n: int, m: int) -> dict[str, float]:
    return build_database(Path(path), n, m)


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the lowest total (the least disturbed by the machine's noise)."""
    return min(runs, key=lambda r: r["times"]["total"])


def _report(args, build, results, variants) -> dict[str, Any]:
    ours, pandas = _best(results["product"]), _best(results["pandas"])
    ok = True

    print("\ncrossings per column (crossings / of which run / open amount RUB): ours vs pandas")
    cols = sorted(set(ours["stats"]) | set(pandas["stats"]))
    for col in cols:
        a, b = ours["stats"].get(col, [0, 0, 0]), pandas["stats"].get(col, [0, 0, 0])
        same = "ok" if a == b else "DIFFERENT"
        print(f"  {col:<14} {a[0]:>10,} {a[1]:>10,} {a[2] / 100:>18,.2f} | {b[0]:>10,} {b[1]:>10,} "
              f"{b[2] / 100:>18,.2f}  {same}")
    counts_equal = {c: ours["stats"].get(c, [0])[0] for c in cols} == {c: pandas["stats"].get(c, [0])[0]
                                                                        for c in cols}
    assert counts_equal, "ours and pandas disagree on the count of crossings per column"
    if any(ours["stats"].get(c) != pandas["stats"].get(c) for c in cols):
        print("  CHECK FAILED: the counts agree but the run split or the amounts differ")
        ok = False
    else:
        print(f"  check: ours and pandas agree on every one of the {len(cols)} columns (crossings, runs, open amounts)")
    print(f"  total {ours['crossings']:,} crossings in {ours['rows']:,} rows (pandas {pandas['rows']:,}: a "
          f"catch-up's skipped columns in the row of the crossing that passed them); ours also recorded "
          f"{ours['runs']:,} runs, {ours['closed']:,} closed invoices and the aging state of every open invoice")

    for v in variants:
        for res in results[v]:
            if v in ("pandas_indexed", "pandas_per_column"):
                if res["stats"] != pandas["stats"]:
                    print(f"  {v} RECORDED SOMETHING ELSE than pandas: {res['stats']}")
                    ok = False
                continue
            if res["digest"] != ours["digest"]:
                print(f"  VARIANT {v} RECORDED SOMETHING ELSE than the product (digest {res['digest'][:12]} != "
                      f"{ours['digest'][:12]})")
                ok = False
    if variants:
        print(f"  every proposal recorded row for row what the product recorded: "
              f"{'yes' if ok else 'NO'} (digest {ours['digest'][:12]})")

    ratio = ours["times"]["total"] / pandas["times"]["total"]
    cpu_ratio = ours["times"]["cpu"] / pandas["times"]["cpu"]
    print(f"\n{'invoices':>10} {'contracts':>10} {'ours s':>8} {'pandas s':>9} {'ours/pandas':>12} "
          f"{'CPU ours/pandas':>16} {'ours RSS MB':>12} {'pandas RSS MB':>14}")
    print(f"{args.invoices:>10,} {args.contracts:>10,} {ours['times']['total']:>8.2f} "
          f"{pandas['times']['total']:>9.2f} {ratio:>12.2f} {cpu_ratio:>16.2f} {ours['peak_rss_mb']:>12,.0f} "
          f"{pandas['peak_rss_mb']:>14,.0f}")
    if "pandas_per_column" in results:
        per_column = _best(results["pandas_per_column"])["times"]
        print(f"  against pandas writing one row per invoice and column (as before 0011): "
              f"{ours['times']['total'] / per_column['total']:.2f} "
              f"(CPU {ours['times']['cpu'] / per_column['cpu']:.2f})")
    print(f"  targets: ratio <= 1.5 ({'met' if ratio <= 1.5 else 'NOT met'}), "
          f"ours peak RSS <= 1536 MB ({'met' if ours['peak_rss_mb'] <= 1536 else 'NOT met'})")

    print("\nphases, seconds (best run of each side):")
    print("  ours:   " + ", ".join(f"{k} {v:.2f}" for k, v in ours["times"].items()))
    print("  pandas: " + ", ".join(f"{k} {v:.2f}" for k, v in pandas["times"].items()))

    if variants:
        print("\nproposals (private copies in this file; same database, same run):")
        print(f"  {'variant':<26} {'total s':>8} {'vs product':>11} {'ours/pandas':>12} {'RSS MB':>8}  phases")
        for v in ["product", *variants]:
            res = _best(results[v])
            tt = res["times"]
            print(f"  {v:<26} {tt['total']:>8.2f} {tt['total'] / ours['times']['total']:>11.2f} "
                  f"{tt['total'] / pandas['times']['total']:>12.2f} {res['peak_rss_mb']:>8,.0f}  "
                  + ", ".join(f"{k} {x:.2f}" for k, x in tt.items() if k != "total"))
    return {"ok": ok, "ratio": ratio}


if __name__ == "__main__":
    sys.exit(main())
