"""Bags written by the archive: valid for bagit-python, journaled, idempotent, never overwriting, safe together."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import bagit
import pytest

from archive import Archive, ArchiveConflict, NewFile
from archive.bag import GENESIS, JOURNAL, MANIFEST, read_journal
from archive.verify import verify_bags

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.7\n% test\n" + bytes(range(256)) + b"\n%%EOF\n"


def put_doc(archive: Archive, folder: Path, name: str, content: bytes = PDF, run_id: int = 1):
    side = json.dumps({"file": name, "run_id": run_id}).encode()
    return archive.put(folder, [NewFile(name, content), NewFile(f"{name}.json", side, keep_existing=True)],
                       now=NOW, run_id=run_id, info={"External-Identifier": "C1"})


def problems(root: Path, folder: Path) -> list[tuple[str, str]]:
    return [(f.kind, f.where) for f in verify_bags([folder], root).findings]


def test_a_contract_folder_is_a_valid_bag_with_a_chained_journal(tmp_path):
    archive = Archive(tmp_path, "ООО «Арботс»")
    folder = archive.folder("ООО «Ромашка»", "7700000001", "12/2024-Б")
    first = put_doc(archive, folder, "a.pdf")
    second = put_doc(archive, folder, "b.pdf", PDF + b"b", run_id=2)

    bag = bagit.Bag(str(folder))
    bag.validate()  # raises on any problem; checksums included
    assert set(bag.payload_entries()) == {"data/a.pdf", "data/a.pdf.json", "data/b.pdf", "data/b.pdf.json"}
    payload = sum((folder / "data" / n).stat().st_size for n in ("a.pdf", "a.pdf.json", "b.pdf", "b.pdf.json"))
    assert bag.info["Payload-Oxum"] == f"{payload}.4"
    assert bag.info["Source-Organization"] == "ООО «Арботс»"

    entries = read_journal(folder)
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert entries[0].prev == GENESIS
    assert all(b.prev == a.hash for a, b in zip(entries, entries[1:]))
    assert (first.seq, second.seq, second.head) == (2, 4, entries[-1].hash)
    assert entries[0].sha256 == hashlib.sha256(PDF).hexdigest() and entries[0].run_id == 1
    assert problems(tmp_path, folder) == []


def test_the_chain_checks_with_standard_tools(tmp_path):
    archive = Archive(tmp_path)
    folder = archive.folder("P", "1", "C")
    put_doc(archive, folder, "a.pdf")
    line1 = (folder / JOURNAL).read_bytes().splitlines(keepends=True)[0]
    out = subprocess.run(f"sed -n 1p '{folder / JOURNAL}' | sha256sum", shell=True, capture_output=True, text=True,
                         check=True).stdout.split()[0]
    assert out == hashlib.sha256(line1).hexdigest() == read_journal(folder)[1].prev


def test_putting_the_same_document_again_changes_nothing(tmp_path):
    archive = Archive(tmp_path)
    folder = archive.folder("P", "1", "C")
    put_doc(archive, folder, "a.pdf")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    again = put_doc(archive, folder, "a.pdf")
    assert again.appended == 0 and again.seq == 2
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_the_archive_never_overwrites_a_document(tmp_path):
    archive = Archive(tmp_path)
    folder = archive.folder("P", "1", "C")
    put_doc(archive, folder, "a.pdf")
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(ArchiveConflict, match="never overwrites"):
        put_doc(archive, folder, "a.pdf", PDF + b"forged")
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_sidecar_is_written_once(tmp_path):
    archive = Archive(tmp_path)
    folder = archive.folder("P", "1", "C")
    put_doc(archive, folder, "a.pdf", run_id=1)
    result = archive.put(folder, [NewFile("a.pdf", PDF), NewFile("a.pdf.json", b'{"other": 1}', keep_existing=True)],
                         now=NOW, run_id=1)
    assert result.appended == 0
    assert json.loads((folder / "data" / "a.pdf.json").read_bytes()) == {"file": "a.pdf", "run_id": 1}


@pytest.mark.parametrize("number", ["12/2024-Б", "../../etc/passwd", "..", "a\\b:c*d?e\"f<g>h|i", "CON", "\x00\n",
                                    "/" * 300, "Договор № 5% от 01.02.2024"])
def test_hostile_contract_numbers_stay_inside_the_root_and_make_valid_bags(tmp_path, number):
    root = tmp_path / "archive"
    archive = Archive(root)
    folder = archive.folder(f"ООО «{number}»", number, number)
    put_doc(archive, folder, "a.pdf")
    assert root.resolve() in folder.resolve().parents
    assert all(root.resolve() in p.resolve().parents for p in tmp_path.rglob("*") if p != root)
    bagit.Bag(str(folder)).validate()


def test_a_crash_between_the_file_and_the_journal_is_repaired_by_the_retry(tmp_path):
    archive = Archive(tmp_path)
    folder = archive.folder("P", "1", "C")
    put_doc(archive, folder, "a.pdf")
    (folder / "data" / "b.pdf").write_bytes(PDF + b"b")  # the step died right after writing the file
    assert ("extra", "P (1)/C/data/b.pdf") in problems(tmp_path, folder)

    put_doc(archive, folder, "b.pdf", PDF + b"b", run_id=2)  # the runner re-executes the step
    assert problems(tmp_path, folder) == []
    bagit.Bag(str(folder)).validate()


def test_a_crash_between_the_journal_and_the_manifest_is_repaired_by_the_retry(tmp_path):
    archive = Archive(tmp_path)
    folder = archive.folder("P", "1", "C")
    put_doc(archive, folder, "a.pdf")
    manifest = (folder / MANIFEST).read_bytes()
    put_doc(archive, folder, "b.pdf", PDF + b"b", run_id=2)
    (folder / MANIFEST).write_bytes(manifest)  # as if the process died before rewriting the manifest
    assert any(k == "manifest_mismatch" for k, _ in problems(tmp_path, folder))

    archive.put(folder, [NewFile("b.pdf", PDF + b"b"), NewFile("c.pdf", PDF + b"c")], now=NOW, run_id=3)
    assert problems(tmp_path, folder) == []


def _writer(root: str, worker: int, count: int) -> None:
    archive = Archive(Path(root))
    folder = archive.folder("ООО «Общий»", "7700000009", "1/2026")
    for i in range(count):
        put_doc(archive, folder, f"w{worker}-{i:03d}.pdf", PDF + f"{worker}-{i}".encode(), run_id=worker * 1000 + i)


def test_two_processes_writing_one_bag_at_once_never_corrupt_it(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 25)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    folder = Archive(tmp_path).folder("ООО «Общий»", "7700000009", "1/2026")
    bagit.Bag(str(folder)).validate()
    entries = read_journal(folder)
    assert len(entries) == 100 and len({e.path for e in entries}) == 100
    assert problems(tmp_path, folder) == []


def test_a_folder_of_loose_files_is_not_silently_turned_into_a_bag(tmp_path):
    archive = Archive(tmp_path)
    folder = archive.folder("P", "1", "C")
    folder.mkdir(parents=True)
    (folder / "old letter.pdf").write_bytes(PDF)
    with pytest.raises(ArchiveConflict, match="not a BagIt bag"):
        put_doc(archive, folder, "a.pdf")
    assert sorted(x.name for x in folder.iterdir()) == ["old letter.pdf"]
