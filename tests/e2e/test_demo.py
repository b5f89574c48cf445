"""The demo: a generated ledger, simulated day by day, rerunnable without duplicates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC

import pytest

from demo.pki import free_port
from tests.worlds import DEMO_PKI_ADDRESS, REPO

#: Where the repository's schedules.yaml expects the demo accounting system; tests move it to a free port.
DEMO_ERP_ADDRESS = "127.0.0.1:8780"

pytestmark = pytest.mark.slow


def _demo_workdir(tmp_path):
    """The demo's own workdir, prepared as the demo would, but with its PKI services on a free port."""
    work = tmp_path / "demo"
    work.mkdir()
    shutil.copytree(REPO / "scenarios", work / "scenarios")
    text = (REPO / "schedules.yaml").read_text(encoding="utf-8")
    assert DEMO_ERP_ADDRESS in text, "schedules.yaml no longer names the demo accounting system's address"
    text = text.replace(DEMO_PKI_ADDRESS, f"127.0.0.1:{free_port()}").replace(DEMO_ERP_ADDRESS,
                                                                              f"127.0.0.1:{free_port()}")
    (work / "schedules.yaml").write_text(text, encoding="utf-8")
    return work


def test_the_demo_simulates_days_leaves_everything_in_its_workdir_and_reruns_without_duplicates(tmp_path):
    work = _demo_workdir(tmp_path)
    cmd = [sys.executable, str(REPO / "run_robots.py"), "demo", "--workdir", str(work), "--days", "14"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "Simulated 2026-01-12 .. 2026-01-25 (14 ticks)" in first.stdout
    assert "Crossings per column" in first.stdout and "Open receivables:" in first.stdout
    for produced in ("schedules.yaml", "scenarios/payment_request.yaml", "var/arbots.db", "var/erp-password"):
        assert (work / produced).exists(), produced
    assert (work / "var" / "erp-password").stat().st_mode & 0o077 == 0  # the demo ERP's password: owner only
    assert not (work / "var" / "ledger").exists()  # the ledger came over the demo accounting system's API
    password = (work / "var" / "erp-password").read_text(encoding="utf-8").strip()
    assert len(password) >= 16 and password not in first.stdout + first.stderr
    pdfs = sorted((work / "var" / "archive").rglob("*.pdf"))
    assert len(pdfs) > 20
    sidecar = json.loads(pdfs[0].with_name(pdfs[0].name + ".json").read_text(encoding="utf-8"))
    assert sidecar["invoices"] and sidecar["counterparty"]["name"]
    # every document came out signed, at the level its officer has, and validates against the demo root
    levels = {}
    for pdf in pdfs:
        meta = json.loads(pdf.with_name(pdf.name + ".json").read_text(encoding="utf-8"))
        assert meta["signature"] is not None, pdf
        levels[meta["signature"]["officer"]] = meta["signature"]["level"]
    assert levels == {"chief_accountant": "B-T", "head_of_sales": "B-T", "head_of_legal": "B-LTA"}
    verify = subprocess.run([sys.executable, str(REPO / "run_robots.py"), "--config", str(work / "schedules.yaml"),
                             "verify", "--offline", "--json", *map(str, pdfs)], capture_output=True, text=True,
                            timeout=600)
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr
    reports = json.loads(verify.stdout)
    assert len(reports) == len(pdfs) and all(r["ok"] for r in reports)
    assert {s["level"] for r in reports for s in r["signatures"] if s["kind"] == "signature"} == {"B-T", "B-LTA"}

    # the demo ends by checking its whole archive and writing the report and the BI export
    checked = next(line for line in first.stdout.splitlines() if line.startswith("Archive check:"))
    assert checked.endswith(": OK") and f"{len(pdfs)} signatures" in checked
    bags = sorted(p.parent for p in (work / "var" / "archive").rglob("bagit.txt"))
    assert bags and all(any(b in pdf.parents for b in bags) for pdf in pdfs)
    assert (work / "var" / "report.pdf").read_bytes().startswith(b"%PDF")
    assert (work / "var" / "bi" / "README.md").is_file()

    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "(1 ticks)" in second.stdout  # it re-ticked the last day only
    assert sorted((work / "var" / "archive").rglob("*.pdf")) == pdfs
    documents = [line for line in first.stdout.splitlines() if line.startswith("Documents archived")]
    assert documents and documents == [line for line in second.stdout.splitlines()
                                       if line.startswith("Documents archived")]


def test_a_demo_workdir_from_before_the_bagit_archive_is_refused_with_the_fix(tmp_path):
    from datetime import datetime

    from demo.command import run_demo
    from robots.core.errors import UsageError

    work = _demo_workdir(tmp_path)
    legacy = work / "var" / "archive" / "ООО «Ромашка» (7700000001)" / "1∕2026"
    legacy.mkdir(parents=True)
    (legacy / "2026-01-12 ARB-2026-000001 Претензия.pdf").write_bytes(b"%PDF-1.7\n")
    with pytest.raises(UsageError, match="make clean"):
        run_demo(work, 1, lambda: datetime(2026, 1, 12, tzinfo=UTC))
    assert not (work / "var" / "arbots.db").exists()  # refused before anything was touched
