"""Archive writes: file plus JSON sidecar, atomic, never overwriting evidence, no temporary files left."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from archive.writer import ArchiveConflict, put_document

PDF = b"%PDF-1.7\n% test document\n" + bytes(range(256)) + b"\n%%EOF\n"
SIDECAR = {"type": "Претензия", "number": "12/2024-Б", "date": "2024-03-12", "run_id": 7,
           "invoices": [{"id": "i1", "open_amount": "1000.00"}]}
NAME = "2024-03-12 12∕2024-Б Претензия.pdf"


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp-") or p.name.endswith(".part")]


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def test_put_document_writes_the_file_and_its_sidecar(tmp_path):
    folder = tmp_path / "ООО «Ромашка» (7700000001)" / "12∕2024-Б"
    path, digest = put_document(folder, NAME, PDF, SIDECAR)

    assert path == folder / NAME
    assert path.read_bytes() == PDF
    assert digest == hashlib.sha256(PDF).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    meta = json.loads((folder / f"{NAME}.json").read_text(encoding="utf-8"))
    assert meta == {**SIDECAR, "file": NAME, "sha256": digest}
    assert "Претензия" in (folder / f"{NAME}.json").read_text(encoding="utf-8")  # readable, not \u-escaped
    assert sorted(p.name for p in folder.iterdir()) == sorted([NAME, f"{NAME}.json"])
    assert leftovers(tmp_path) == []


def test_the_sidecar_cannot_override_file_and_sha256(tmp_path):
    path, digest = put_document(tmp_path, "a.pdf", PDF, {"file": "evil.pdf", "sha256": "0" * 64})
    meta = json.loads((tmp_path / "a.pdf.json").read_text(encoding="utf-8"))
    assert (meta["file"], meta["sha256"]) == ("a.pdf", digest)


def test_writing_the_same_document_again_is_a_no_op(tmp_path):
    put_document(tmp_path, NAME, PDF, SIDECAR)
    before = snapshot(tmp_path)
    path, digest = put_document(tmp_path, NAME, PDF, dict(SIDECAR))
    assert digest == hashlib.sha256(PDF).hexdigest()
    assert snapshot(tmp_path) == before  # same bytes, same inode, not even rewritten
    assert leftovers(tmp_path) == []


def test_different_content_under_the_same_name_is_refused_and_the_original_kept(tmp_path):
    put_document(tmp_path, NAME, PDF, SIDECAR)
    before = snapshot(tmp_path)
    with pytest.raises(ArchiveConflict):
        put_document(tmp_path, NAME, PDF + b"tampered", SIDECAR)
    assert (tmp_path / NAME).read_bytes() == PDF
    assert snapshot(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_an_empty_document_is_archived_too(tmp_path):
    path, digest = put_document(tmp_path, "empty.pdf", b"", {})
    assert path.read_bytes() == b""
    assert digest == hashlib.sha256(b"").hexdigest()
    assert json.loads((tmp_path / "empty.pdf.json").read_text(encoding="utf-8"))["sha256"] == digest

