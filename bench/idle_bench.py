"""Idle benchmark: a daemon between ticks after a tick over 1,000,000 open invoices: its RSS and CPU against an
idle Python process that imports the same modules, opens the same config and store and sleeps, measured the same
way in the same window.

    .venv/bin/python bench/idle_bench.py              # 1,000,000 invoices over 50,000 contracts, 60 s window
    .venv/bin/python bench/idle_bench.py --quick      # 20,000 invoices, 10 s window: a smoke run (about 30 s)
        --invoices N --contracts M --seconds S --json FILE --keep DIR --diagnose --no-diagnose

What it does (bench/README.md, section "Idle benchmark", gives the figures):

1. A world in a temporary folder: the shipped schedules.yaml and scenarios, a throwaway PKI's files (the daemon
   checks its officers' certificates at start), SQLite in var/arbots.db, and a CSV ledger (the file connector) of
   N open invoices (seed 20261206), all due 15 to 135 days after the tick's day: aged, none crossing a column, so
   the tick records no run and the daemon holds nothing afterwards. A tenth of the contracts has a part payment.
2. The daemon: ``run_robots.py --log-json run`` with one tick on a yearly crontab line (``0 0 1 1 *``): its
   start-up catch-up fires once (sync of the N invoices, evaluation, the runner), and no window comes during the
   measurement; runner passes every minute (``poll_minutes: 1``), the HTTP server on 127.0.0.1:19621 (19622 in
   --quick).
3. The baseline, started with the daemon: a Python process importing what the daemon imports (the CLI, the
   engine, the daemon, the steps, the connectors, signing, the store) and loading the same config; when the
   daemon's tick is done it opens the same store and its services, then sleeps.
4. The window (after the tick and a few seconds of settling): ``utime + stime`` of /proc/<pid>/stat at its start
   and end, and ``VmRSS`` of /proc/<pid>/status every second, for both processes.
5. Diagnosis (when the daemon's RSS is over the target, after the window; in --quick always, beside the daemon,
   so that it is exercised): the same tick
   driven in a process of its own through :class:`robots.engine.daemon.Daemon` (``start()`` and one ``step()``),
   then RSS after each of: ``gc.collect()``, disposing the store's connection pool (SQLite's page cache lives in
   the pooled connections), glibc's ``malloc_trim(0)``; with the live Python blocks, malloc's in-use and free
   bytes and the objects the collector sees. Each drop says what held that memory.
6. The check: the tick happened over the N invoices (the store holds them, ``tick_done`` logged) and both
   processes were measured over the whole window; ``check: ...`` when it passes, exit 1 when not. A full run
   also exits 1 when a target is missed (RSS <= 500 MB, CPU < 1 %).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEED = 20261206
TZ = ZoneInfo("Europe/Moscow")
CRON = "0 0 1 1 *"  # the tick: yearly, so after the start-up catch-up no window comes during the measurement
TARGET_RSS_MB = 500.0
TARGET_CPU_PERCENT = 1.0
#: Ports (within 19600-19699): the daemon's HTTP server and the PKI's (never served: B-B needs no TSA).
PORTS = {"full": (19621, 19631), "quick": (19622, 19632)}
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: What the baseline imports: the modules the daemon's code path loads (the CLI, the engine, the steps with their
#: adapters, the connectors, signing, the archive, the store), so the difference is what the tick left behind.
BASELINE = """
import sys, time
sys.path.insert(0, {root!r})
import robots.cli.main, robots.cli.run, robots.engine.daemon, robots.engine.tick, robots.engine.sync
import robots.engine.runner, robots.engine.observe, robots.engine.housekeeping, robots.steps, connectors.registry
import connectors.files.connector, signing.service, archive.bag, robots.mail.smtp, robots.store
from robots.config import load_config
from robots.engine.services import services_for
from robots.store import Store
from robots.support.clock import SystemClock
config = load_config({config!r})
sys.stdin.readline()  # the daemon's tick is done: open the store it wrote
store = Store.open(config.database_url())
services = services_for(config, store, SystemClock())
print("ready", flush=True)
time.sleep(10 ** 6)
"""


# ------------------------------------------------------------------------------------------------- the world


def tick_day(now: datetime) -> date:
    """The day the daemon's catch-up tick ages on: its newest window of CRON, in the daemon's timezone."""
    from apscheduler.triggers.cron import CronTrigger

    from robots.engine.triggers import newest_window

    window = newest_window(CronTrigger.from_crontab(CRON, timezone=TZ), now)
    assert window is not None
    return window.astimezone(TZ).date()


def make_ledger(n_invoices: int, n_contracts: int, as_of: date) -> Any:
    """N open invoices over M contracts, due 15..135 days after ``as_of`` (none crosses a column); a tenth of
    the contracts with an undirected part payment."""
    from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment

    rng = random.Random(SEED)
    cps = tuple(Counterparty(f"CP{c:06d}", f"Должник {c}", f"77{c:08d}", f"ap{c}@debtor.example",
                             "key_accounts" if rng.random() < 0.2 else "default") for c in range(n_contracts))
    cts = tuple(Contract(f"C{c:06d}", f"D-{c}", f"CP{c:06d}", 30) for c in range(n_contracts))
    days = [as_of + timedelta(days=d) for d in range(15, 136)]
    invs = []
    for i in range(n_invoices):
        due = days[rng.randrange(len(days))]
        invs.append(Invoice(f"INV{i:08d}", f"{i}", f"C{rng.randrange(n_contracts):06d}", due - timedelta(days=30),
                            due, Decimal(rng.randrange(100_00, 500_000_00)).scaleb(-2)))
    pays = tuple(Payment(f"PAY{c:07d}", f"C{c:06d}", as_of - timedelta(days=1), Decimal(rng.randrange(1_00, 50_00)))
                 for c in range(0, n_contracts, 10))
    return Ledger(cps, cts, tuple(invs), pays)


def make_world(root: Path, pki: Any, n_invoices: int, n_contracts: int, as_of: date, http_port: int) -> Path:
    from ruamel.yaml import YAML

    from connectors.files.ledger_csv import write_ledger_csv

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "schedules.yaml", root / "schedules.yaml")
    shutil.copytree(ROOT / "scenarios", root / "scenarios")
    shutil.copytree(pki.folder, root / "var" / "pki")
    text = (root / "schedules.yaml").read_text(encoding="utf-8").replace("127.0.0.1:8779", f"127.0.0.1:{pki.port}")
    (root / "schedules.yaml").write_text(text, encoding="utf-8")
    yaml = YAML()
    data = yaml.load(text)
    data["connectors"] = [{"id": "ledger", "kind": "file", "path": "var/ledger",
                           "write_back": {"journal": "var/write-back.csv"}}]
    data["daemon"] = {"timezone": "Europe/Moscow", "ticks": [{"id": "yearly", "cron": CRON}], "poll_minutes": 1,
                      "http": {"port": http_port}}
    with (root / "schedules.yaml").open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    write_ledger_csv(make_ledger(n_invoices, n_contracts, as_of), root / "var" / "ledger")
    return root / "schedules.yaml"


# ------------------------------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), in seconds."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5), counted from state


def status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and Threads of /proc/<pid>/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def self_rss_mb() -> float:
    return status(os.getpid())["VmRSS"] / 1024


def measure(pids: dict[str, int], seconds: float) -> dict[str, dict[str, float]]:
    """CPU share and RSS of each process over one window of ``seconds``."""
    t0 = time.monotonic()
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    rss: dict[str, list[int]] = {k: [] for k in pids}
    while True:
        for k, p in pids.items():
            rss[k].append(status(p)["VmRSS"])
        left = seconds - (time.monotonic() - t0)
        if left <= 0:
            break
        time.sleep(min(1.0, left))
    elapsed = time.monotonic() - t0
    out = {}
    for k, p in pids.items():
        cpu = cpu_seconds(p) - cpu0[k]
        st = status(p)
        out[k] = {"cpu_seconds": cpu, "cpu_percent": 100 * cpu / elapsed, "rss_mb": st["VmRSS"] / 1024,
                  "rss_max_mb": max(rss[k]) / 1024, "rss_min_mb": min(rss[k]) / 1024, "hwm_mb": st["VmHWM"] / 1024,
                  "threads": st["Threads"], "seconds": elapsed, "samples": len(rss[k])}
    return out


# ------------------------------------------------------------------------------------------------- diagnosis


def _mallinfo() -> dict[str, float]:
    """glibc's mallinfo2: bytes malloc has handed out (in use) and holds free, in MB."""

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                         "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    m = libc.mallinfo2()
    return {"malloc_in_use_mb": m.uordblks / 2**20, "malloc_free_mb": m.fordblks / 2**20,
            "mmapped_mb": m.hblkhd / 2**20}


