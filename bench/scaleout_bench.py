"""Scale-out benchmark: N runs ready at once (render, sign B-B, archive, e-mail to a local sink), executed by 2
real daemons (``run_robots.py run``) sharing one PostgreSQL against 1 daemon, in the same run.

    .venv/bin/python bench/scaleout_bench.py              # 10,000 runs per side (about half an hour on 2 cores)
    .venv/bin/python bench/scaleout_bench.py --quick      # 20 runs: a smoke run of the check (under a minute)
        --runs N --daemons 2 --order 2,1 --json FILE --keep DIR

What it does (bench/README.md, section "Scale-out benchmark", gives the figures):

1. A throwaway PKI (demo.pki.create_pki, its TSA/OCSP/CRL served in this process), an aiosmtpd sink in this
   process that counts every message and its Message-ID, and for each side a world of its own: the shipped
   schedules.yaml and templates, every scenario being ``render → sign (B-B) → archive → send_email``, a CSV
   ledger of N contracts each with one invoice two days overdue, its own archive folder and its own PostgreSQL
   schema (127.0.0.1:5432, database ``test``). The config has no tick (``daemon.ticks: []``): the daemons only
   run runner passes, as followers of a leader that fires nothing.
2. Preparing (not timed): ``migrate``, then one sync and one ``evaluate_and_record`` in this process: N pending
   runs, one per contract.
3. The side: k daemons started at once, each ``bench/scaleout_bench.py --worker``, which is ``run_robots.py run``
   (robots.cli.main.main, the same code) with timers wrapped around the Store methods of claiming and fencing
   (claim_run, renew_lease, finish_run, and the fence UPDATE inside mark_step, timed at the cursor) and around
   each step kind's ``run``. The daemon's first runner pass starts at once and claims runs until none is left;
   this process polls the schema until every run is finished, then stops the daemons with SIGTERM, and each
   writes its timings as JSON when it exits.
4. The figures of a side: wall time from the first claim (of any daemon) to the last finished run; runs/s;
   per daemon the runs it did and the share of its active time spent claiming and fencing.
5. The check: every run ``done``, exactly one message per run at the sink, every Message-ID unique, every
   contract's letter once; it prints ``check: ...`` when it passes and exits 1 when it does not.

The ratio is runs/s with 2 daemons over runs/s with 1 (higher is better); target >= 1.7. In ``--quick`` only the
check decides the exit status (the timings of 20 runs mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_URL = os.environ.get("ARBOTS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DB_ENV = "ARBOTS_BENCH_SCALEOUT_DB"
TZ = ZoneInfo("Europe/Moscow")
TARGET = 1.7
#: The ports this benchmark binds (the PKI's services, the SMTP sink): within 19600-19699; --quick has its own, so
#: the smoke run of the tests can run beside a full measurement.
PORTS = {"full": (19611, 19612), "quick": (19613, 19614)}
SCENARIO = """title: Письмо (бенчмарк)
steps:
  - {kind: render, id: letter, template: pretrial_demand.j2, title: Досудебное требование}
  - {kind: sign, document: letter, officer: chief_accountant}
  - {kind: archive, document: letter}
  - kind: send_email
    document: letter
    subject: "Досудебное требование по договору № {{ contract.number }}"
    body: "Здравствуйте! Во вложении досудебное требование по договору № {{ contract.number }}."
