"""Signing benchmark: the robots' render + PAdES signature (``signing.service.SigningService``) against stock
pyHanko used the documented way, on the same letters, in the same run.

    .venv/bin/python bench/sign_bench.py                  # full run, a few minutes (make bench)
    .venv/bin/python bench/sign_bench.py --quick          # a smoke run, under a minute

What it measures (bench/README.md, section "Signing benchmark", explains the figures):

1. render + sign B-B in one process: ours (TemplateRenderer, render_letter with the stamp room, SigningService.sign
   with the visible stamp) against the same render followed by stock pyHanko (SimpleSigner.load_pkcs12 and
   sign_pdf per document, the stamp a TextStampStyle in Noto Sans Mono); also ours signing pre-rendered letters,
   and stock without a visible stamp;
2. ours on a process pool of 2 workers against 1 worker, same documents, start-up excluded;
3. B-T with a local TSA (demo.pki.PKIServer in its own process): ours against stock with an HTTPTimeStamper;
4. RSS of one process signing --memory-docs documents B-B with one SigningService, sampled every 10 %.

The letters are bench/letters.py's, with the template context the runner gives. A throwaway PKI
(demo.pki.create_pki) is generated in a temporary folder for every run. Each side runs in its own spawned
subprocess, so no side inherits another's caches or heap.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import json
import logging
import multiprocessing
import os
import platform
import socket
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from letters import OFFICER_ID, OFFICER_NAME, OFFICER_POSITION, Letters, make_letters, warmup_letters  # noqa: E402

NOTO_MONO = "/usr/share/fonts/truetype/noto/NotoSansMono-Regular.ttf"
STOCK_FIELD = "Signature1"
#: Targets of the issue.
TARGET_BB_RATIO = 5.0
TARGET_SCALING = 1.7
TARGET_MEMORY_GROWTH = 0.10  # or TARGET_MEMORY_MB, whichever is larger
TARGET_MEMORY_MB = 20.0


def _quiet() -> None:
    """The service logs with structlog (to stdout by default): keep only warnings, so the table stays readable."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


# ------------------------------------------------------------------------------------------------- the two sides


def _service(env: dict[str, Any], tsa: bool = False):
    from signing.config import OfficerConfig, SigningConfig, TimestampConfig
    from signing.service import SigningService

    settings = SigningConfig(trust_roots=(Path(env["root_pem"]),),
                             timestamp=TimestampConfig(url=env["tsa_url"]) if tsa else None)
    officers = {OFFICER_ID: OfficerConfig(name=OFFICER_NAME, position=OFFICER_POSITION,
                                          pkcs12={"path": env["p12"], "password_file": env["password_file"]})}
    return SigningService(settings, officers, Path(env["folder"]))


class Ours:
    """SigningService as the sign step uses it: choose (cached per officer and tick), then sign with the stamp."""

    def __init__(self, env: dict[str, Any], tsa: bool = False):
        from robots.core.domain import PadesLevel

        self.svc = _service(env, tsa)
        self.at = env["at"]
        self.level = PadesLevel.B_T if tsa else PadesLevel.B_B

    def sign(self, rendered, title: str) -> bytes:
        choice = self.svc.choose(OFFICER_ID, self.at)
        signed, _ = self.svc.sign(rendered.data, choice, at=self.at, level=self.level, reason=title,
                                  stamp_page=rendered.stamp_page, stamp_box=rendered.stamp_box)
        return signed

    def close(self) -> None:
        self.svc.close()


