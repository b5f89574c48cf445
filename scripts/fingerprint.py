#!/usr/bin/env python3
"""Print what the robots produce on the demo, with the parts that depend on the wall clock masked.

Two commits whose fingerprints are identical behave the same on the demo: the same printed summary, the same
archive paths, the same rendered documents (byte for byte, before signing: renders are deterministic), the same
sidecars and delivery receipts (signature times, certificate serials and validity, and the hashes of the signed
bytes masked), the same BI tables and the same ``plan`` of the 30 days after the demo.

    .venv/bin/python scripts/fingerprint.py --days 60 > before.txt     # at one commit
    .venv/bin/python scripts/fingerprint.py --days 60 > after.txt      # at another
    diff before.txt after.txt && echo identical

It uses the command line (``run_robots.py demo`` and ``plan``) and reads the results with the standard library
(sqlite3, json, csv), so the same script runs at any commit of the redesign. ``--keep DIR`` keeps the workdir.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO_START = date(2026, 1, 12)
#: Instants of the wall clock (runs, signatures, deliveries, syncs): they differ from one run to the next.
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(\+00:00|Z| UTC)?")
#: Hashes of signed bytes (64 hex digits) and certificate serials (40): both differ from one run to the next.
HEX = re.compile(r"\b(?:[0-9a-f]{64}|[0-9A-F]{30,40})\b")  # a serial with leading zeros prints shorter
#: Keys whose values come from the signature (its time, the certificate made by this run's PKI, the signed bytes).
MASKED_KEYS = {"created_at", "signed_at", "sent_at", "valid_from", "valid_to", "certificate_serial", "bytes",
               "sha256", "document_sha256", "timestamp", "updated_at"}


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def mask_text(text: str, workdir: Path) -> str:
    return INSTANT.sub("<instant>", text.replace(str(workdir), "<workdir>"))


def mask_json(value):
    if isinstance(value, dict):
        return {k: ("<masked>" if k in MASKED_KEYS and v is not None else mask_json(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    if isinstance(value, str):
        return INSTANT.sub("<instant>", value)
    return value


def section(title: str) -> None:
    print(f"\n== {title}")


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"fingerprint: {' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def demo_ledger_csv(days: int, last_day: date, folder: Path) -> None:
    """The demo's ledger as of its last day, as the CSV files a file connector reads."""
    sys.path.insert(0, str(REPO))
    try:
        from demo.ledger import generate_demo_ledger, ledger_as_of
    except ImportError:  # before the redesign
        from connectors.demo_ledger import generate_demo_ledger, ledger_as_of
    try:
        from connectors.files.ledger_csv import write_ledger_csv
    except ImportError:  # before the redesign
        from connectors.files import write_ledger_csv

    ledger = generate_demo_ledger(seed=7, start=DEMO_START, days=days, discounts=True)
    write_ledger_csv(ledger_as_of(ledger, last_day), folder)


def plan_config(workdir: Path) -> Path:
    """The demo's config with its REST connector swapped for the CSV files of :func:`demo_ledger_csv`."""
    text = (workdir / "schedules.yaml").read_text(encoding="utf-8")
    text, n = re.subn(r"(?ms)^connectors:\n.*?(?=^\S)",
                      "connectors:\n  - {id: erp, kind: file, path: var/plan-ledger,"
                      " write_back: {journal: var/plan-blocks.csv}}\n\n", text, count=1)
    if n != 1:
        sys.exit("fingerprint: no connectors: section in the demo's schedules.yaml")
    path = workdir / "plan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60, help="simulated days of the demo (default 60)")
    parser.add_argument("--keep", type=Path, help="run the demo in this (new) folder and keep it")
    parser.add_argument("--reuse", type=Path, help="fingerprint this kept demo folder instead of running the demo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arbots-fingerprint-") as tmp:
        workdir = (args.reuse or args.keep or Path(tmp) / "demo").resolve()
        py = sys.executable
        if args.reuse:
            out = (workdir / "demo-output.txt").read_text(encoding="utf-8")
        else:
            out = run([py, "run_robots.py", "demo", "--workdir", str(workdir), "--days", str(args.days)])
            (workdir / "demo-output.txt").write_text(out, encoding="utf-8")
        section("demo summary")
        print(mask_text(out, workdir).rstrip())

        var = workdir / "var"
        archive = var / "archive"
        files = sorted(p for p in archive.rglob("*") if p.is_file())
        section(f"archive paths ({len(files)})")
        for p in files:
            print(p.relative_to(archive))

        section("rendered documents before signing (sha256 of each render step's PDF)")
        db = sqlite3.connect(var / "arbots.db")
        rows = db.execute("select r.run_key, s.idx, s.output from run_steps s join runs r on r.id = s.run_id "
                          "where s.kind = 'render' order by r.run_key, s.idx").fetchall()
        for key, idx, output in rows:
            doc = json.loads(output) if output else {}
            print(f"{key} step {idx}: {doc.get('sha256')}")
        section("work folder renders (sha256 of each unsigned PDF)")
        work = var / "work"
        for p in sorted(work.rglob("*.pdf")):
            if not p.name.endswith(".signed.pdf"):
                print(f"{p.relative_to(work)}: {sha(p.read_bytes())}")

        sidecars = [p for p in files if p.suffix == ".json"]
        section(f"sidecars and delivery receipts, masked ({len(sidecars)})")
        for p in sidecars:
            masked = json.dumps(mask_json(json.loads(p.read_text(encoding="utf-8"))), sort_keys=True,
                                ensure_ascii=False)
            print(f"{p.relative_to(archive)}: {sha(masked)}")

        section("BI export tables, masked (rows, sha256)")
        for p in sorted((var / "bi" / "csv").glob("*.csv")):
            with p.open(encoding="utf-8-sig", newline="") as f:
                table = [[HEX.sub("<hex>", INSTANT.sub("<instant>", cell)) for cell in row] for row in csv.reader(f)]
            print(f"{p.name}: {len(table) - 1} rows, {sha(json.dumps(table, ensure_ascii=False))}")

        section("plan of the 30 days after the demo, on the demo ledger")
        last = db.execute("select max(as_of) from evaluations").fetchone()[0]
        db.close()
        last_day = date.fromisoformat(str(last)[:10])
        demo_ledger_csv(args.days, last_day, var / "plan-ledger")
        config = plan_config(workdir)
        out = run([py, "run_robots.py", "--config", str(config), "plan",
                   "--as-of", (last_day + timedelta(days=1)).isoformat(), "--days", "30"])
        print(mask_text(out, workdir).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