"""


# ------------------------------------------------------------------------------------------------- the worker
#
# Runs inside each daemon process: the product's own entry point, with timers around the Store's claiming and
# fencing. Nothing of the product is replaced; the wrappers only measure.


class _Timers:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.first_claim: float | None = None
        self.last_finish: float | None = None
        self.local = threading.local()

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.seconds[name] += seconds
            self.calls[name] += 1


def _instrument(timers: _Timers) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from robots.steps import REGISTRY
    from robots.store import Store

    def wrap(owner: Any, name: str, label: str, *, claim: bool = False, finish: bool = False,
             mark: bool = False) -> None:
        fn = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            if mark:
                timers.local.in_mark = True
            try:
                result = fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                if mark:
                    timers.local.in_mark = False
                timers.add(label, elapsed)
            if claim and result is not None and timers.first_claim is None:
                timers.first_claim = time.time() - elapsed
            if finish and result:
                timers.last_finish = time.time()
            return result

        setattr(owner, name, timed)

    wrap(Store, "claim_run", "claim_run", claim=True)
    wrap(Store, "renew_lease", "renew_lease")
    wrap(Store, "finish_run", "finish_run", finish=True)
    wrap(Store, "mark_step", "mark_step (whole)", mark=True)
    for kind, cls in REGISTRY.items():
        wrap(cls, "run", f"step {kind}")

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if getattr(timers.local, "in_mark", False) and statement.lstrip().startswith("UPDATE runs"):
            timers.local.fence_t0 = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        t0 = getattr(timers.local, "fence_t0", None)
        if t0 is not None:
            timers.local.fence_t0 = None
            timers.add("mark_step fence", time.perf_counter() - t0)

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)


def worker(stats_file: str, argv: list[str]) -> int:
    """``run_robots.py <argv>`` with the timers; their figures go to ``stats_file`` when the daemon exits."""
    timers = _Timers()
    _instrument(timers)
    from robots.cli.main import main

    cpu0 = time.process_time()
    try:
        return main(argv)
    finally:
        Path(stats_file).write_text(json.dumps({
            "pid": os.getpid(), "seconds": dict(timers.seconds), "calls": dict(timers.calls),
            "first_claim": timers.first_claim, "last_finish": timers.last_finish,
            "cpu": time.process_time() - cpu0}), encoding="utf-8")


# ------------------------------------------------------------------------------------------------- the sink


class Sink:
    """An aiosmtpd server in a thread of this process: every message's Message-ID and recipient, by side."""

    def __init__(self, port: int):
        from aiosmtpd.controller import Controller

        self.lock = threading.Lock()
        self.received: list[tuple[str, str]] = []  # (Message-ID, To)
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.port = port

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email.parser import BytesHeaderParser

        headers = BytesHeaderParser().parsebytes(envelope.original_content)
        with self.lock:
            self.received.append((str(headers.get("Message-ID", "")), ",".join(envelope.rcpt_tos)))
        return "250 2.0.0 Ok: queued"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def since(self, start: int) -> list[tuple[str, str]]:
        with self.lock:
            return self.received[start:]


# ------------------------------------------------------------------------------------------------- a side's world


def _ledger(n: int, as_of: Any) -> Any:
    """n contracts, each with one invoice two days overdue on ``as_of`` (default group: the overdue_2 column)."""
    from decimal import Decimal

    from robots.core.domain import Contract, Counterparty, Invoice, Ledger

    due = as_of - timedelta(days=2)
    cps = tuple(Counterparty(f"CP{i:06d}", f"ООО «Должник {i}»", f"77{i:08d}", f"buh{i}@debtor.example", "default")
                for i in range(n))
    cts = tuple(Contract(f"C{i:06d}", f"Д-2026/{i:05d}", f"CP{i:06d}", 30) for i in range(n))
    invs = tuple(Invoice(f"INV{i:06d}", f"{1000 + i}", f"C{i:06d}", due - timedelta(days=30), due,
                         Decimal(10_000_00 + 37 * i).scaleb(-2)) for i in range(n))
    return Ledger(cps, cts, invs, ())


def make_world(root: Path, pki: Any, smtp_port: int, n: int, as_of: Any) -> Path:
    """The shipped config in ``root``, every scenario the bench's four steps, the ledger as CSV; the config path."""
    import re

    from ruamel.yaml import YAML

    from connectors.files.ledger_csv import write_ledger_csv

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "schedules.yaml", root / "schedules.yaml")
    shutil.copytree(ROOT / "scenarios" / "templates", root / "scenarios" / "templates")
    text = (root / "schedules.yaml").read_text(encoding="utf-8")
    for name in set(re.findall(r"scenario: (\w+)", text)) | set(re.findall(r"^  (?:paid|promise_broken): (\w+)",
                                                                          text, re.M)):
        (root / "scenarios" / f"{name}.yaml").write_text(SCENARIO, encoding="utf-8")
    shutil.copytree(pki.folder, root / "var" / "pki")
    text = text.replace("127.0.0.1:8779", f"127.0.0.1:{pki.port}")
    (root / "schedules.yaml").write_text(text, encoding="utf-8")

    yaml = YAML()
    data = yaml.load((root / "schedules.yaml").read_text(encoding="utf-8"))
    data["database"] = {"url_env": DB_ENV}
    data["connectors"] = [{"id": "ledger", "kind": "file", "path": "var/ledger"}]
    data["email"]["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none"}
    data["email"]["window"] = None
    data["signing"]["default_level"] = "B-B"
    data["daemon"] = {"timezone": "Europe/Moscow", "ticks": [], "poll_minutes": 60, "http": {"enabled": False},
                      "leader_poll_seconds": 5}
    with (root / "schedules.yaml").open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    write_ledger_csv(_ledger(n, as_of), root / "var" / "ledger")
    return root / "schedules.yaml"


