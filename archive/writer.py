"""Atomic, never-overwriting writes into the archive.

Each file is written to a temporary name in the same folder, fsynced and renamed into place, so a reader (or an
auditor's copy) never sees half a document. A file that is there already is left alone when its bytes are the
same (a step re-executed after a crash) and refused when they differ: the archive never overwrites evidence.
A sidecar is written once, after its document, and never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class ArchiveConflict(Exception):
    """A different file already stands under that name in the archive."""


def put_document(folder: Path, filename: str, content: bytes, sidecar: dict[str, Any]) -> tuple[Path, str]:
    """Store ``content`` and its JSON sidecar ``<filename>.json``; return the path and the sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(content).hexdigest()
    target = folder / filename
    meta = json.dumps({**sidecar, "file": filename, "sha256": digest}, ensure_ascii=False, indent=2,
                      sort_keys=True).encode("utf-8")
    _write_once(target, content)
    sidecar_path = folder / f"{filename}.json"
    if not sidecar_path.exists():
        # Written once, right after its document. A step re-executed after a crash finds the same document
        # (same name = same run) and keeps the sidecar it wrote the first time, even if the ledger changed since.
        _write_once(sidecar_path, meta)
    return target, digest


def _write_once(target: Path, data: bytes) -> None:
    if target.exists():
        if target.read_bytes() == data:
            return
        raise ArchiveConflict(f"{target} exists with different content; the archive never overwrites a document")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, target)  # fails if the name was taken meanwhile: never replaces an existing file
    except FileExistsError:
        if target.read_bytes() != data:
            raise ArchiveConflict(f"{target} was written concurrently with different content") from None
    finally:
        os.unlink(tmp)
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
