"""compute_penalty and lawsuit_pack through the real runner: signed, archived letters, then the pack, whose inner
BagIt bag validates with bagit-python."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import bagit
from sqlalchemy import select

from archive import safe_name
from robots.config import load_config
from robots.core.domain import Contract, Counterparty, Invoice, Ledger, Payment
from robots.engine.runner import Runner
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.steps import REGISTRY
from robots.store import RunRecord
from robots.store import schema as t
from robots.support.clock import SystemClock
from tests.builders import DUE
from tests.steps.test_penalty import pdf_text
from tests.worlds import install_pki, penalty_world

D = Decimal
NBSP = "\u00a0"


def lawsuit_ledger() -> Ledger:
    cps = (Counterparty("P1", "ООО «Должник»", "7712345678", "d@example.ru", "default"),
           Counterparty("P2", "ООО «Без неустойки»", "7787654321", "n@example.ru", "default"))
    cts = (Contract("C1", "15/2026-П", "P1", 30, "RUB", D("0.001")), Contract("C2", "16/2026-П", "P2", 30, "RUB"))
    invs = (Invoice("I1", "СЧ-1", "C1", DUE - timedelta(days=30), DUE, D("60000.00")),
            Invoice("I2", "СЧ-2", "C1", DUE - timedelta(days=30), DUE, D("40000.00")),
            Invoice("I3", "СЧ-3", "C2", DUE - timedelta(days=30), DUE, D("10000.00")))
    pays = (Payment("PAY1", "C1", DUE + timedelta(days=20), D("30000.00"), "I1"),)
    return Ledger(cps, cts, invs, pays)


def _steps(store, run_id: int) -> dict[int, dict]:
    return {s.idx: s.output for s in store.rows(select(t.run_steps).where(t.run_steps.c.run_id == run_id))}


def test_the_lawsuit_pack_holds_the_claim_the_calculation_the_statement_and_a_valid_bag(tmp_path, store,
                                                                                      officer_pki):
    config_path = penalty_world(tmp_path, lawsuit_ledger())
    install_pki(tmp_path, officer_pki)
    config = load_config(config_path)
    services = services_for(config, store, SystemClock())
    day2, day60 = DUE + timedelta(days=2), DUE + timedelta(days=60)  # 2026-03-12, 2026-05-09
    assert len(tick(services, day2, datetime(2026, 3, 12, 9, tzinfo=UTC)).runner.done) == 2
    report = tick(services, day60, datetime(2026, 5, 9, 9, tzinfo=UTC))
    assert len(report.runner.done) == 2, report
    runs = {r.contract_id: r for r in store.rows(select(t.runs).where(t.runs.c.as_of == day60))}

    c1 = _steps(store, runs["C1"].id)
    penalty = c1[0]
    # I1: 11 .. 30 March on 60 000.00 = 20 × 60.00 = 1 200.00; 31 March .. 9 May on 30 000.00 = 40 × 30.00 = 1 200.00
    # I2: 11 March .. 9 May on 40 000.00 = 60 × 40.00 = 2 400.00 (caps: 6 000.00 and 4 000.00, not reached)
    assert penalty["kind"] == "penalty" and penalty["basis"] == "contractual" and penalty["total"] == "4800.00"
    assert [(p["start"], p["end"], p["base"], p["days"], p["rate_text"], p["amount"])
            for p in penalty["invoices"][0]["periods"]] == [
        ("2026-03-11", "2026-03-30", "60000.00", 20, f"0,1{NBSP}% в день", "1200.00"),
        ("2026-03-31", "2026-05-09", "30000.00", 40, f"0,1{NBSP}% в день", "1200.00")]
    # C2 sets no rate: ст. 395 at 16.5 % (the last key rate in the table): 10 000.00 × 0.165 × 60 / 365 = 271.23
    c2 = _steps(store, runs["C2"].id)
    assert c2[0]["basis"] == "statutory" and c2[0]["total"] == "271.23"
    assert c2[0]["invoices"][0]["periods"][0]["rate_text"] == f"16,5{NBSP}% годовых"

    pack = c1[4]
    assert pack["kind"] == "lawsuit_pack"
    path = tmp_path / "var" / "lawsuit-packs" / safe_name("15/2026-П") / f"2026-05-09-{runs['C1'].id}.zip"
    assert pack["path"] == str(path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == pack["sha256"]
    assert (path.parent / (path.name + ".sha256")).read_text().startswith(pack["sha256"])
    names = set(pack["files"])
    assert {"02 Расчёт неустойки.pdf", "03 Акт сверки.pdf", "04 Перечень счетов.csv", "05 Договор.json",
            "05 Договор.txt", "Опись.txt", "06 Переписка/bagit.txt"} <= names
    claim = next(n for n in names if n.startswith("01 Исковое заявление"))
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert set(zf.namelist()) == names
    assert zf.read(claim) == (tmp_path / "var" / "archive" / c1[3]["path"]).read_bytes()  # the signed claim
    annex = pdf_text(zf.read("02 Расчёт неустойки.pdf"), tmp_path)
    assert "Итого неустойка: 4 800,00 руб. (четыре тысячи восемьсот рублей 00 копеек)" in annex
    assert "31.03.2026 – 09.05.2026 30 000,00 40 0,1 % в день 1 200,00" in annex
    statement = pdf_text(zf.read("03 Акт сверки.pdf"), tmp_path)
    assert "30.03.2026 Оплата (PAY1) по счёту № СЧ-1 30 000,00 70 000,00" in statement
    assert "Сальдо конечное 70 000,00" in statement
    assert "СЧ-2;2026-02-08;2026-03-10;40000.00;40000.00;60;2400.00" in zf.read("04 Перечень счетов.csv").decode()
    listing = zf.read("Опись.txt").decode()
    assert f"{hashlib.sha256(zf.read(claim)).hexdigest()}  {claim}" in listing

    # the correspondence: the archive's auditor export, whose bags validate
    out = tmp_path / "unpacked"
    zf.extractall(out)
    outer = bagit.Bag(str(out / "06 Переписка"))
    outer.validate()
    inner = [p.parent for p in (out / "06 Переписка" / "data").rglob("bagit.txt")]
    assert len(inner) == 1
    bagit.Bag(str(inner[0])).validate()
    letters = sorted(p.name for p in (inner[0] / "data").rglob("*.pdf"))
    assert len(letters) == 2 and any("Досудебное требование" in n for n in letters) \
        and any("Исковое заявление" in n for n in letters)

    # re-executed (a crash before its output was recorded): the same pack, reused as it is
    run = RunRecord.from_row(store.rows(select(t.runs).where(t.runs.c.id == runs["C1"].id))[0])
    ctx = Runner(services)._context(run, datetime(2026, 5, 9, 10, tzinfo=UTC))
    ctx.outputs = {"penalty": c1[0], "claim": c1[2]}
    step_cfg = config.scenarios["t_lawsuit"].steps[4]
    mtime = path.stat().st_mtime_ns
    assert REGISTRY["lawsuit_pack"]().run(step_cfg, ctx) == pack and path.stat().st_mtime_ns == mtime
    # and without its recorded checksum it is rebuilt, byte for byte
    (path.parent / (path.name + ".sha256")).unlink()
    assert REGISTRY["lawsuit_pack"]().run(step_cfg, ctx)["sha256"] == pack["sha256"]


def test_a_run_below_the_lawsuit_threshold_builds_no_pack(tmp_path, store, officer_pki):
    small = Ledger(lawsuit_ledger().counterparties[:1], lawsuit_ledger().contracts[:1],
                   (Invoice("I1", "СЧ-1", "C1", DUE - timedelta(days=30), DUE, D("1000.00")),), ())
    config_path = penalty_world(tmp_path, small)
    install_pki(tmp_path, officer_pki)
    services = services_for(load_config(config_path), store, SystemClock())
    tick(services, date(2026, 5, 9), datetime(2026, 5, 9, 9, tzinfo=UTC))
    run = store.rows(select(t.runs))[0]
    steps = _steps(store, run.id)
    assert steps[0]["total"] == "60.00"  # 1 000.00 × 0.001 × 60; debt + penalty = 1 060.00 < 5 000.00
    assert steps[4]["kind"] == "skipped" and not (tmp_path / "var" / "lawsuit-packs").exists()