class Stock:
    """pyHanko as its documentation shows it: load the PKCS#12 and sign, per document; a text stamp in Noto."""

    def __init__(self, env: dict[str, Any], stamp: bool = True, tsa: bool = False):
        from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
        from pyhanko.pdf_utils.text import TextBoxStyle
        from pyhanko.stamp import TextStampStyle

        from signing.certs import CertInfo
        from signing.stamp import HEADING, StampText

        self.p12 = env["p12"]
        self.password = Path(env["password_file"]).read_bytes()
        self.tsa_url = env["tsa_url"] if tsa else None
        self.style = None
        if stamp:
            from pyhanko.keys import load_cert_from_pemder

            info = CertInfo.of(load_cert_from_pemder(env["cert_pem"]))
            lines = StampText(owner=OFFICER_NAME, position=OFFICER_POSITION, serial=info.serial,
                              valid_from=f"{info.not_before:%d.%m.%Y}", valid_to=f"{info.not_after:%d.%m.%Y}").lines()
            self.style = TextStampStyle(
                stamp_text="\n".join([*HEADING, *lines]), border_width=1,
                text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(NOTO_MONO, font_size=7), font_size=7))

    def sign(self, rendered, title: str) -> bytes:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers
        from pyhanko.sign.timestamps import HTTPTimeStamper

        signer = signers.SimpleSigner.load_pkcs12(self.p12, passphrase=self.password)
        if signer is None:  # it logs and returns None on a bad file or password
            raise RuntimeError(f"SimpleSigner.load_pkcs12 could not open {self.p12}")
        writer = IncrementalPdfFileWriter(io.BytesIO(rendered.data))
        meta = signers.PdfSignatureMetadata(field_name=STOCK_FIELD, subfilter=fields.SigSeedSubFilter.PADES,
                                            md_algorithm="sha256", reason=title)
        timestamper = HTTPTimeStamper(self.tsa_url) if self.tsa_url else None
        if self.style is None:
            out = signers.sign_pdf(writer, meta, signer=signer, timestamper=timestamper)
        else:
            spec = fields.SigFieldSpec(STOCK_FIELD, on_page=rendered.stamp_page - 1,
                                       box=tuple(int(v) for v in rendered.stamp_box))
            out = signers.PdfSigner(meta, signer, timestamper=timestamper, stamp_style=self.style,
                                    new_field_spec=spec).sign_pdf(writer)
        return out.getvalue()

    def close(self) -> None:
        pass


def _check_signed(pdf: bytes, field: str, root_pem: str, tsa: bool) -> None:
    """Once per side, outside the clock: one signature, in the expected field, that pyHanko validates (intact,
    valid, chained to the test root, with a timestamp at B-T). The revocation check is not part of it."""
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    sigs = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(sigs) == 1 and sigs[0].field_name == field, f"expected one signature in {field}, got {sigs}"
    vc = ValidationContext(trust_roots=[load_cert_from_pemder(root_pem)], allow_fetching=False)
    status = validate_pdf_signature(sigs[0], vc, ts_validation_context=vc)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert (status.timestamp_validity is not None) == tsa, "B-T needs a timestamp, B-B has none"


# ------------------------------------------------------------------------------------------------- sides, one process


def side_render_sign(env: dict[str, Any], kind: str, n: int, tsa: bool = False,
                     pre_rendered: bool = False) -> dict[str, Any]:
    """One side in its own process: ``n`` letters, rendered then signed one after the other (or signing
    pre-rendered letters). Returns throughput and the render / sign split."""
    _quiet()
    from signing.service import FIELD_NAME

    letters = Letters()
    side = {"ours": lambda: Ours(env, tsa), "stock": lambda: Stock(env, True, tsa),
            "stock_nostamp": lambda: Stock(env, False, tsa)}[kind]()
    field = FIELD_NAME if kind == "ours" else STOCK_FIELD
    warmup = env["warmup"]
    for letter in warmup:  # other letters, not timed
        signed = side.sign(letters.render(letter), letter.title)
        _check_signed(signed, field, env["root_pem"], tsa)
    todo = env["letters"][:n]
    pre = [letters.render(x) for x in todo] if pre_rendered else None
    gc.collect()
    render_s = sign_s = 0.0
    size = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for i, letter in enumerate(todo):
        a = time.perf_counter()
        rendered = pre[i] if pre is not None else letters.render(letter)
        b = time.perf_counter()
        signed = side.sign(rendered, letter.title)
        c = time.perf_counter()
        render_s += b - a
        sign_s += c - b
        size += len(signed)
    total = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    side.close()
    return {"kind": kind, "tsa": tsa, "pre_rendered": pre_rendered, "docs": n, "warmup": len(warmup),
            "checked": len(warmup), "seconds": total, "cpu_s": cpu,
            "docs_per_s": n / total, "render_s": render_s, "sign_s": sign_s, "ms_per_render": 1000 * render_s / n,
            "ms_per_sign": 1000 * sign_s / n, "mean_signed_kb": size / n / 1024}


