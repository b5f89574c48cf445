"""`archive export`: the auditor's zip is a valid bag of bags, verifies offline, and catches tampering."""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from pathlib import Path

import bagit

from tests.archive.test_verify import a_document, cli, forge


def unpack(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(into)
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def test_the_package_is_a_valid_bag_of_bags_with_an_index(world, tmp_path):
    out = tmp_path / "audit.zip"
    r = cli(world, "archive", "export", "--counterparty", "7700000000", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "4 documents from 1 contract folders" in r.stdout
    pkg = unpack(out, tmp_path / "x")
    bagit.Bag(str(pkg)).validate()
    inner = sorted(p.parent for p in (pkg / "data").rglob("bagit.txt"))
    assert len(inner) == 1
    bagit.Bag(str(inner[0])).validate()
    assert len(list(inner[0].glob("data/*.pdf"))) == 4

    raw = (pkg / "data" / "index.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"))))
    assert [r["type"] for r in rows] == ["Напоминание о сроке оплаты", "Просьба об оплате задолженности",
                                          "Досудебное требование",
                                          "Претензия"]
    assert {r["counterparty"] for r in rows} == {"ООО «Клиент 0»"}
    assert all(r["signature_level"] in ("B-T", "B-LTA") and r["officer"] for r in rows)
    assert all((pkg / r["file"]).is_file() for r in rows)
    html = (pkg / "data" / "index.html").read_text(encoding="utf-8")
    assert "Досудебное требование" in html and "ООО «Клиент 0»" in html
    assert list((pkg / "data" / "certs").glob("*.pem"))


def test_the_package_verifies_offline_and_its_signatures_validate(world, tmp_path):
    out = tmp_path / "audit.zip"
    assert cli(world, "archive", "export", "--contract", "C001", "--out", str(out)).returncode == 0
    pkg = unpack(out, tmp_path / "x")
    root = next((pkg / "data" / "certs").glob("*.pem"))
    for target in (out, pkg):  # the zip itself, or the folder it unpacks to
        r = cli(world, "archive", "verify", "--bag", str(target), "--offline", "--trust-root", str(root))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "4 signed PDFs checked: OK" in r.stdout
    for pdf in pkg.rglob("*.pdf"):  # an independent validator agrees
        check = subprocess.run(["pdfsig", str(pdf)], capture_output=True, text=True)
        assert "Signature is Valid" in check.stdout, check.stdout


def test_a_date_range_selects_documents_and_keeps_the_whole_journal(world, tmp_path):
    out = tmp_path / "march.zip"
    r = cli(world, "archive", "export", "--contract", "C002", "--from", "2026-03-11", "--to", "2026-03-12",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    pkg = unpack(out, tmp_path / "x")
    inner = next(p.parent for p in (pkg / "data").rglob("bagit.txt"))
    names = sorted(p.name for p in inner.glob("data/*.pdf"))
    assert names == [n for n in names if n.startswith(("2026-03-11", "2026-03-12"))] and len(names) == 2
    # all four documents' lines: PDF, sidecar, e-mail receipt
    assert len((inner / "journal.jsonl").read_bytes().splitlines()) == 12
    bagit.Bag(str(inner)).validate()
    assert cli(world, "archive", "verify", "--bag", str(out), "--no-signatures").returncode == 0


def test_a_tampered_package_is_caught(world, tmp_path):
    out = tmp_path / "audit.zip"
    assert cli(world, "archive", "export", "--contract", "C001", "--out", str(out)).returncode == 0
    pkg = unpack(out, tmp_path / "x")
    pdf = next(pkg.rglob("*Досудебное*.pdf"))
    pdf.write_bytes(pdf.read_bytes().replace(b"/Type", b"/Typf", 1))
    r = cli(world, "archive", "verify", "--bag", str(pkg), "--no-signatures")
    assert r.returncode == 1 and "MODIFIED" in r.stdout and pdf.name in r.stdout


def test_export_refuses_a_damaged_archive_and_writes_nothing(world, tmp_path):
    victim = a_document(world)
    forge(victim.parents[1], victim, b"%PDF-1.7\nforged\n")
    out = tmp_path / "audit.zip"
    r = cli(world, "archive", "export", "--counterparty", victim.parents[2].name.split(" (")[0], "--out", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "nothing was exported" in r.stderr and not out.exists()
    assert not list(tmp_path.glob(".*.part"))


def test_export_never_overwrites_and_checks_its_arguments(world, tmp_path):
    out = tmp_path / "audit.zip"
    out.write_bytes(b"keep me")
    r = cli(world, "archive", "export", "--contract", "C001", "--out", str(out))
    assert r.returncode == 2 and "exists" in r.stderr and out.read_bytes() == b"keep me"
    r = cli(world, "archive", "export", "--out", str(tmp_path / "b.zip"))
    assert r.returncode == 2  # a selection is required
    r = cli(world, "archive", "export", "--contract", "C001", "--from", "2030-01-01", "--out", str(tmp_path / "c.zip"))
    assert r.returncode == 2 and "nothing to export" in r.stderr


def test_no_archive_command_deletes_or_changes_a_document(world, tmp_path):
    before = {p: p.read_bytes() for p in world.archive.rglob("*") if p.is_file() and ".arbots" not in p.parts}
    for args in (("archive", "verify", "--offline"), ("archive", "list"),
                 ("archive", "retention", "--as-of", "2040-01-01"),
                 ("archive", "export", "--contract", "C000", "--out", str(tmp_path / "a.zip")),
                 ("archive", "hold", "add", "--contract", "C000", "--reason", "дело А40-1/2026"),
                 ("archive", "hold", "release", "--contract", "C000")):
        assert cli(world, *args).returncode == 0, args
    after = {p: p.read_bytes() for p in world.archive.rglob("*") if p.is_file() and ".arbots" not in p.parts}
    assert after == before


def test_retention_lists_documents_past_their_period_and_legal_holds_mark_them(world):
    r = cli(world, "archive", "retention", "--as-of", "2031-12-31")
    assert r.returncode == 0 and "0 documents past their 5-year retention" in r.stdout
    assert cli(world, "archive", "hold", "add", "--contract", "C000", "--reason", "дело А40-1/2026").returncode == 0
    r = cli(world, "archive", "retention", "--as-of", "2032-01-01")
    assert "12 documents past their 5-year retention on 2032-01-01 (4 under legal hold)" in r.stdout
    assert "LEGAL HOLD: дело А40-1/2026" in r.stdout and "never deletes" in r.stdout
    assert cli(world, "archive", "hold", "release", "--contract", "C000").returncode == 0
    r = cli(world, "archive", "hold", "release", "--contract", "C000")
    assert r.returncode == 2 and "no open legal hold" in r.stderr
    r = cli(world, "archive", "hold", "add", "--contract", "C000")
    assert r.returncode == 2 and "--reason" in r.stderr


def test_a_zip_that_would_unpack_outside_its_folder_is_refused(world, tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("pkg/bagit.txt", "BagIt-Version: 1.0\n")
        zf.writestr("../../escape.txt", "x")
    r = cli(world, "archive", "verify", "--bag", str(evil), "--no-signatures")
    assert r.returncode == 2 and "outside" in r.stderr
    assert not (tmp_path.parent / "escape.txt").exists()
