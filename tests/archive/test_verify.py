"""`archive verify` on an archive the robots made: clean, then each kind of tampering, each caught."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import bagit
import pytest
from sqlalchemy import update

from archive.bag import JOURNAL, MANIFEST, TAGMANIFEST, entry_line, manifest_text, parse_manifest, read_journal
from archive.ops import verify_archive
from archive.verify import signature_checker
from robots.store import schema as t
from robots.store.archive_index import bag_heads
from signing.keys import load_cert_files
from tests.worlds import REPO


def verify(world, *, signatures: bool = False, **kw):
    config, store = world.open()
    try:
        check = None
        if signatures:
            roots = load_cert_files(config.settings.signing.trust_roots, config.base_dir, "trust_roots")
            check = signature_checker(roots, online=False)
        return verify_archive(config.archive_dir, store, signatures=check, **kw)
    finally:
        store.close()


def kinds(report) -> set[str]:
    return {f.kind for f in report.findings}


def cli(world, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "run_robots.py"), "--config", str(world.config_path), *args],
                          capture_output=True, text=True, timeout=300, cwd=world.root)


def a_document(world) -> Path:
    return next(p for p in world.pdfs() if "Досудебное" in p.name)


def test_the_robots_archive_verifies_clean_with_every_signature(world):
    report = verify(world, signatures=True)
    assert report.findings == []
    assert report.bags == 3 and report.signatures == len(world.pdfs()) == 12
    assert report.files == 36  # each letter: the PDF, its sidecar and its e-mail delivery receipt


def test_every_bag_passes_bagit_python(world):
    assert len(world.bags()) == 3
    for folder in world.bags():
        bagit.Bag(str(folder)).validate()


def test_the_cli_says_ok_and_exits_0(world):
    r = cli(world, "archive", "verify", "--offline")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 contract folders, 36 files" in r.stdout and "12 signed PDFs checked: OK" in r.stdout


def test_a_changed_byte_is_modified_and_breaks_the_signature(world):
    pdf = a_document(world)
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    pdf.write_bytes(bytes(data))
    report = verify(world, signatures=True)
    where = {(f.kind, f.where.rsplit("/", 1)[-1]) for f in report.findings}
    assert ("modified", pdf.name) in where
    assert ("signature_invalid", pdf.name) in where
    r = cli(world, "archive", "verify", "--offline")
    assert r.returncode == 1 and "MODIFIED" in r.stdout and pdf.name in r.stdout


def test_a_deleted_sidecar_is_missing(world):
    side = a_document(world).with_name(a_document(world).name + ".json")
    side.unlink()
    report = verify(world)
    assert [(f.kind, f.where.rsplit("/", 1)[-1]) for f in report.findings] == [("missing", side.name)]


def test_a_planted_file_is_extra(world):
    planted = world.bags()[0] / "data" / "2026-03-01 поддельное письмо.pdf"
    planted.write_bytes(b"%PDF-1.4 forged")
    assert [(f.kind, f.where.rsplit("/", 1)[-1]) for f in verify(world).findings] == [("extra", planted.name)]


def test_an_edited_journal_line_breaks_the_chain(world):
    journal = world.bags()[0] / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"bytes":', b'"bytes":1')
    journal.write_bytes(b"".join(lines))
    found = verify(world).findings
    assert any(f.kind == "chain_broken" and "line 3" in f.detail for f in found)  # line 3's prev no longer matches
    assert any(f.kind == "modified" and f.where.endswith(JOURNAL) for f in found)  # and the tag manifest says so


def test_a_truncated_journal_is_caught_by_the_database_head(world):
    journal = world.bags()[0] / JOURNAL
    journal.write_bytes(b"".join(journal.read_bytes().splitlines(keepends=True)[:-2]))
    found = verify(world).findings
    assert any(f.kind == "chain_broken" and "truncated" in f.detail for f in found)


def forge(folder: Path, victim: Path, new_bytes: bytes) -> None:
    """A careful forger: replaces a document and recomputes the journal chain, the manifest and the tag manifest."""
    victim.write_bytes(new_bytes)
    rel = victim.relative_to(folder).as_posix()
    prev, lines = "0" * 64, []
    for e in read_journal(folder):
        d = json.loads(e.line)
        if d["path"] == rel:
            d["sha256"], d["bytes"] = hashlib.sha256(new_bytes).hexdigest(), len(new_bytes)
        d["prev"] = prev
        line = entry_line(d)
        prev = hashlib.sha256(line).hexdigest()
        lines.append(line)
    (folder / JOURNAL).write_bytes(b"".join(lines))
    manifest = parse_manifest((folder / MANIFEST).read_bytes())
    manifest[rel] = hashlib.sha256(new_bytes).hexdigest()
    (folder / MANIFEST).write_bytes(manifest_text(manifest))
    info = (folder / "bag-info.txt").read_text(encoding="utf-8").splitlines()
    total = sum((folder / p).stat().st_size for p in manifest)
    info = [f"Payload-Oxum: {total}.{len(manifest)}" if x.startswith("Payload-Oxum") else x for x in info]
    (folder / "bag-info.txt").write_text("\n".join(info) + "\n", encoding="utf-8")
    tags = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in ("bagit.txt", "bag-info.txt", MANIFEST, JOURNAL)}
    (folder / TAGMANIFEST).write_bytes(manifest_text(tags))


def test_a_forger_who_recomputes_every_hash_is_caught_by_the_index_and_the_signature(world):
    victim = a_document(world)
    folder = victim.parents[1]
    unsigned = (REPO / "tests" / "archive" / "conftest.py").read_bytes()  # anything that is not the signed letter
    forge(folder, victim, b"%PDF-1.7\n" + unsigned)
    bagit.Bag(str(folder)).validate()  # the bag alone looks perfect: that is why the journal head is in the database
    found = verify(world, signatures=True).findings
    got = {f.kind for f in found}
    assert {"chain_broken", "index_mismatch", "signature_invalid"} <= got
    assert "modified" not in got  # every hash was recomputed; only the anchors outside the folder catch it


def test_an_edited_manifest_is_caught(world):
    folder = world.bags()[1]
    manifest = parse_manifest((folder / MANIFEST).read_bytes())
    first = sorted(manifest)[0]
    manifest[first] = "0" * 64
    (folder / MANIFEST).write_bytes(manifest_text(manifest))
    got = {(f.kind, f.where.rsplit("/", 1)[-1]) for f in verify(world).findings}
    assert ("manifest_mismatch", first.rsplit("/", 1)[-1]) in got
    assert ("modified", MANIFEST) in got


def test_a_removed_contract_folder_is_missing(world):
    import shutil

    folder = world.bags()[2]
    shutil.rmtree(folder)
    found = verify(world).findings
    assert [f.kind for f in found] == ["missing"]
    assert found[0].where == folder.relative_to(world.archive).as_posix()


def test_the_database_index_must_agree_with_the_files(world):
    config, store = world.open()
    with store.engine.begin() as conn:
        conn.execute(update(t.documents).where(t.documents.c.id == 1).values(sha256="f" * 64))
    store.close()
    assert kinds(verify(world)) == {"index_mismatch"}


def test_one_contract_can_be_verified_alone(world):
    config, store = world.open()
    contract = bag_heads(store)[0]
    store.close()
    other = next(b for b in world.bags() if b.relative_to(world.archive).as_posix() != contract.path)
    (other / "data" / "planted.txt").write_text("x")
    assert verify(world, contract=contract.contract_number).findings == []
    assert kinds(verify(world)) == {"extra"}
    r = cli(world, "archive", "verify", "--no-signatures", "--contract", contract.contract_id)
    assert r.returncode == 0, r.stdout
    assert "1 contract folders" in r.stdout


def test_an_unknown_contract_is_a_usage_error(world):
    r = cli(world, "archive", "verify", "--contract", "НЕТ-ТАКОГО")
    assert r.returncode == 2 and "no archived contract 'НЕТ-ТАКОГО'" in r.stderr


@pytest.mark.parametrize("contract", ["0/2026-Б", "C001"])
def test_list_finds_a_contract_by_number_or_id(world, contract):
    r = cli(world, "archive", "list", "--contract", contract)
    assert r.returncode == 0
    assert "4 documents" in r.stdout and "Досудебное требование" in r.stdout


def test_the_sidecar_has_the_penalty_figures_and_the_signature(world):
    notice = next(p for p in world.pdfs() if "Претензия" in p.name and "Клиент 0" in str(p))
    side = json.loads(notice.with_name(notice.name + ".json").read_text(encoding="utf-8"))
    pen = side["penalties"]
    # 0.1 % a day on the whole debt, 11.03..20.03 (10 days): 1000.00 -> 10.00 and 250.50 -> 2.505, half up 2.51
    assert (pen["method"], pen["rate_per_day"], pen["through"]) == ("contractual", "0.001", "2026-03-20")
    assert {i["number"]: i["amount"] for i in pen["invoices"]} == {"100": "10.00", "999": "2.51"}
    assert pen["total"] == "12.51"
    assert pen["invoices"][0]["periods"] == [{"start": "2026-03-11", "end": "2026-03-20", "base": "1000.00",
                                              "days": 10, "rate_per_day": "0.001", "amount": "10.00"}]
    assert side["officer"] == "head_of_legal" and side["signature"]["level"] == "B-LTA"
    assert side["signature"]["digest_algorithm"] == "sha256"
    assert side["sha256"] == hashlib.sha256(notice.read_bytes()).hexdigest()
    assert side["step"] == {"index": 4, "document_step": "claim"}
    assert side["created_at"] == "2026-03-30T09:00:00+00:00"  # the tick's now (conftest: NOW + 10 days)
