"""send_email end to end: render → sign → archive → send_email through a real SMTP server (aiosmtpd).

Asserts what a lawyer would ask: exactly one letter per contract, the attachment is byte for byte the signed PDF
in the archive and its signature validates, the delivery is recorded with its Message-ID, the receipt sits in the
contract's bag and the archive still verifies. Then the crash between SMTP and the "sent" record, and the window.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from archive.ops import verify_archive
from archive.verify import signature_checker
from connectors.files.ledger_csv import write_ledger_csv
from robots.config import load_config
from robots.core.errors import ConfigError
from robots.engine.runner import Runner
from robots.engine.tick import tick
from robots.store import deliveries as db
from robots.store import schema as t
from signing.keys import load_cert_files
from tests.builders import simple_ledger
from tests.texts import has_number
from tests.worlds import AS_OF, NOW, SEND, edit_yaml, open_world


def test_each_contract_gets_exactly_one_letter_with_its_signed_archived_pdf(mail_env, smtp_server, officer_pki):
    config, store, services = open_world(mail_env)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.done) == 2, store.rows(select(t.runs.c.error))
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["c0@example.ru", "c1@example.ru"]

    rows = {r.run_id: r for r in store.rows(select(db.deliveries))}
    assert len(rows) == 2 and {r.status for r in rows.values()} == {"sent"}
    runs = {r.id: r for r in store.rows(select(t.runs))}
    for got in smtp_server.received:
        msg = got.message
        run = next(runs[rid] for rid, d in rows.items() if d.message_id == msg["Message-ID"])
        assert re.fullmatch(r"<arbots\.[0-9a-f]{32}@arbots\.example>", msg["Message-ID"])
        assert msg["Subject"].startswith("Досудебное требование по договору ")
        [att] = list(msg.iter_attachments())
        assert att.get_content_type() == "application/pdf" and att.get_filename().endswith(".pdf")
        steps = {s.idx: s.output for s in store.rows(select(t.run_steps).where(t.run_steps.c.run_id == run.id))}
        archived = config.archive_dir / steps[2]["path"]
        assert att.get_content() == archived.read_bytes()  # the signed, archived PDF byte for byte
        receipt_path = archived.with_name(archived.name + ".delivery-1.json")
        receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
        assert receipt["message_id"] == msg["Message-ID"] and receipt["smtp_response"].startswith("250")
        assert receipt["recipients"]["envelope"] == got.rcpt_tos
        assert steps[3]["receipt"].endswith(".delivery-1.json") and steps[3]["status"] == "sent"

    roots = load_cert_files(config.settings.signing.trust_roots, config.base_dir, "trust_roots")
    check = verify_archive(config.archive_dir, store, signatures=signature_checker(roots, online=True))
    assert check.ok, check.findings
    assert check.signatures == 2 and check.files == 6  # per contract: the PDF, its sidecar, the receipt

    # a second pass and a second tick send nothing more
    assert Runner(services).run_pending(NOW + timedelta(minutes=5)).done == []
    tick(services, AS_OF, NOW + timedelta(hours=1))
    assert len(smtp_server.received) == 2
    store.close()


def test_pdfsig_reads_the_signature_of_the_attachment_as_received(mail_env, smtp_server, tmp_path):
    if shutil.which("pdfsig") is None:
        pytest.skip("pdfsig (poppler-utils) is not installed")
    import subprocess

    config, store, services = open_world(mail_env)
    tick(services, AS_OF, NOW)
    [att] = list(smtp_server.received[0].message.iter_attachments())
    pdf = tmp_path / "received.pdf"
    pdf.write_bytes(att.get_content())
    out = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True, timeout=60).stdout
    assert "Signature is Valid" in out and "Орлова" in out  # pdfsig exits 0 even on a mismatch: read its text
    store.close()


def test_a_crash_between_smtp_and_the_sent_record_resends_with_the_same_message_id(mail_env, smtp_server, monkeypatch):
    config, store, services = open_world(mail_env)

    def crash(*args, **kwargs):
        raise OSError("power cut right after the server accepted the letter")

    monkeypatch.setattr(db, "mark_sent", crash)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.retry) == 2 and len(smtp_server.received) == 2
    assert {d.status for d in store.rows(select(db.deliveries))} == {"sending"}
    first = sorted(r.message["Message-ID"] for r in smtp_server.received)

    monkeypatch.undo()
    report = Runner(services).run_pending(NOW + timedelta(minutes=5))
    assert len(report.done) == 2 and len(smtp_server.received) == 4
    assert sorted(r.message["Message-ID"] for r in smtp_server.received[2:]) == first
    rows = store.rows(select(db.deliveries))
    assert {r.status for r in rows} == {"sent"} and {r.attempts for r in rows} == {2}
    store.close()


def test_a_tick_at_night_parks_the_run_and_a_pass_inside_the_window_sends(mail_env, smtp_server):
    config, store, services = open_world(mail_env)
    night = datetime(2026, 3, 12, 19, 0, tzinfo=UTC)  # 22:00 in Moscow
    report = tick(services, AS_OF, night)
    assert len(report.runner.waiting) == 2 and smtp_server.received == []
    runs = store.rows(select(t.runs))
    assert {r.status for r in runs} == {"waiting"}
    assert {r.wake_at.replace(tzinfo=UTC) if r.wake_at.tzinfo is None else r.wake_at for r in runs} == \
        {datetime(2026, 3, 13, 6, 0, tzinfo=UTC)}  # Friday 09:00 Moscow
    assert Runner(services).run_pending(night + timedelta(hours=5)).done == []  # 03:00: still asleep
    report = Runner(services).run_pending(datetime(2026, 3, 13, 6, 5, tzinfo=UTC))
    assert len(report.done) == 2 and len(smtp_server.received) == 2
    assert store.scalar(select(t.documents.c.id).limit(1)) is not None
    store.close()


def test_redirect_to_sends_everything_to_one_address_and_keeps_the_intended_ones(mail_env, smtp_server):
    edit_yaml(mail_env / "schedules.yaml", lambda s: s["email"].update(redirect_to="qa@arbots.example"))
    edit_yaml(mail_env / "mail-scenarios" / "mail_demand.yaml",
              lambda s: s["steps"][3].update(cc=["{{ counterparty.id | lower }}@cc.example.ru"]))
    config, store, services = open_world(mail_env)
    tick(services, AS_OF, NOW)
    assert [r.rcpt_tos for r in smtp_server.received] == [["qa@arbots.example"]] * 2
    originals = sorted(r.message["X-Arbots-Original-To"] for r in smtp_server.received)
    assert originals == ["c0@example.ru, p000@cc.example.ru", "c1@example.ru, p001@cc.example.ru"]
    assert all(r.message["Cc"] is None for r in smtp_server.received)
    store.close()


def test_a_counterparty_without_an_address_fails_the_run_with_the_fix(mail_env, smtp_server):
    ledger = simple_ledger(2)
    from dataclasses import replace

    ledger = replace(ledger, counterparties=(replace(ledger.counterparties[0], email=""), ledger.counterparties[1]))
    write_ledger_csv(ledger, mail_env / "var" / "ledger")
    config, store, services = open_world(mail_env)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.failed) == 1 and len(report.runner.done) == 1
    error = store.rows(select(t.runs.c.error).where(t.runs.c.contract_id == "C000"))[0].error
    assert "ООО «Клиент 0»" in error and "no e-mail address" in error and "to:" in error
    assert len(smtp_server.received) == 1
    store.close()


def test_a_refused_recipient_is_recorded_as_bounced_and_fails_the_run(mail_env, smtp_server):
    edit_yaml(mail_env / "mail-scenarios" / "mail_demand.yaml", lambda s: s["steps"][3].update(to=["bad@example.ru"]))
    config, store, services = open_world(mail_env)
    report = tick(services, AS_OF, NOW)
    assert len(report.runner.failed) == 2 and smtp_server.received == []
    rows = store.rows(select(db.deliveries))
    assert {r.status for r in rows} == {"bounced"} and all(has_number(r.error, 550) for r in rows)
    store.close()


def test_config_errors_name_the_step_and_the_fix(mail_env):
    edit_yaml(mail_env / "schedules.yaml", lambda s: s.pop("email"))
    edit_yaml(mail_env / "mail-scenarios" / "mail_demand.yaml",
              lambda s: s["steps"].insert(0, {**SEND, "document": "later", "subject": "{{ oops"}))
    with pytest.raises(ConfigError) as exc:
        load_config(mail_env / "schedules.yaml")
    text = str(exc.value)
    assert "steps[0].document: no earlier render step has id 'later'" in text
    assert "steps[0].subject: not a valid template" in text
    assert "needs the email: section" in text
