"""Steady-state tick benchmark: the daily evaluation of a large ledger after the first one, against the first
evaluation and against a whole re-evaluation of the same day, in the same run, on copies of the same database.

    .venv/bin/python bench/steady_tick_bench.py             # 1,000,000 invoices over 50,000 contracts, 2 days
    .venv/bin/python bench/steady_tick_bench.py --quick     # 50,000 / 2,500, 3 days: a smoke run in seconds
    .venv/bin/python bench/steady_tick_bench.py --active 1 --work 500   # the aging benchmark's ledger, busier days
        --invoices N --contracts M --days D --active SHARE --work K --workdir DIR --json FILE

The ledger is the aging benchmark's generator (bench/aging_bench.py) with a book of old debts: a share
(``--active``, 10 % by default) of the open invoices is due from 100 days before the first day to 20 days after
it, as in the aging benchmark, the rest are old debts, due 100 to 1,000 days before (past every column). Day 0 is
the first evaluation (timed). Each later day, a sync (not timed) brings a day's work: one new invoice and one
payment per ``--work`` (1,000) open invoices (new invoices due a payment term later, a quarter entered late and
already overdue; payments of whole named invoices and undirected part payments), a few counterparties moved to
another debtor group, a few holds placed and released. Then the robots' evaluation of the day
(``evaluate_and_record``, timed) runs on the database, and the same evaluation on a copy whose saved aging state was
dropped (so it ages the whole ledger, timed too). The two must record the same rows (crossings, runs, closed
invoices, the evaluation's totals, ids included): the run stops otherwise. bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import aging_bench  # noqa: E402  (the same ledger, database builder and configuration)

AS_OF = aging_bench.AS_OF
TARGET_SECONDS = 5.0  # at 1,000,000 invoices


def _in_subprocess(fn, *args) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _services(store):
    from robots.engine.services import services_for
    from robots.support.clock import SystemClock

    return services_for(aging_bench._config(), store, SystemClock())


def evaluate(db: str, day: str, whole: bool) -> dict[str, Any]:
    """``evaluate_and_record`` on ``day``, timed; ``whole``: drop the saved aging state first (not timed)."""
    from robots.engine.tick import evaluate_and_record
    from robots.store import Store
    from robots.store.runs import aging_state

    store = Store.open(f"sqlite:///{db}")
    services = _services(store)
    if whole:
        with store.engine.begin() as conn:
            conn.execute(aging_state.delete())
    as_of = date.fromisoformat(day)
    now = datetime.combine(as_of, datetime.min.time(), UTC) + timedelta(hours=5)
    t0 = time.perf_counter()
    ev, run_ids = evaluate_and_record(services, as_of, now)
    seconds = time.perf_counter() - t0
    result = {"seconds": seconds, "crossings": ev.crossing_count, "rows": len(ev.decided), "runs": len(run_ids),
              "aged": len(ev.states)}
    store.close()
    result["digest"] = _digest(db, day)
    return result


def _digest(db: str, day: str) -> str:
    """A hash of every row the evaluation of ``day`` recorded, ids included."""
    con = sqlite3.connect(db)
    h = hashlib.sha256()
    try:
        for sql in (
            "SELECT * FROM crossings WHERE as_of = ? ORDER BY id",
            "SELECT id, run_key, contract_id, column_id, scenario, as_of, invoices, status FROM runs WHERE as_of = ? "
            "ORDER BY id",
            "SELECT * FROM closed_invoices WHERE closed_on = ? ORDER BY invoice_id",
            "SELECT as_of, crossings, runs, total_open, total_overdue FROM evaluations WHERE as_of = ?",
        ):
            for row in con.execute(sql, (day,)):
                h.update(repr(row).encode())
    finally:
        con.close()
    return h.hexdigest()


def day_of_work(db: str, day: str, n: int, seed: int, per: int = 1_000) -> dict[str, Any]:
    """Sync a day's changes into the database (not part of the comparison): returns what changed."""
    from robots.core.domain import Hold, HoldKind, Invoice, Ledger, Payment
    from robots.store import Store

    rng = random.Random(seed)
    as_of = date.fromisoformat(day)
    store = Store.open(f"sqlite:///{db}")
    ledger = store.load_ledger()
    contracts = ledger.contracts
    new_invoices, payments = [], []
    for k in range(max(20, n // per)):
        c = contracts[rng.randrange(len(contracts))]
        late = rng.random() < 0.25  # entered late: due already, some of it long ago
        due = as_of - timedelta(days=rng.randint(0, 40)) if late else as_of + timedelta(days=c.payment_days)
        amount = Decimal(rng.randint(100_00, 500_000_00)).scaleb(-2)
        new_invoices.append(Invoice(f"NEW{day}-{k:06d}", f"N{k}", c.id, due - timedelta(days=c.payment_days), due,
                                    amount))
    by_contract: dict[str, list[Invoice]] = {}
    for inv in ledger.invoices:
        by_contract.setdefault(inv.contract_id, []).append(inv)
    for k in range(max(20, n // per)):
        c = contracts[rng.randrange(len(contracts))]
        debts = by_contract.get(c.id)
        if not debts:
            continue
        target = rng.choice(debts)
        if rng.random() < 0.5:  # the whole invoice, named
            payments.append(Payment(f"PAY{day}-{k:06d}", c.id, as_of, target.amount, target.id))
        else:  # part of the oldest debts
            payments.append(Payment(f"PAY{day}-{k:06d}", c.id, as_of,
                                    (target.amount * Decimal(rng.uniform(0.1, 0.9))).quantize(Decimal("0.01"))))
    moved = set(rng.sample([cp.id for cp in ledger.counterparties], max(2, n // 20_000)))
    cps = tuple(replace(cp, group="key_accounts" if cp.group == "default" else "default") if cp.id in moved else cp
                for cp in ledger.counterparties)
    changed = Ledger(cps, contracts, ledger.invoices + tuple(new_invoices), ledger.payments + tuple(payments))
    now = datetime.combine(as_of, datetime.min.time(), UTC)
    t0 = time.perf_counter()
    store.replace_ledger(changed, "bench", now)
    sync = time.perf_counter() - t0
    invoices = ledger.invoices
    for _ in range(max(5, n // 20_000)):
        inv = invoices[rng.randrange(len(invoices))]
        store.add_hold(Hold(inv.id, HoldKind.PAUSE, "обещали оплатить", as_of + timedelta(days=rng.randint(0, 5))),
                       now)
    for _ in range(max(2, n // 50_000)):
        store.release_holds(invoices[rng.randrange(len(invoices))].id, HoldKind.PAUSE, now)
    store.close()
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return {"new_invoices": len(new_invoices), "payments": len(payments), "moved_counterparties": len(moved),
            "sync_seconds": sync}


def _build(path: str, n: int, m: int, old_share: float) -> None:
    aging_bench.build_database(Path(path), n, m, old_share)


def _copy(src: str, dst: str) -> str:
    shutil.copyfile(src, dst)
    for suffix in ("-wal", "-shm"):
        Path(dst + suffix).unlink(missing_ok=True)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoices", type=int, default=1_000_000)
    ap.add_argument("--contracts", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=2, help="steady days after the first evaluation")
    ap.add_argument("--active", type=float, default=0.1,
                    help="share of the invoices due around the first day (the rest are old debts); 1: the aging "
                         "benchmark's ledger")
    ap.add_argument("--work", type=int, default=1_000, help="one new invoice and one payment a day per WORK invoices")
    ap.add_argument("--quick", action="store_true", help="50,000 invoices over 2,500 contracts, 3 days")
    ap.add_argument("--workdir", type=Path, help="keep the databases here (the generated ledger is reused)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.invoices, args.contracts, args.days = 50_000, 2_500, 3

    tmp = None
    if args.workdir:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="steady_bench_")
        workdir = Path(tmp.name)
    try:
        old = round(1 - args.active, 6)
        suffix = f"_old{old}" if old else ""
        base = workdir / f"ledger_{args.invoices}_{args.contracts}_{aging_bench.SEED}{suffix}.sqlite"
        if not base.exists():
            print(f"generating {args.invoices:,} invoices over {args.contracts:,} contracts, {args.active:.0%} of "
                  "them due around the first day ...", flush=True)
            _in_subprocess(_build, str(base), args.invoices, args.contracts, old)
        db = _copy(str(base), str(workdir / "steady.sqlite"))
        first = _in_subprocess(evaluate, db, AS_OF.isoformat(), False)
        print(f"day 0 ({AS_OF}): first evaluation {first['seconds']:.2f} s, {first['crossings']:,} crossings in "
              f"{first['rows']:,} rows, {first['runs']:,} runs, {first['aged']:,} invoices aged", flush=True)
        days, ok = [], True
        for d in range(1, args.days + 1):
            day = (AS_OF + timedelta(days=d)).isoformat()
            work = _in_subprocess(day_of_work, db, day, args.invoices, aging_bench.SEED + d, args.work)
            whole_db = _copy(db, str(workdir / "whole.sqlite"))
            # the sides take turns: which runs first alternates from day to day
            if d % 2:
                steady = _in_subprocess(evaluate, db, day, False)
                whole = _in_subprocess(evaluate, whole_db, day, True)
            else:
                whole = _in_subprocess(evaluate, whole_db, day, True)
                steady = _in_subprocess(evaluate, db, day, False)
            same = steady["digest"] == whole["digest"] and steady["crossings"] == whole["crossings"]
            ok = ok and same
            days.append({"day": day, "work": work, "steady": steady, "whole": whole, "same": same})
            print(f"day {d} ({day}): sync of {work['new_invoices']:,} new invoices, {work['payments']:,} payments, "
                  f"{work['moved_counterparties']} counterparties moved ({work['sync_seconds']:.1f} s, not timed); "
                  f"steady tick {steady['seconds']:.2f} s ({steady['aged']:,} invoices aged), whole re-evaluation "
                  f"{whole['seconds']:.2f} s; {steady['crossings']:,} crossings, {steady['runs']:,} runs; "
                  f"{'the same rows' if same else 'DIFFERENT ROWS'} (digest {steady['digest'][:12]})", flush=True)
        worst = max(x["steady"]["seconds"] for x in days)
        print(f"\n{'invoices':>10} {'first s':>8} {'steady s (worst)':>17} {'steady/first':>13} "
              f"{'whole re-eval s':>16} {'steady/whole':>13}")
        whole_best = min(x["whole"]["seconds"] for x in days)
        print(f"{args.invoices:>10,} {first['seconds']:>8.2f} {worst:>17.2f} {worst / first['seconds']:>13.3f} "
              f"{whole_best:>16.2f} {worst / whole_best:>13.3f}")
        if ok:
            print(f"  check: on each of the {len(days)} days the steady tick recorded the same rows as a whole "
                  "re-evaluation (crossings, runs, closed invoices, totals, ids included)")
        else:
            print("  CHECK FAILED: a steady tick recorded something else than the whole re-evaluation")
        full_size = args.invoices >= 1_000_000
        scaled = TARGET_SECONDS * args.invoices / 1_000_000
        print(f"  target: steady tick <= {TARGET_SECONDS:.0f} s at 1,000,000 invoices"
              + (f" ({'met' if worst <= TARGET_SECONDS else 'NOT met'})" if full_size else
                 f" (this size, in proportion: {scaled:.2f} s; {'met' if worst <= scaled else 'not met'})"))
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "first": first,
                                             "days": days}, indent=1))
        return 0 if ok else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