def _db_url(schema: str) -> str:
    return f"{PG_URL}?options={quote(f'-csearch_path={schema}')}"


def prepare(config_path: Path, schema: str, as_of: Any, now: datetime) -> int:
    """Migrate the side's schema, sync the ledger and evaluate once: the number of pending runs."""
    from robots.config import load_config
    from robots.engine.services import services_for
    from robots.engine.sync import sync
    from robots.engine.tick import evaluate_and_record
    from robots.store import Store
    from robots.support.clock import SystemClock

    os.environ[DB_ENV] = _db_url(schema)
    config = load_config(config_path)
    store = Store.open(PG_URL, schema=schema)
    services = services_for(config, store, SystemClock())
    try:
        sync(config, store, now)
        _, run_ids = evaluate_and_record(services, as_of, now)
    finally:
        services.close()
        store.close()
    return len(run_ids)


def _counts(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT status, count(*) FROM runs GROUP BY status")).all())


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (every process, not only ours)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    tck = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tck, sum(fields[:8]) / tck


def run_side(k: int, config_path: Path, schema: str, n: int, sink: Sink, timeout: float) -> dict[str, Any]:
    """k daemons on the side's schema until every run is finished; the side's figures and its check."""
    from sqlalchemy import create_engine, text

    root = config_path.parent
    env = {**os.environ, DB_ENV: _db_url(schema), "PYTHONUNBUFFERED": "1"}
    engine = create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    mail_start = sink.count()
    procs, stats_files, logs = [], [], []
    t_start = time.time()
    busy0, total0 = machine_cpu()
    for i in range(k):
        stats = root / f"worker-{i}.json"
        log = (root / f"daemon-{i}.log").open("wb")
        stats_files.append(stats)
        logs.append(log)
        procs.append(subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", str(stats), "--",
             "--config", str(config_path), "--log-json", "run"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + timeout
    last: dict[str, int] = {}
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            last = _counts(engine)
            if last.get("done", 0) + last.get("failed", 0) >= n:
                break
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"a daemon exited early ({dead[0].returncode}); see {root}/daemon-*.log")
        else:
            raise RuntimeError(f"timed out after {timeout:.0f} s with runs {last}")
    finally:
        t_stop = time.time()
        busy1, total1 = machine_cpu()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
        stopped = time.time() - t_stop
    # Messages still on the wire when the last run was marked done have arrived by now (the run is done only
    # after the server accepted its message).
    received = sink.since(mail_start)
    workers = [json.loads(s.read_text(encoding="utf-8")) for s in stats_files]
    with engine.connect() as conn:
        status = dict(conn.execute(text("SELECT status, count(*) FROM runs GROUP BY status")).all())
        attempts = dict(conn.execute(text("SELECT attempts, count(*) FROM runs GROUP BY attempts")).all())
        deliveries = conn.execute(text("SELECT count(*), count(DISTINCT message_id) FROM deliveries "
                                       "WHERE status = 'sent'")).one()
    engine.dispose()
    first = min(w["first_claim"] for w in workers if w["first_claim"] is not None)
    end = max(w["last_finish"] for w in workers if w["last_finish"] is not None)
    wall = end - first
    ids = [m for m, _ in received]
    recipients = Counter(to for _, to in received)
    problems = []
    if status.get("done", 0) != n or len(status) != 1:
        problems.append(f"runs by status {status}, expected {n} done")
    if len(received) != n:
        problems.append(f"{len(received)} messages at the sink for {n} runs")
    if len(set(ids)) != len(ids) or any(not m for m in ids):
        problems.append(f"{len(ids) - len(set(ids))} duplicate or missing Message-IDs")
    if len(recipients) != n or max(recipients.values(), default=0) != 1:
        problems.append(f"{len(recipients)} recipients got mail, {sum(1 for c in recipients.values() if c > 1)} "
                        "of them more than once")
    if deliveries[0] != n or deliveries[1] != n:
        problems.append(f"deliveries: {deliveries[0]} sent, {deliveries[1]} Message-IDs, for {n} runs")
    per_worker = []
    for w in workers:
        active = (w["last_finish"] or first) - (w["first_claim"] or first)
        fence = sum(w["seconds"].get(x, 0.0) for x in ("claim_run", "renew_lease", "finish_run", "mark_step fence"))
        per_worker.append({**w, "active": active, "fence_seconds": fence,
                           "runs": w["calls"].get("step send_email", 0)})
    return {"daemons": k, "runs": n, "wall": wall, "rate": n / wall, "startup": first - t_start, "stop": stopped,
            "machine_busy": (busy1 - busy0) / max(total1 - total0, 1e-9),
            "machine_busy_cores": (busy1 - busy0) / max(t_stop - t_start, 1e-9),
            "daemons_cores": sum(w["cpu"] for w in workers) / max(t_stop - t_start, 1e-9),
            "status": status, "attempts": attempts, "messages": len(received), "unique_ids": len(set(ids)),
            "workers": per_worker, "problems": problems}


def _drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def _create_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()


# ------------------------------------------------------------------------------------------------- report


FENCE_PARTS = ("claim_run", "renew_lease", "mark_step fence", "finish_run")
STEPS = ("step render", "step sign", "step archive", "step send_email")


def report(side: dict[str, Any]) -> None:
    k = side["daemons"]
    print(f"\n{k} daemon{'s' if k > 1 else ''}: {side['runs']:,} runs in {side['wall']:.1f} s "
          f"(first claim to last finished run) = {side['rate']:.2f} runs/s; runs by status {side['status']}, "
          f"attempts {side['attempts']}; start-up to the first claim {side['startup']:.1f} s, SIGTERM to exit "
          f"{side['stop']:.1f} s")
    print(f"  the machine's CPUs were {100 * side['machine_busy']:.0f} % busy ({side['machine_busy_cores']:.2f} cores, "
          f"every process), the daemons used {side['daemons_cores']:.2f} cores of it")
    for i, w in enumerate(side["workers"]):
        active = w["active"] or 1e-9
        sec, calls = w["seconds"], w["calls"]
        parts = ", ".join(f"{p} {sec.get(p, 0.0):.2f} s / {calls.get(p, 0):,} calls" for p in FENCE_PARTS)
        steps = ", ".join(f"{s.split()[1]} {sec.get(s, 0.0) / max(calls.get(s, 1), 1) * 1000:.1f} ms"
                          for s in STEPS)
        print(f"  daemon {i} (pid {w['pid']}): {w['runs']:,} runs, active {w['active']:.1f} s, CPU {w['cpu']:.1f} s")
        print(f"    claiming and fencing: {w['fence_seconds']:.2f} s = {100 * w['fence_seconds'] / active:.2f} % "
              f"of its active time ({parts})")
        print(f"    mark_step as a whole {sec.get('mark_step (whole)', 0.0):.2f} s; per step: {steps}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 runs: a smoke run of the check")
    ap.add_argument("--runs", type=int, help="runs per side (default 10,000; 20 with --quick)")
    ap.add_argument("--daemons", type=int, default=2, help="daemons of the scaled side (default 2)")
    ap.add_argument("--order", default=None, help="the sides in order, e.g. 2,1,1,2 (default: k then 1); the "
                    "rates of one daemon count are pooled over its sides")
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="seconds a side may take")
    ap.add_argument("--json", type=Path, help="write the figures as JSON here")
    ap.add_argument("--keep", type=Path, help="build the worlds here and keep them (default: a temporary folder)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
        return worker(args.worker, rest)
    n = args.runs or (20 if args.quick else 10_000)
    pki_port, smtp_port = PORTS["quick" if args.quick else "full"]
    order = [int(x) for x in args.order.split(",")] if args.order else [args.daemons, 1]

    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from demo.pki import OfficerCert, PKIServer, create_pki
    from robots.config import load_config

    tmp = Path(tempfile.mkdtemp(prefix="bench_scaleout_", dir=args.keep)) if args.keep else \
        Path(tempfile.mkdtemp(prefix="bench_scaleout_"))
    schemas: list[str] = []
    try:
        config = load_config(ROOT / "schedules.yaml")
        officers = [OfficerCert(oid, o.name, o.position) for oid, o in config.settings.officers.items()]
        now = datetime.now(UTC)
        as_of = now.astimezone(TZ).date()
        t0 = time.perf_counter()
        pki = create_pki(tmp / "pki", officers, now=now - timedelta(days=1), port=pki_port)
        print(f"PKI generated in {time.perf_counter() - t0:.1f} s; its services and the SMTP sink run in this "
              f"process; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        sink = Sink(smtp_port)
        sink.controller.start()
        sides: list[dict[str, Any]] = []
        with PKIServer(pki):
            try:
                for j, k in enumerate(order):
                    schema = f"arbots_bench_scaleout_{uuid.uuid4().hex[:10]}"
                    _create_schema(schema)
                    schemas.append(schema)
                    cfg = make_world(tmp / f"side-{j}-{k}", pki, smtp_port, n, as_of)
                    t0 = time.perf_counter()
                    ready = prepare(cfg, schema, as_of, now)
                    print(f"side {j + 1} ({k} daemon{'s' if k > 1 else ''}): {ready:,} runs ready in schema {schema} "
                          f"(sync + evaluate, not timed: {time.perf_counter() - t0:.1f} s); "
                          f"load average {os.getloadavg()[0]:.2f}")
                    if ready != n:
                        raise RuntimeError(f"{ready} runs ready, expected {n}")
                    side = run_side(k, cfg, schema, n, sink, args.timeout)
                    side["load_after"] = os.getloadavg()
                    report(side)
                    sides.append(side)
            finally:
                sink.controller.stop()
    finally:
        for schema in schemas:
            _drop_schema(schema)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    problems = [f"{s['daemons']} daemon(s): {p}" for s in sides for p in s["problems"]]
    ks = sorted({s["daemons"] for s in sides})
    # Each daemon count over all its sides: runs over the sum of the walls (sides of one count alternate with the
    # other's, e.g. 2,1,1,2, so a change in the machine's load falls on both).
    rate = {k: sum(s["runs"] for s in sides if s["daemons"] == k) / sum(s["wall"] for s in sides if s["daemons"] == k)
            for k in ks}
    ratio = rate[ks[-1]] / rate[1] if 1 in rate and len(ks) > 1 else None
    print()
    if ratio is not None:
        k = ks[-1]
        if len(sides) > 2:
            print("sides in order: " + ", ".join(f"{s['daemons']}: {s['rate']:.2f} runs/s" for s in sides))

        def share(kk: int) -> float:
            ws = [w for s in sides if s["daemons"] == kk for w in s["workers"]]
            return sum(w["fence_seconds"] for w in ws) / max(sum(w["active"] for w in ws), 1e-9)

        print(f"ratio {k} daemons / 1 = {ratio:.2f} (runs/s {rate[k]:.2f} against {rate[1]:.2f}; "
              f"target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})")
        print(f"claiming and fencing: {100 * share(k):.2f} % of the daemons' active time with {k} daemons, "
              f"{100 * share(1):.2f} % with 1")
    if args.json:
        args.json.write_text(json.dumps({"sides": sides, "ratio": ratio}, indent=1, default=str), encoding="utf-8")
    if problems:
        print("CHECK FAILED: " + "; ".join(problems))
        return 1
    print(f"check: every run done, exactly one message per run at the sink, {sum(s['messages'] for s in sides):,} "
          f"unique Message-IDs over {len(sides)} sides of {n:,} runs")
    if not args.quick and ratio is not None and ratio < TARGET:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