def _snapshot(label: str) -> dict[str, Any]:
    return {"after": label, "rss_mb": self_rss_mb(), "python_blocks": sys.getallocatedblocks(),
            "gc_objects": len(gc.get_objects()), "frozen": gc.get_freeze_count(), **_mallinfo()}


def drive(config_path: str) -> int:
    """The daemon's tick driven in this process (Daemon.start, one step), then what holds the memory after it."""
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from collections import Counter

    from robots.config import load_config
    from robots.engine.daemon import Daemon
    from robots.engine.services import services_for
    from robots.store import Store
    from robots.support.clock import SystemClock

    config = load_config(Path(config_path))
    store = Store.open(config.database_url())
    clock = SystemClock()
    daemon = Daemon(services_for(config, store, clock), clock=clock, beater=False)
    daemon.start()
    steps = [_snapshot("start (imports, config, store, HTTP server)")]
    try:
        t0 = time.perf_counter()
        daemon.step()  # the runner's first pass and the catch-up tick
        tick_seconds = time.perf_counter() - t0
        assert any(kind.startswith("tick:") for kind, _, _ in daemon.fired), daemon.fired
        steps.append(_snapshot("the tick (the daemon's state between ticks)"))
        collected = gc.collect()
        steps.append({**_snapshot("gc.collect()"), "collected": collected})
        types = Counter(type(o).__name__ for o in gc.get_objects())
        daemon.services.store.engine.pool.dispose()
        steps.append(_snapshot("the store's connection pool disposed (SQLite page caches closed)"))
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        steps.append(_snapshot("malloc_trim(0) (free heap returned to the system)"))
    finally:
        daemon.shutdown()
    print("DIAGNOSIS " + json.dumps({"tick_seconds": tick_seconds, "steps": steps,
                                     "top_types": types.most_common(8)}))
    return 0


