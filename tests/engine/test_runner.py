"""The runner with real failures: a broken template (business error) and an unwritable archive (retryable)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from robots.engine.tick import tick
from robots.store import Store
from robots.store import schema as t
from tests.builders import DUE, simple_ledger
from tests.worlds import AS_OF, NOW, open_world, shipped_world


@pytest.fixture
def env(tmp_path: Path, officer_pki) -> Path:
    """The shipped config and scenarios, two contracts two days overdue on AS_OF."""
    return shipped_world(tmp_path, pki=officer_pki, ledger=simple_ledger(2))


def _runs(store: Store):
    return {r.contract_id: r for r in store.rows(select(t.runs))}


def test_a_business_error_fails_the_run_at_once_and_keeps_its_reason(env):
    tpl = env / "scenarios" / "templates" / "pretrial_demand.j2"
    tpl.write_text(tpl.read_text(encoding="utf-8").replace("{{ contract.number }}", "{{ contract.numbr }}", 1),
                   encoding="utf-8")
    config, store, services = open_world(env)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.failed) == 2 and not report.runner.done
    runs = _runs(store)
    assert all(r.status == "failed" and r.attempts == 1 for r in runs.values())
    assert "pretrial_demand.j2:" in runs["C000"].error and "numbr" in runs["C000"].error
    assert store.scalar(select(t.documents.c.id)) is None  # no document from a broken template
    # a failed run is not retried by the next tick
    assert tick(services, AS_OF, NOW + timedelta(hours=1)).runner.failed == []
    store.close()


def test_an_application_error_is_retried_and_resumes_after_the_steps_already_done(env):
    archive = env / "var" / "archive"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_text("not a folder")  # the archive step fails with an OSError: retryable
    config, store, services = open_world(env)
    report = tick(services, AS_OF, NOW)
    assert sorted(report.runner.retry) == sorted(r.id for r in _runs(store).values())
    steps = store.rows(select(t.run_steps).order_by(t.run_steps.c.run_id, t.run_steps.c.idx))
    # pretrial_demand: reconcile, render, sign, archive (fails), send_email, task
    assert [(s.idx, s.status) for s in steps if s.run_id == steps[0].run_id] == [
        (0, "done"), (1, "done"), (2, "done"), (3, "failed"), (4, "pending"), (5, "pending")]
    rendered = {s.run_id: s.output["path"] for s in steps if s.idx == 1}

    archive.unlink()  # the disk is fixed
    report = tick(services, AS_OF, NOW + timedelta(minutes=5))
    assert len(report.runner.done) == 2
    steps = store.rows(select(t.run_steps).order_by(t.run_steps.c.run_id, t.run_steps.c.idx))
    assert all(s.status == "done" for s in steps) and len(steps) == 12
    render_attempts = [s.attempts for s in steps if s.idx == 1]
    assert render_attempts == [1, 1]  # the render step was not repeated
    assert [s.attempts for s in steps if s.idx == 2] == [1, 1]  # nor the signature
    assert {s.run_id: s.output["path"] for s in steps if s.idx == 1} == rendered
    assert len(list(archive.rglob("*.pdf"))) == 2
    store.close()


def test_a_run_fails_for_good_when_its_attempts_are_exhausted(env):
    cfg = env / "schedules.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_attempts: 5", "max_attempts: 2"), encoding="utf-8")
    archive = env / "var" / "archive"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_text("not a folder")
    config, store, services = open_world(env)
    tick(services, AS_OF, NOW)
    second = tick(services, AS_OF, NOW + timedelta(minutes=1))
    assert len(second.runner.failed) == 2
    assert all(r.status == "failed" and r.attempts == 2 for r in _runs(store).values())
    assert tick(services, AS_OF, NOW + timedelta(minutes=2)).runner == type(second.runner)()
    store.close()


def test_rendering_the_same_run_twice_gives_the_same_bytes(env):
    config, store, services = open_world(env)
    tick(services, AS_OF, NOW)
    doc = store.rows(select(t.run_steps).where(t.run_steps.c.idx == 1))[0]  # after reconcile
    first = Path(doc.output["path"]).read_bytes()
    from robots.engine.runner import Runner
    from robots.store import RunRecord

    run = RunRecord.from_row(store.rows(select(t.runs).where(t.runs.c.id == doc.run_id))[0])
    ctx = Runner(services)._context(run, NOW + timedelta(days=3))
    out = services.config.scenarios[run.scenario].steps[1]
    from robots.steps import REGISTRY

    again = REGISTRY["render"]().run(out, ctx)
    assert Path(again["path"]).read_bytes() == first and again["sha256"] == doc.output["sha256"]
    store.close()


def test_a_document_that_cannot_be_signed_is_never_archived_and_the_run_fails_at_once(env):
    (env / "var" / "pki" / "p12-password").write_text("not the password")
    config, store, services = open_world(env)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.failed) == 2 and not report.runner.done and not report.runner.retry
    runs = _runs(store)
    assert all(r.attempts == 1 for r in runs.values())
    assert "cannot open it: wrong password (from" in runs["C000"].error
    assert "not the password" not in runs["C000"].error
    assert store.scalar(select(t.documents.c.id)) is None
    assert not list((env / "var" / "archive").rglob("*.pdf")) if (env / "var" / "archive").exists() else True
    store.close()


def test_signed_documents_reach_the_archive_with_their_signature_in_the_sidecar(env):
    import json

    from signing.keys import load_cert_files
    from signing.verify import verify_file

    config, store, services = open_world(env)
    assert len(tick(services, AS_OF, NOW).runner.done) == 2
    pdfs = sorted((env / "var" / "archive").rglob("*.pdf"))
    assert len(pdfs) == 2
    roots = load_cert_files(config.settings.signing.trust_roots, config.base_dir, "roots")
    for pdf in pdfs:
        meta = json.loads(pdf.with_name(pdf.name + ".json").read_text(encoding="utf-8"))
        assert meta["signature"]["officer"] == "head_of_sales" and meta["signature"]["level"] == "B-T"
        report = verify_file(pdf, roots, online=False)
        assert report.ok and report.signatures[0].signer == "Орлова Марина Сергеевна", report
        assert report.signatures[0].signing_time == NOW.isoformat()
    store.close()


def test_the_reminder_offers_the_contracts_early_payment_discounts_still_open(env):
    import subprocess

    # contract C000 grants 3 % within 30 days and 2 % within 60 days of the invoice date (issued DUE - 30 days)
    contracts = env / "var" / "ledger" / "contracts.csv"
    lines = contracts.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].endswith(",discounts") and lines[1].startswith("C000,") and lines[1].endswith(",")
    lines[1] += "3%/30; 2%/60"
    contracts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config, store, services = open_world(env)
    tick(services, DUE - timedelta(days=3), NOW - timedelta(days=5))
    pdfs = {p.parents[1].name: p for p in (env / "var" / "archive").rglob("*.pdf")}
    texts = {k: subprocess.run(["pdftotext", "-layout", str(p), "-"], capture_output=True, text=True,
                               check=True).stdout.replace("\u00a0", " ") for k, p in pdfs.items()}
    offered = next(t_ for k, t_ in texts.items() if k.startswith("0"))
    # I000 1 000.00: 970.00 by DUE (3 % = 30.00), 980.00 by DUE + 30 (2 % = 20.00);
    # I-extra 250.50: 3 % = 7.515, rounded to 7.52 -> 242.98; 2 % = 5.01 -> 245.49
    assert "скидка за досрочную оплату" in offered
    for number, until, amount in (("100", DUE, "970,00"), ("100", DUE + timedelta(days=30), "980,00"),
                                  ("999", DUE, "242,98"), ("999", DUE + timedelta(days=30), "245,49")):
        assert re.search(rf"{number}\s+\S+\s*%\s+{until:%d.%m.%Y}\s+{amount}", offered), (number, until, offered)
    assert all("скидка" not in t_ for k, t_ in texts.items() if not k.startswith("0"))
    store.close()