def side_memory(env: dict[str, Any], docs: int, distinct: int, samples: int) -> dict[str, Any]:
    """One SigningService signing ``docs`` documents B-B (``distinct`` pre-rendered letters, cycled); VmRSS sampled
    after every ``docs // samples`` documents."""
    _quiet()
    letters = Letters()
    ours = Ours(env)
    pre = [(letters.render(x), x.title) for x in env["letters"][:distinct]]
    ours.sign(*pre[0])
    every = max(1, docs // samples)
    rss = [(0, _rss_mb())]
    digest = hashlib.sha256()
    t0 = time.perf_counter()
    for i in range(1, docs + 1):
        rendered, title = pre[i % distinct]
        signed = ours.sign(rendered, title)
        digest.update(signed[-64:])
        if i % every == 0 or i == docs:
            rss.append((i, _rss_mb()))
    total = time.perf_counter() - t0
    ours.close()
    return {"docs": docs, "distinct_letters": distinct, "seconds": total, "docs_per_s": docs / total,
            "rss_mb": rss, "peak_rss_mb": _peak_rss_mb()}


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_subprocess(fn, *args) -> Any:
    """Run ``fn`` in a fresh spawned interpreter, so its time and memory are its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# ------------------------------------------------------------------------------------------------- the pool

_worker: dict[str, Any] = {}


def _pool_init(env: dict[str, Any], n: int, barrier) -> None:
    """A worker's start-up, outside the clock: its own SigningService, the letters, a warm-up signature."""
    _quiet()
    letters = Letters()
    ours = Ours(env)
    for letter in env["warmup"]:
        ours.sign(letters.render(letter), letter.title)
    _worker.update(letters=letters, ours=ours, todo=env["letters"][:n])
    barrier.wait(timeout=600)  # the parent starts its clock when every worker is ready


def _pool_task(i: int) -> tuple[int, float, float, int, float]:
    letter = _worker["todo"][i]
    a = time.perf_counter()  # CLOCK_MONOTONIC: comparable across the processes of one machine
    cpu = time.process_time()
    signed = _worker["ours"].sign(_worker["letters"].render(letter), letter.title)
    return os.getpid(), a, time.perf_counter(), len(signed), time.process_time() - cpu


def run_pool(env: dict[str, Any], workers: int, n: int) -> dict[str, Any]:
    """Render + sign B-B of letters 0..n-1 on ``workers`` spawned processes, each with its own SigningService."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    with ctx.Pool(workers, initializer=_pool_init, initargs=(env, n, barrier)) as pool:
        barrier.wait(timeout=600)
        busy0 = _busy_cpu_s()
        t0 = time.perf_counter()
        done = pool.map(_pool_task, range(n), chunksize=2)
        wall = time.perf_counter() - t0
        busy = _busy_cpu_s() - busy0
    first, last = min(d[1] for d in done), max(d[2] for d in done)
    per_worker: dict[int, int] = {}
    for pid, *_ in done:
        per_worker[pid] = per_worker.get(pid, 0) + 1
    return {"workers": workers, "docs": n, "seconds": wall, "docs_per_s": n / wall,
            "ms_per_doc": 1000 * sum(d[2] - d[1] for d in done) / n,
            "cpu_ms_per_doc": 1000 * sum(d[4] for d in done) / n,
            # CPU the rest of the machine used meanwhile, in cores: other engineers' test suites show up here
            "other_load_cores": max(0.0, busy - sum(d[4] for d in done)) / wall,
            "inner_seconds": last - first, "inner_docs_per_s": n / (last - first),
            "docs_per_worker": sorted(per_worker.values())}


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (not idle or waiting for I/O) since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------- the PKI


def _serve_pki(folder: str, stop) -> None:
    """The PKI's TSA, OCSP and CRLs (certomancer on werkzeug) in a process of their own."""
    _quiet()
    from demo.pki import PKIServer, load_pki

    with PKIServer(load_pki(Path(folder))):
        stop.wait()


def _wait_port(port: int, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.is_alive():
            raise RuntimeError(f"the PKI server process exited ({proc.exitcode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the PKI server did not listen on 127.0.0.1:{port} within {timeout} s")


# ------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=200, help="letters per side, render + sign B-B (default 200)")
    ap.add_argument("--pool-docs", type=int, default=600, help="letters for the 1 vs 2 processes run (default 600)")
    ap.add_argument("--workers", type=int, default=2, help="processes of the scaling run (default 2)")
    ap.add_argument("--bt-docs", type=int, default=100, help="letters per side at B-T (default 100)")
    ap.add_argument("--memory-docs", type=int, default=10_000, help="documents for the memory run (default 10000)")
    ap.add_argument("--memory-letters", type=int, default=50, help="distinct letters cycled in the memory run")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per side (turns alternate), best shown")
    ap.add_argument("--only", default="", help="comma-separated parts to run: bb,pool,bt,memory (default all)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 8 / 16 / 4 / 100 documents")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.docs, args.pool_docs, args.bt_docs, args.memory_docs, args.memory_letters = 8, 16, 4, 100, 8
    parts = {p for p in args.only.split(",") if p} or {"bb", "pool", "bt", "memory"}
    if parts - {"bb", "pool", "bt", "memory"}:
        ap.error(f"unknown part(s) in --only: {sorted(parts - {'bb', 'pool', 'bt', 'memory'})}")
    _quiet()

    import importlib.metadata as md

    versions = {"python": platform.python_version(), "pyhanko": md.version("pyhanko"),
                "cryptography": md.version("cryptography"), "reportlab": md.version("reportlab"),
                "certomancer": md.version("certomancer"), "cpus": os.cpu_count()}
    print("Python {python}, pyHanko {pyhanko}, cryptography {cryptography}, reportlab {reportlab}, "
          "certomancer {certomancer}; {cpus} CPUs".format(**versions))

    from demo.pki import OfficerCert, create_pki, free_port

    results: dict[str, Any] = {"versions": versions, "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="sign_bench_") as tmp:
        t = time.perf_counter()
        pki = create_pki(Path(tmp) / "pki", [OfficerCert(OFFICER_ID, OFFICER_NAME, OFFICER_POSITION)],
                         now=datetime.now(UTC), port=free_port())
        print(f"test PKI generated in {time.perf_counter() - t:.1f} s; its TSA/OCSP/CRL server runs in its own process")
        env = {"folder": str(pki.folder), "p12": str(pki.p12[OFFICER_ID]), "password_file": str(pki.password_file),
               "root_pem": str(pki.root_pem), "cert_pem": str(pki.cert_pem[OFFICER_ID]), "tsa_url": pki.tsa_url,
               # one tick: the runner signs every run of a pass with the same `now`
               "at": datetime.now(UTC).replace(microsecond=0),
               # the same letters for every side, built once (letters.py): the warm-up ones, then the timed ones
               "warmup": warmup_letters(),
               "letters": make_letters(0, max(args.docs, args.pool_docs, args.bt_docs, args.memory_letters))}
        mp = multiprocessing.get_context("spawn")
        stop = mp.Event()
        server = mp.Process(target=_serve_pki, args=(str(pki.folder), stop), name="pki-server", daemon=True)
        server.start()
        try:
            _wait_port(pki.port, server)
            if "bb" in parts:
                results["bb"] = _run_sides(args.repeat, [
                    ("ours", (env, "ours", args.docs)),
                    ("stock", (env, "stock", args.docs)),
                    ("stock_nostamp", (env, "stock_nostamp", args.docs)),
                    ("ours_sign_only", (env, "ours", args.docs, False, True)),
                ], "render + sign B-B", server.pid)
            if "pool" in parts:
                results["pool"] = _run_pool(env, args)
            if "bt" in parts:
                results["bt"] = _run_sides(args.repeat, [
                    ("ours", (env, "ours", args.bt_docs, True, True)),
                    ("stock", (env, "stock", args.bt_docs, True, True)),
                ], "sign B-T (pre-rendered letters, local TSA)", server.pid)
            if "memory" in parts:
                print(f"\n  memory: signing {args.memory_docs:,} documents B-B in one process ...", flush=True)
                results["memory"] = _in_subprocess(side_memory, env, args.memory_docs, args.memory_letters, 10)
        finally:
            stop.set()
            server.join(timeout=15)
            if server.is_alive():
                server.terminate()
    report = _report(results)
    results["report"] = report
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


def _run_sides(repeat: int, sides: list[tuple[str, tuple]], what: str, server_pid: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in sides}
    for r in range(repeat):
        for name, fargs in sides if r % 2 == 0 else list(reversed(sides)):
            print(f"  {what}: {name}, run {r + 1}/{repeat} ({fargs[2]} letters) ...", flush=True)
            before = _process_cpu_s(server_pid)
            res = _in_subprocess(side_render_sign, *fargs)
            # the PKI server's CPU for the whole side (warm-up, certificate check and timed documents)
            res["server_cpu_ms_per_doc"] = 1000 * (_process_cpu_s(server_pid) - before) / (fargs[2] + res["warmup"])
            runs[name].append(res)
    return {"runs": runs, "best": {name: max(rs, key=lambda x: x["docs_per_s"]) for name, rs in runs.items()}}


def _run_pool(env: dict[str, Any], args) -> dict[str, Any]:
    runs: dict[int, list[dict[str, Any]]] = {1: [], args.workers: []}
    order = [1, args.workers]
    for r in range(args.repeat):
        for w in order if r % 2 == 0 else list(reversed(order)):
            print(f"  pool: {w} worker(s), run {r + 1}/{args.repeat} ({args.pool_docs} letters) ...", flush=True)
            runs[w].append(run_pool(env, w, args.pool_docs))
    return {"runs": {str(k): v for k, v in runs.items()},
            "best": {str(k): max(v, key=lambda x: x["docs_per_s"]) for k, v in runs.items()}}


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _report(results: dict[str, Any]) -> dict[str, Any]:
    rep: dict[str, Any] = {}
    checked = [r for part in ("bb", "bt") if part in results for runs in results[part]["runs"].values() for r in runs]
    if checked:  # a signature that does not validate stops its side's process (an AssertionError), so none here
        print(f"\ncheck: pyHanko validated {sum(r['checked'] for r in checked)} signed letters of {len(checked)} side "
              "runs, one per template each (intact, valid, trusted to the test root, timestamped at B-T only)")
    if "bb" in results:
        b = results["bb"]["best"]
        ratio = b["ours"]["docs_per_s"] / b["stock"]["docs_per_s"]
        rep["bb_ratio"] = ratio
        rep["bb_ratio_nostamp"] = b["ours"]["docs_per_s"] / b["stock_nostamp"]["docs_per_s"]
        print(f"\n1. render + sign B-B, one process ({b['ours']['docs']} letters per side, best of "
              f"{len(results['bb']['runs']['ours'])})")
        print(f"  {'side':<44} {'docs/s':>8} {'ms render':>10} {'ms sign':>8} {'CPU %':>6} {'KB out':>7} "
              f"{'vs stock':>9}")
        labels = {"ours": "ours: render + SigningService.sign, stamp",
                  "stock": "stock: render + load_pkcs12 + sign_pdf, stamp",
                  "stock_nostamp": "stock, no visible stamp",
                  "ours_sign_only": "ours, sign only (pre-rendered letters)"}
        for name, label in labels.items():
            s = b[name]
            render = "-" if s["pre_rendered"] else f"{s['ms_per_render']:.1f}"
            print(f"  {label:<44} {s['docs_per_s']:>8.1f} {render:>10} {s['ms_per_sign']:>8.1f} "
                  f"{100 * s['cpu_s'] / s['seconds']:>6.0f} {s['mean_signed_kb']:>7.1f} "
                  f"{s['docs_per_s'] / b['stock']['docs_per_s']:>9.2f}")
        print(f"  ours / stock = {ratio:.2f}x (target >= {TARGET_BB_RATIO:g}x: {_met(ratio >= TARGET_BB_RATIO)}); "
              f"ours / stock without a stamp = {rep['bb_ratio_nostamp']:.2f}x")
    if "pool" in results:
        p = results["pool"]["best"]
        w = max(int(k) for k in p)
        one, many = p["1"], p[str(w)]
        ratio = many["docs_per_s"] / one["docs_per_s"]
        inner = many["inner_docs_per_s"] / one["inner_docs_per_s"]
        rep["pool_ratio"], rep["pool_ratio_inner"] = ratio, inner
        print(f"\n2. render + sign B-B on a process pool ({one['docs']} letters, worker start-up excluded)")
        print(f"  {'workers':>8} {'docs/s':>8} {'seconds':>8} {'docs/s first→last':>18} {'wall ms/doc':>12} "
              f"{'CPU ms/doc':>11} {'other load':>11} {'docs per worker':>16}")
        for s in (one, many):
            print(f"  {s['workers']:>8} {s['docs_per_s']:>8.1f} {s['seconds']:>8.2f} {s['inner_docs_per_s']:>18.1f} "
                  f"{s['ms_per_doc']:>12.1f} {s['cpu_ms_per_doc']:>11.1f} {s['other_load_cores']:>11.2f} "
                  f"{'/'.join(map(str, s['docs_per_worker'])):>16}")
        print("  (wall and CPU ms per doc inside the workers; other load: cores the rest of the machine kept busy "
              "meanwhile)")
        print(f"  {w} / 1 workers = {ratio:.2f}x (first→last doc: {inner:.2f}x; target >= {TARGET_SCALING:g}x: "
              f"{_met(ratio >= TARGET_SCALING)})")
    if "bt" in results:
        b = results["bt"]["best"]
        ratio = b["ours"]["docs_per_s"] / b["stock"]["docs_per_s"]
        rep["bt_ratio"] = ratio
        rep["bt_docs_per_s"] = {k: v["docs_per_s"] for k, v in b.items()}
        print(f"\n3. sign B-T with the local TSA (its own process), pre-rendered letters "
              f"({b['ours']['docs']} per side)")
        print(f"  {'side':<44} {'docs/s':>8} {'ms sign':>8} {'CPU ms':>7} {'TSA CPU ms':>11} {'KB out':>7}")
        for name, label in (("ours", "ours: SigningService.sign B-T, stamp"),
                            ("stock", "stock: load_pkcs12 + HTTPTimeStamper, stamp")):
            s = b[name]
            print(f"  {label:<44} {s['docs_per_s']:>8.1f} {s['ms_per_sign']:>8.1f} "
                  f"{1000 * s['cpu_s'] / s['docs']:>7.1f} {s['server_cpu_ms_per_doc']:>11.1f} "
                  f"{s['mean_signed_kb']:>7.1f}")
        print("  (per document: CPU of the signing process; TSA CPU: the PKI server process, whose werkzeug and "
              "certomancer share its GIL)")
        print(f"  ours / stock = {ratio:.2f}x")
    if "memory" in results:
        m = results["memory"]
        samples = dict(m["rss_mb"])
        first_mark = min(k for k in samples if k > 0)
        after_first, after_last = samples[first_mark], samples[m["docs"]]
        growth = after_last - after_first
        flat = growth < max(TARGET_MEMORY_MB, TARGET_MEMORY_GROWTH * after_first)
        rep.update(rss_first_mb=after_first, rss_last_mb=after_last, rss_growth_mb=growth, rss_flat=flat)
        print(f"\n4. memory: one SigningService, {m['docs']:,} documents B-B ({m['distinct_letters']} letters cycled), "
              f"{m['docs_per_s']:.1f} docs/s")
        print("  " + ", ".join(f"{k:,}: {v:.1f}" for k, v in m["rss_mb"]) + "  (documents: VmRSS MB)")
        print(f"  after {first_mark:,}: {after_first:.1f} MB, after {m['docs']:,}: {after_last:.1f} MB, growth "
              f"{growth:+.1f} MB ({100 * growth / after_first:+.1f} %), peak {m['peak_rss_mb']:.1f} MB; flat "
              f"(< {TARGET_MEMORY_GROWTH:.0%} or < {TARGET_MEMORY_MB:g} MB): {_met(flat)}")
    return rep


if __name__ == "__main__":
    sys.exit(main())