def diagnose(config_path: Path, root: Path) -> dict[str, Any]:
    """Run :func:`drive` on a copy of the world's config with a database of its own."""
    cfg = root / "schedules-drive.yaml"
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load(config_path.read_text(encoding="utf-8"))
    data["database"] = {"url": "sqlite:///var/drive.db"}
    data["daemon"]["http"] = {"enabled": False}
    with cfg.open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--drive", str(cfg)], cwd=root,
                          capture_output=True, text=True, timeout=3600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("DIAGNOSIS ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"the driven daemon failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(line.removeprefix("DIAGNOSIS "))


# ------------------------------------------------------------------------------------------------- the run


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # handed to the main thread
        return exc


def _wait_log(path: Path, event: str, proc: subprocess.Popen, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if f'"{event}"' in line:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("event") == event:
                    return entry
        if proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({proc.returncode}) before {event}: "
                               f"{path.read_text(encoding='utf-8', errors='replace')[-3000:]}")
        time.sleep(0.5)
    raise RuntimeError(f"no {event} within {timeout:.0f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000 invoices, a 10 s window: a smoke run")
    ap.add_argument("--invoices", type=int, help="open invoices (default 1,000,000; 20,000 with --quick)")
    ap.add_argument("--contracts", type=int, help="contracts (default invoices / 20)")
    ap.add_argument("--seconds", type=float, help="the measurement window (default 60; 10 with --quick)")
    ap.add_argument("--settle", type=float, help="seconds between the tick's end and the window (default 5; 2 "
                    "with --quick)")
    ap.add_argument("--no-diagnose", action="store_true", help="skip the diagnosis even when RSS is over")
    ap.add_argument("--diagnose", action="store_true", help="diagnose even when RSS is within the target")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    ap.add_argument("--keep", type=Path, help="build the world in a folder here and keep it")
    ap.add_argument("--drive", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive:
        return drive(args.drive)
    n = args.invoices or (20_000 if args.quick else 1_000_000)
    m = args.contracts or max(1, n // 20)
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    settle = args.settle if args.settle is not None else (2.0 if args.quick else 5.0)
    http_port, pki_port = PORTS["quick" if args.quick else "full"]

    from demo.pki import OfficerCert, create_pki
    from robots.config import load_config

    tmp = Path(tempfile.mkdtemp(prefix="bench_idle_", dir=args.keep)) if args.keep else \
        Path(tempfile.mkdtemp(prefix="bench_idle_"))
    procs: list[subprocess.Popen] = []
    started = time.monotonic()
    try:
        now = datetime.now(UTC)
        as_of = tick_day(now)
        config = load_config(ROOT / "schedules.yaml")
        officers = [OfficerCert(oid, o.name, o.position) for oid, o in config.settings.officers.items()]
        pki = create_pki(tmp / "pki", officers, now=now - timedelta(days=1), port=pki_port)
        t0 = time.perf_counter()
        cfg = make_world(tmp / "world", pki, n, m, as_of, http_port)
        print(f"{n:,} open invoices over {m:,} contracts written as CSV in {time.perf_counter() - t0:.1f} s "
              f"(not timed); the tick ages them on {as_of}; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.2f}")
        root = cfg.parent
        log_path = root / "daemon.log"
        with log_path.open("wb") as log:
            daemon = subprocess.Popen([sys.executable, str(ROOT / "run_robots.py"), "--config", str(cfg), "--log-json",
                                       "run"], cwd=root, stdout=log, stderr=subprocess.STDOUT)
        procs.append(daemon)
        early: dict[str, Any] = {}
        if args.quick and not args.no_diagnose:
            # A smoke run exercises the diagnosis beside the measurement (on a database of its own), to stay short;
            # a full run diagnoses after the window, alone, and only when the RSS is over the target.
            early_thread = threading.Thread(target=lambda: early.update(result=_try(diagnose, cfg, root)))
            early_thread.start()
        baseline = subprocess.Popen([sys.executable, "-c", BASELINE.format(root=str(ROOT), config=str(cfg))],
                                    cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        procs.append(baseline)
        t0 = time.monotonic()
        done = _wait_log(log_path, "tick_done", daemon, 3600)
        print(f"daemon pid {daemon.pid}: its start-up tick took {done.get('seconds')} s (new runs "
              f"{done.get('new_runs')}); {time.monotonic() - t0:.1f} s from start; peak RSS so far "
              f"{status(daemon.pid)['VmHWM'] / 1024:.0f} MB")
        assert baseline.stdin is not None and baseline.stdout is not None
        baseline.stdin.write("go\n")
        baseline.stdin.flush()
        if baseline.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the baseline process did not start ({baseline.poll()})")
        time.sleep(settle)
        figures = measure({"daemon": daemon.pid, "baseline": baseline.pid}, seconds)
        alive = daemon.poll() is None and baseline.poll() is None
        passes = sum(1 for line in log_path.read_text(encoding="utf-8").splitlines() if '"tick_done"' in line)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        t_stop = time.monotonic()
        code = daemon.wait(timeout=120)
        print(f"the daemon stopped {time.monotonic() - t_stop:.1f} s after SIGTERM (exit {code})")
        con = sqlite3.connect(root / "var" / "arbots.db")
        try:
            stored = con.execute("SELECT count(*) FROM ledger_invoices").fetchone()[0]
        finally:
            con.close()
        d, b = figures["daemon"], figures["baseline"]
        print(f"\nwindow of {d['seconds']:.1f} s, {d['samples']} samples each, after {settle:.0f} s of settling:")
        print(f"{'':10} {'RSS MB (end)':>13} {'min':>7} {'max':>7} {'peak (HWM)':>11} {'CPU s':>7} {'CPU %':>7} "
              f"{'threads':>8}")
        for k, f in figures.items():
            print(f"{k:10} {f['rss_mb']:13.1f} {f['rss_min_mb']:7.1f} {f['rss_max_mb']:7.1f} {f['hwm_mb']:11.1f} "
                  f"{f['cpu_seconds']:7.2f} {f['cpu_percent']:7.3f} {f['threads']:8d}")
        rss_ratio = d["rss_mb"] / b["rss_mb"]
        print(f"\nRSS ratio daemon / baseline = {rss_ratio:.2f} ({d['rss_mb']:.0f} MB against {b['rss_mb']:.0f} MB; "
              f"the daemon's excess {d['rss_mb'] - b['rss_mb']:.0f} MB); target RSS <= {TARGET_RSS_MB:.0f} MB: "
              f"{'met' if d['rss_max_mb'] <= TARGET_RSS_MB else 'NOT met'}")
        cpu_ratio = f"ratio {d['cpu_percent'] / b['cpu_percent']:.1f}" if b["cpu_percent"] > 0 else \
            "the baseline used no measurable CPU"
        print(f"idle CPU: daemon {d['cpu_percent']:.3f} %, baseline {b['cpu_percent']:.3f} % of one CPU ({cpu_ratio}; "
              f"clock ticks of 1/{CLK_TCK} s); target < {TARGET_CPU_PERCENT:.0f} %: "
              f"{'met' if d['cpu_percent'] < TARGET_CPU_PERCENT else 'NOT met'}")
        diagnosis = None
        if not args.no_diagnose and (args.quick or args.diagnose or d["rss_max_mb"] > TARGET_RSS_MB):
            t_diag = time.monotonic()
            if args.quick:
                early_thread.join()
                diagnosis = early["result"]
                if isinstance(diagnosis, BaseException):
                    raise diagnosis
            else:
                diagnosis = diagnose(cfg, root)
            print(f"\ndiagnosis: the same tick driven in a process of its own (the tick "
                  f"{diagnosis['tick_seconds']:.1f} s, the whole diagnosis {time.monotonic() - t_diag:.1f} s):")
            print(f"  {'RSS MB':>8} {'py blocks':>10} {'malloc used MB':>15} {'malloc free MB':>15} "
                  f"{'gc objects':>11}  after")
            for s in diagnosis["steps"]:
                print(f"  {s['rss_mb']:8.1f} {s['python_blocks']:10,} {s['malloc_in_use_mb']:15.1f} "
                      f"{s['malloc_free_mb']:15.1f} {s['gc_objects']:11,}  {s['after']}")
            print("  objects the collector sees after the tick: " +
                  ", ".join(f"{t} {c:,}" for t, c in diagnosis["top_types"]))
        if args.json:
            args.json.write_text(json.dumps({"invoices": n, "contracts": m, "figures": figures, "tick": done,
                                             "diagnosis": diagnosis}, indent=1, default=str), encoding="utf-8")
        print(f"(the whole run took {time.monotonic() - started:.1f} s)")
        problems = []
        if stored != n:
            problems.append(f"the store holds {stored} invoices, expected {n}")
        if passes != 1:
            problems.append(f"{passes} ticks logged, expected the one catch-up tick")
        if not alive or d["samples"] < seconds // 2 or code != 0:
            problems.append(f"a process died during the window or the daemon exited {code}")
        if problems:
            print("CHECK FAILED: " + "; ".join(problems))
            return 1
        print(f"check: the daemon ticked once over {n:,} invoices (all in the store) and both processes were "
              f"measured over {d['seconds']:.0f} s")
        if not args.quick and (d["rss_max_mb"] > TARGET_RSS_MB or d["cpu_percent"] >= TARGET_CPU_PERCENT):
            return 1
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
