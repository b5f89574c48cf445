"""REST connector benchmark: RestConnector.fetch() (+ build_ledger) against a bare httpx loop over the same pages.

Two mappings of the same invoices: "as-is" (every ledger field under its own name: the connector keeps the parsed
records as the values) and "copy" (the same plus empty_values, as every 1C config has: a new dict per record).

    .venv/bin/python bench/rest_bench.py                  # 100,000 invoices, pages of 1,000
    .venv/bin/python bench/rest_bench.py --quick          # 10,000 invoices: a smoke run in seconds

The server is the demo accounting system (demo.erp, JSON API with HTTP Basic) run by uvicorn in its own spawned
process, so it does not share the GIL with the client. Each side runs ``--repeat`` times, alternating; the
median of each is compared. bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 20260331
USER, PASSWORD = "робот", "bench-пароль"
START = date(2025, 6, 2)


def make_ledger(n_invoices: int, seed: int = SEED):
    """A reproducible ledger: n invoices over n/20 contracts, half as many counterparties, payments on a fifth."""
    from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment

    rng = random.Random(seed)
    n_contracts = max(n_invoices // 20, 1)
    n_cps = max(n_contracts // 2, 1)
    cps = tuple(Counterparty(f"CP{i:06d}", f"ООО «Контрагент {i}»", f"77{i:08d}", f"buh{i}@example.ru", "default")
                for i in range(n_cps))
    cts = tuple(Contract(f"C{i:06d}", f"Д-{i}/2025", f"CP{i % n_cps:06d}", rng.choice((14, 30, 45)), "RUB",
                         Decimal("0.001") if i % 3 == 0 else None) for i in range(n_contracts))
    invs, pays = [], []
    for i in range(n_invoices):
        c = cts[rng.randrange(n_contracts)]
        issued = START + timedelta(days=rng.randrange(200))
        amount = Decimal(rng.randrange(100_00, 900_000_00)).scaleb(-2)
        invs.append(Invoice(f"INV{i:08d}", str(i + 1), c.id, issued, issued + timedelta(days=c.payment_days), amount))
        if i % 5 == 0:
            pays.append(Payment(f"PAY{i:08d}", c.id, issued + timedelta(days=rng.randrange(1, 60)),
                                (amount / 2).quantize(Decimal("0.01")), f"INV{i:08d}"))
    return Ledger(cps, cts, tuple(invs), tuple(pays))


def _serve(n_invoices: int, urls: Any) -> None:
    """The server process: demo.erp served by uvicorn (demo.erp.server.serve) until the parent ends the process."""
    from demo.erp.app import create_app
    from demo.erp.server import serve

    app = create_app(make_ledger(n_invoices), username=USER, password=PASSWORD)
    with serve(app) as base:
        urls.put(base)
        while True:
            time.sleep(3600)


def bare(base: str, size: int) -> tuple[float, float, list[Any]]:
    """The floor: the same pages with httpx, parsed with parse_float=Decimal, the lists collected."""
    import base64

    import httpx

    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    t0, c0 = time.perf_counter(), time.process_time()
    rows: list[Any] = []
    with httpx.Client(headers={"Authorization": f"Basic {token}", "Accept": "application/json"}) as client:
        page = 1
        while True:
            resp = client.get(f"{base}api/v1/invoices?page={page}&per_page={size}")
            resp.raise_for_status()
            data = json.loads(resp.content, parse_float=Decimal)["data"]
            rows.extend(data)
            if len(data) < size:
                break
            page += 1
    return time.perf_counter() - t0, time.process_time() - c0, rows


def invoices_read(rows: Any) -> frozenset[tuple[str, str, str, str, Decimal]]:
    """What the check compares, after the clock: (id, contract, issue date, due date, amount) of every invoice,
    from the bare loop's JSON records or from the connector's ledger."""
    if rows and isinstance(rows[0], dict):
        return frozenset((r["id"], r["contract_id"], r["date"], r["due_date"], r["amount"]) for r in rows)
    return frozenset((i.id, i.contract_id, i.date.isoformat(), i.due_date.isoformat(), i.amount) for i in rows)


def ours(base: str, size: int, workdir: Path, copy: bool = False) -> dict[str, Any]:
    """RestConnector.fetch() of the invoices, then build_ledger over them, timed apart."""
    from connectors.records import build_ledger
    from connectors.rest.config import RestConnectorConfig
    from connectors.rest.connector import RestConnector

    config = RestConnectorConfig.model_validate({
        "id": "erp", "kind": "rest", "base_url": f"{base}api/v1/",
        "auth": {"basic": {"username": USER, "password_env": "BENCH_ERP_PASSWORD"}},
        "empty_values": ["00000000-0000-0000-0000-000000000000"] if copy else [],
        "entities": {"invoices": {
            "path": "invoices", "records": "data", "paging": {"kind": "page", "size": size},
            "fields": {f: f for f in ("id", "number", "contract_id", "date", "due_date", "amount")}}}})
    t0, c0 = time.perf_counter(), time.process_time()
    with RestConnector(config, base_dir=workdir, state_dir=workdir / "state") as connector:
        fetched = connector.fetch()
    t1, c1 = time.perf_counter(), time.process_time()
    problems = list(fetched.problems)
    ledger = build_ledger(fetched.tables, problems)
    t2 = time.perf_counter()
    assert not problems, problems[:3]
    return {"fetch": t1 - t0, "fetch_cpu": c1 - c0, "build_ledger": t2 - t1, "total": t2 - t0,
            "invoices": invoices_read(ledger.invoices)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--invoices", type=int, default=100_000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="10,000 invoices")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side, alternating; medians compared")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    n = 10_000 if args.quick else args.invoices
    os.environ["BENCH_ERP_PASSWORD"] = PASSWORD

    ctx = multiprocessing.get_context("spawn")
    urls = ctx.Queue()
    t0 = time.perf_counter()
    server = ctx.Process(target=_serve, args=(n, urls), daemon=True)
    server.start()
    try:
        base = urls.get(timeout=600)  # serve() yields once the server answers
        print(f"server: demo.erp with {n:,} invoices on {base} (separate process), ready in "
              f"{time.perf_counter() - t0:.1f} s; pages of {args.page_size:,}")
        bare(base, args.page_size)  # warm-up: the server's per-page caches, the client's imports
        runs_bare, runs_ours, runs_copy = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.repeat):
                secs, cpu, rows = bare(base, args.page_size)
                expected = invoices_read(rows)
                assert len(rows) == len(expected) == n, (len(rows), len(expected), n)
                runs_bare.append({"wall": secs, "cpu": cpu})
                r = ours(base, args.page_size, Path(tmp))
                assert r.pop("invoices") == expected, "fetch() + build_ledger read other invoices than the bare loop"
                runs_ours.append(r)
                c = ours(base, args.page_size, Path(tmp), copy=True)
                assert c.pop("invoices") == expected, "the copying mapping read other invoices than the bare loop"
                runs_copy.append(c)
                print(f"  run {i + 1}: bare {secs:.3f} s (client CPU {cpu:.3f} s) | fetch {r['fetch']:.3f} s "
                      f"(client CPU {r['fetch_cpu']:.3f} s) + build_ledger {r['build_ledger']:.3f} s "
                      f"= {r['total']:.3f} s | copy: fetch {c['fetch']:.3f} s (client CPU {c['fetch_cpu']:.3f} s)")
    finally:
        server.terminate()
        server.join(10)
    b = statistics.median(r["wall"] for r in runs_bare)
    bc = statistics.median(r["cpu"] for r in runs_bare)
    f = statistics.median(r["fetch"] for r in runs_ours)
    fc = statistics.median(r["fetch_cpu"] for r in runs_ours)
    bl = statistics.median(r["build_ledger"] for r in runs_ours)
    t = statistics.median(r["total"] for r in runs_ours)
    cf = statistics.median(r["fetch"] for r in runs_copy)
    cc = statistics.median(r["fetch_cpu"] for r in runs_copy)
    print(f"\ncheck: in every run both mappings read the same {n:,} invoices as the bare loop (id, contract, dates, "
          "amount)")
    print(f"median of {args.repeat}: bare httpx loop {b:.3f} s ({n / b:,.0f} invoices/s)")
    print(f"  RestConnector.fetch(), as-is     {f:.3f} s  = {f / b:.2f}x bare")
    print(f"  RestConnector.fetch(), copy      {cf:.3f} s  = {cf / b:.2f}x bare")
    print(f"  client CPU: bare {bc:.3f} s, fetch() as-is {fc:.3f} s = {fc / bc:.2f}x, copy {cc:.3f} s = "
          f"{cc / bc:.2f}x (less sensitive to a busy machine)")
    print(f"  fetch() + build_ledger           {t:.3f} s  = {t / b:.2f}x bare   (build_ledger alone {bl:.3f} s)")
    print(f"  target: fetch() <= 1.5x bare: as-is {'met' if f / b <= 1.5 else 'NOT met'}, "
          f"copy {'met' if cf / b <= 1.5 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"invoices": n, "page_size": args.page_size, "bare": runs_bare,
                                         "ours": runs_ours, "copy": runs_copy}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
