"""UI connector benchmark: UiConnector.fetch() against a bare Playwright script reading the same table, same run.

    .venv/bin/python bench/ui_bench.py                  # 2,000 invoices, 50 a page (40 pages), 3 rounds
    .venv/bin/python bench/ui_bench.py --quick          # 150 invoices (3 pages), 1 round: a smoke run
    .venv/bin/python bench/ui_bench.py --invoices 500 --repeat 5

The demo accounting system (demo.erp) serves the invoices from its own spawned process (uvicorn). Each side runs
in a fresh spawned process per round, one side after the other (A B C D, then D C B A): it launches Chromium with
the connector's flags, logs in, reads the whole list once to warm up (not timed), then reads it once more, timed.
The median over ``--repeat`` rounds is reported.

* **bare**: the least a script can do: ``page.goto`` each page, one ``eval_on_selector_all`` that returns the six
  cells of every row and the ``a[rel=next]`` link, until there is no next link.
* **ours**: ``UiConnector.fetch()`` with an invoices-only config and the defaults (``trace: actions``: a Playwright
  trace of the entity, thrown away when it succeeds), Records with ``Where`` built.
* **ours, trace: snapshots / off** (information): what the trace with DOM snapshots costs, and no trace at all.

bench/README.md explains the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

USER, PASSWORD = "робот", "bench-password-not-secret"
FIELDS = {"id": None, "number": None, "contract_id": None, "date": "data-value", "due_date": "data-value",
          "amount": "data-value"}
ROWS, NEXT = "table#records tbody tr", "a[rel=next]"

BARE_JS = """(rows) => ({
  rows: rows.map(r => [
    r.querySelector('td[data-field=id]').innerText.trim(),
    r.querySelector('td[data-field=number]').innerText.trim(),
    r.querySelector('td[data-field=contract_id]').innerText.trim(),
    r.querySelector('td[data-field=date]').getAttribute('data-value'),
    r.querySelector('td[data-field=due_date]').getAttribute('data-value'),
    r.querySelector('td[data-field=amount]').getAttribute('data-value')]),
  next: document.querySelector('a[rel=next]')?.href ?? null})"""


def bench_ledger(n_invoices: int):
    """The demo ledger, grown until it has ``n_invoices`` invoices, cut to exactly that many (no payments)."""
    from demo.ledger import generate_demo_ledger
    from robots.core.domain import Ledger

    cps = 36
    while True:
        ledger = generate_demo_ledger(seed=11, days=200, counterparties=cps)
        if len(ledger.invoices) >= n_invoices:
            return Ledger(ledger.counterparties, ledger.contracts, ledger.invoices[:n_invoices], ())
        cps = cps * n_invoices // max(1, len(ledger.invoices)) + 8


# ------------------------------------------------------------------------------------------------- the server
def _serve(n_invoices: int, page_size: int, conn: Any) -> None:
    from demo.erp.app import create_app
    from demo.erp.server import serve

    app = create_app(bench_ledger(n_invoices), username=USER, password=PASSWORD, page_size=page_size)
    with serve(app) as base:
        conn.send(base)
        conn.recv()  # until the parent says stop


# ------------------------------------------------------------------------------------------------- the sides
def _config(base: str, trace: str):
    from connectors.ui.config import UiConnectorConfig

    return UiConnectorConfig.model_validate({
        "id": "bench-ui", "kind": "ui", "base_url": base, "trace": trace,
        "credentials": {"username": USER, "password_env": "BENCH_PASSWORD"}, "login_error": ".error",
        "login": [{"goto": "login"}, {"fill": {"selector": "input[name=username]", "value": "{username}"}},
                  {"fill": {"selector": "input[name=password]", "value": "{password}"}},
                  {"click": "button[type=submit]"}, {"wait_for": "#user"}],
        "entities": {"invoices": {
            "steps": [{"goto": "invoices"}], "rows": ROWS, "next_page": NEXT,
            "fields": {f: {"selector": f"td[data-field={f}]", "attr": a} for f, a in FIELDS.items()}}}})


def run_ours(base: str, repeat: int, trace: str, state_dir: str) -> dict[str, Any]:
    from connectors.ui.connector import UiConnector

    c = UiConnector(_config(base, trace), base_dir=ROOT, state_dir=Path(state_dir),
                    environ={"BENCH_PASSWORD": PASSWORD})
    try:
        t0 = time.perf_counter()
        first = c.fetch()  # launch, login and a first read: not timed below
        cold = time.perf_counter() - t0
        assert not first.problems, first.problems
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            got = c.fetch()
            times.append(time.perf_counter() - t0)
        assert not got.problems, got.problems
        records = got.tables["invoices"]
        return {"times": times, "cold": cold, "rows": len(records), "pages": records[-1].where.page,
                "table": [[r.values[f] for f in FIELDS] for r in records]}
    finally:
        c.close()


def run_bare(base: str, repeat: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from connectors.ui.config import CHROMIUM_ARGS, DEFAULT_CHROMIUM

    with sync_playwright() as p:
        t0 = time.perf_counter()
        browser = p.chromium.launch(executable_path=DEFAULT_CHROMIUM, headless=True, args=list(CHROMIUM_ARGS))
        page = browser.new_context().new_page()
        page.goto(base + "login")
        page.fill("input[name=username]", USER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#user")

        def read() -> tuple[list[list[str]], int]:
            rows, pages, url = [], 0, base + "invoices"
            while url:
                page.goto(url)
                data = page.eval_on_selector_all(ROWS, BARE_JS)
                rows += data["rows"]
                pages += 1
                url = data["next"]
            return rows, pages

        read()  # warm-up, like ours
        cold = time.perf_counter() - t0
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows, pages = read()
            times.append(time.perf_counter() - t0)
        browser.close()
    return {"times": times, "cold": cold, "rows": len(rows), "pages": pages, "table": rows}


def _in_subprocess(fn, *args) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


# ------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--invoices", type=int, default=2000)
    ap.add_argument("--page-size", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each side reads once per round (median reported)")
    ap.add_argument("--quick", action="store_true", help="150 invoices, 1 round: a smoke run, the check decides the "
                    "exit status, not the target")
    args = ap.parse_args(argv)
    if args.quick:
        args.invoices, args.page_size, args.repeat = 150, 50, 1

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(args.invoices, args.page_size, child), daemon=True)
    server.start()
    try:
        base = parent.recv()
        print(f"demo.erp at {base}: {args.invoices:,} invoices, {args.page_size} a page", flush=True)
        with tempfile.TemporaryDirectory(prefix="ui-bench-") as tmp:
            sides = {
                "bare": lambda: _in_subprocess(run_bare, base, 1),
                "ours": lambda: _in_subprocess(run_ours, base, 1, "actions", f"{tmp}/ours"),
                "ours, trace: snapshots": lambda: _in_subprocess(run_ours, base, 1, "snapshots", f"{tmp}/snapshots"),
                "ours, trace: off": lambda: _in_subprocess(run_ours, base, 1, "off", f"{tmp}/off"),
            }
            results: dict[str, dict[str, Any]] = {}
            for r in range(args.repeat):  # the sides take turns (A B C D, then D C B A): load drift hits all alike
                for name in list(sides) if r % 2 == 0 else reversed(sides):
                    print(f"  round {r + 1}/{args.repeat}: {name} ...", flush=True)
                    res = sides[name]()
                    if name in results:
                        results[name]["times"] += res["times"]
                        results[name]["cold"] = min(results[name]["cold"], res["cold"])
                    else:
                        results[name] = res
    finally:
        parent.send("stop")
        server.join(timeout=15)
        if server.is_alive():
            server.terminate()

    bare = results["bare"]
    for name, r in results.items():
        assert (r["rows"], r["pages"]) == (bare["rows"], bare["pages"]), f"{name} read something else"
        assert r["table"] == bare["table"], f"{name}: the cells differ from the bare script's"
    print(f"\ncheck: every side read the same {bare['rows']:,} rows (six cells each) on {bare['pages']} pages")
    print(f"{bare['rows']:,} rows on {bare['pages']} pages; median of {args.repeat} rounds, each a read after a "
          "warm-up read")
    print(f"  {'side':<22} {'s per read':>10} {'ms per page':>12} {'vs bare':>8} "
          f"{'best cold s (launch+login+read)':>32}")
    med_bare = statistics.median(bare["times"])
    for name, r in results.items():
        med = statistics.median(r["times"])
        print(f"  {name:<22} {med:>10.2f} {med / r['pages'] * 1000:>12.1f} {med / med_bare:>8.2f} "
              f"{r['cold']:>32.2f}")
    ratio = statistics.median(results["ours"]["times"]) / med_bare
    print(f"  target: ours / bare <= 1.5 ({'met' if ratio <= 1.5 else 'NOT met'}: {ratio:.2f})")
    return 0 if ratio <= 1.5 or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
