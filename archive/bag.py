"""A contract folder is a BagIt bag (RFC 8493) with a hash-chained journal of every write.

Layout of ``<archive root>/<counterparty>/<contract>/``::

    bagit.txt                 BagIt-Version 1.0, UTF-8 tag files
    bag-info.txt              who, which contract, Payload-Oxum, the date of the last write
    manifest-sha256.txt       sha256 of every payload file (derived from the journal)
    tagmanifest-sha256.txt    sha256 of the four tag files above and below
    journal.jsonl             one JSON line per archive write; each line holds the sha256 of the line before
    data/                     the documents and their JSON sidecars

**The journal is the source of truth; the manifests are derived from it.** A write happens under a per-bag lock
(``fcntl.flock`` on ``<root>/.arbots/locks/``), in an order that a crash at any point leaves repairable:

1. each payload file is written to ``<root>/.arbots/tmp``, fsynced and hard-linked into ``data/`` (never
   replacing a file: the archive never overwrites evidence);
2. the journal gets one line per new file, appended and fsynced;
3. ``manifest-sha256.txt``, ``bag-info.txt`` and ``tagmanifest-sha256.txt`` are rewritten from the journal,
   each atomically (temporary file, fsync, rename).

A step re-executed after a crash calls :meth:`Archive.put` again with the same files: existing identical files
and journal lines are kept, missing lines are appended and the manifests rewritten, so the bag ends complete.

The chain can be checked with standard tools: line N+1's ``prev`` is ``sed -n Np journal.jsonl | sha256sum``.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.folders import contract_folder
from robots.support.durable import fsync_path

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
BAG_INFO = "bag-info.txt"
JOURNAL = "journal.jsonl"
TAG_FILES = ("bagit.txt", BAG_INFO, MANIFEST, JOURNAL)
GENESIS = "0" * 64
#: Folder of the archive root that holds locks and temporary files; never part of any bag.
SERVICE_DIR = ".arbots"
SOFTWARE = "arbots (https://arbots.example)"


class ArchiveConflict(Exception):
    """A different file already stands under that name in the archive."""


class JournalError(Exception):
    """The journal cannot be read (a line that is not JSON, a missing field)."""


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    at: str
    action: str
    path: str          # bag-relative, "data/<name>"
    sha256: str
    bytes: int
    run_id: int | None
    prev: str
    line: builtins.bytes  # the raw line, newline included; its sha256 is the next entry's ``prev``

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.line).hexdigest()


@dataclass(frozen=True)
class NewFile:
    """A payload file to store. ``keep_existing``: a different file already there wins (sidecars are written once)."""

    name: str
    content: bytes
    keep_existing: bool = False


@dataclass(frozen=True)
class StoredFile:
    path: str          # bag-relative
    sha256: str
    bytes: int


@dataclass(frozen=True)
class PutResult:
    folder: Path
    files: tuple[StoredFile, ...]
    seq: int           # the journal's length after the write
    head: str          # the sha256 of the journal's last line
    appended: int      # lines this call added (0 when everything was there already)


def entry_line(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


def read_journal(folder: Path) -> list[JournalEntry]:
    """The journal's entries in order; a line that cannot be read raises :class:`JournalError` naming it."""
    path = folder / JOURNAL
    if not path.exists():
        return []
    entries = []
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            try:
                entries.append(parse_entry(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise JournalError(f"{path}:{n}: not a journal entry ({type(exc).__name__}: {exc})") from None
    return entries


def parse_entry(line: bytes) -> JournalEntry:
    """One raw journal line (newline included); ValueError, KeyError or TypeError if it is not an entry."""
    d = json.loads(line)
    return JournalEntry(int(d["seq"]), str(d["at"]), str(d["action"]), str(d["path"]), str(d["sha256"]),
                        int(d["bytes"]), d.get("run_id"), str(d["prev"]), line)


def current_files(entries: Sequence[JournalEntry]) -> dict[str, JournalEntry]:
    """Bag-relative path -> the entry that put the file there (files are never replaced, so one per path)."""
    return {e.path: e for e in entries if e.action == "add"}


def manifest_text(files: Mapping[str, str]) -> bytes:
    return "".join(f"{sha}  {path}\n" for path, sha in sorted(files.items())).encode("utf-8")


def parse_manifest(raw: bytes) -> dict[str, str]:
    """``path -> sha256`` of a manifest (blank and # lines skipped, as bagit-python does)."""
    result = {}
    for line in raw.decode("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sha, _, path = line.partition(" ")
        result[path.strip()] = sha.lower()
    return result


class Archive:
    """The archive root: one bag per contract folder."""

    def __init__(self, root: Path, organization: str = ""):
        self.root = root
        self.organization = organization

    def folder(self, counterparty_name: str, counterparty_key: str, contract_number: str) -> Path:
        return contract_folder(self.root, counterparty_name, counterparty_key, contract_number)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @contextlib.contextmanager
    def locked(self, folder: Path) -> Iterator[None]:
        """Exclusive access to one bag across processes and threads of this host."""
        locks = self.root / SERVICE_DIR / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(self.relative(folder).encode("utf-8")).hexdigest() + ".lock"
        fd = os.open(locks / name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def put(self, folder: Path, files: Sequence[NewFile], *, now: datetime, run_id: int | None = None,
            info: Mapping[str, str] | None = None) -> PutResult:
        """Store ``files`` in the bag at ``folder`` (idempotent; never overwrites); return the new journal head."""
        if self.root.resolve() not in folder.resolve().parents:
            raise ValueError(f"{folder} is outside the archive root {self.root}")
        with self.locked(folder):
            return self._put(folder, files, now=now, run_id=run_id, info=info)

    def put_receipt(self, folder: Path, document: str, content: bytes, *, kind: str = "delivery", now: datetime,
                    run_id: int | None = None) -> PutResult:
        """Store a receipt about the payload file ``data/<document>`` (e.g. that it was e-mailed) as
        ``data/<document>.<kind>-<n>.json``, ``n`` the first free number, unless a receipt of that kind with the
        same bytes is there already (a step re-executed after a crash): then nothing is written and its
        PutResult is returned. Like every payload file, a receipt is journaled and never replaced."""
        if self.root.resolve() not in folder.resolve().parents:
            raise ValueError(f"{folder} is outside the archive root {self.root}")
        with self.locked(folder):
            entries = read_journal(folder)
            known = current_files(entries)
            if f"data/{document}" not in known:
                raise ArchiveConflict(f"{folder / 'data' / document} is not in the archive; a receipt is only "
                                      "written next to an archived document")
            digest = hashlib.sha256(content).hexdigest()
            n = 1
            while True:
                name = f"data/{document}.{kind}-{n}.json"
                entry = known.get(name)
                if entry is None and not (folder / name).exists():
                    break
                if entry is not None and entry.sha256 == digest:
                    return PutResult(folder, (StoredFile(name, digest, len(content)),), len(entries),
                                     entries[-1].hash, 0)
                if entry is None and (folder / name).read_bytes() == content:
                    break  # written before a crash but not journaled: _put journals it
                n += 1
            return self._put(folder, [NewFile(name.removeprefix("data/"), content)], now=now, run_id=run_id,
                             info=_read_info(folder))

    def _put(self, folder: Path, files: Sequence[NewFile], *, now: datetime, run_id: int | None,
             info: Mapping[str, str] | None) -> PutResult:
        """:meth:`put` with the bag's lock held."""
        if folder.is_dir() and not (folder / "bagit.txt").exists():
            stray = sorted(x.name for x in folder.iterdir() if x.name != "data")
            if stray:
                raise ArchiveConflict(
                    f"{folder} holds files but is not a BagIt bag ({', '.join(stray[:3])}...): it was written by "
                    "an older arbots or by hand. Move those files out (nothing is deleted by arbots), or point "
                    "paths.archive at a new folder")
        data = folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        if not (folder / "bagit.txt").exists():
            self._replace(folder / "bagit.txt", BAGIT_TXT)
        entries = read_journal(folder)
        known = current_files(entries)
        stored: list[StoredFile] = []
        new_lines: list[bytes] = []
        prev = entries[-1].hash if entries else GENESIS
        seq = len(entries)
        for f in files:
            rel = f"data/{f.name}"
            content = self._write_once(data / f.name, f.content, f.keep_existing)
            digest = hashlib.sha256(content).hexdigest()
            stored.append(StoredFile(rel, digest, len(content)))
            if rel in known:
                if known[rel].sha256 != digest:
                    raise ArchiveConflict(f"{data / f.name} differs from what the journal recorded; "
                                          f"run `run_robots.py archive verify` and investigate")
                continue
            seq += 1
            line = entry_line({"seq": seq, "at": now.isoformat(), "action": "add", "path": rel,
                               "sha256": digest, "bytes": len(content), "run_id": run_id, "prev": prev})
            new_lines.append(line)
            prev = hashlib.sha256(line).hexdigest()
            known[rel] = JournalEntry(seq, now.isoformat(), "add", rel, digest, len(content), run_id, "", line)
        if new_lines:
            self._append(folder / JOURNAL, b"".join(new_lines))
        if new_lines or not (folder / TAGMANIFEST).exists():
            self._write_tag_files(folder, known, now, info or {})
        return PutResult(folder, tuple(stored), seq, prev, len(new_lines))

    # -- internals -------------------------------------------------------------------------------------------

    def _tmp(self, data: bytes) -> str:
        tmp_dir = self.root / SERVICE_DIR / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="put-", suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def _write_once(self, target: Path, content: bytes, keep_existing: bool) -> bytes:
        """Write ``target`` unless it exists; return the bytes that stand there afterwards."""
        if target.exists():
            existing = target.read_bytes()
            if existing == content or keep_existing:
                return existing
            raise ArchiveConflict(f"{target} exists with different content; the archive never overwrites a document")
        tmp = self._tmp(content)
        try:
            os.link(tmp, target)  # fails if the name is taken: never replaces an existing file
        except FileExistsError:  # another writer without our lock (should not happen); same rule
            existing = target.read_bytes()
            if existing != content and not keep_existing:
                raise ArchiveConflict(f"{target} was written concurrently with different content") from None
            return existing
        finally:
            os.unlink(tmp)
        fsync_path(target.parent)
        return content

    def _replace(self, target: Path, data: bytes) -> None:
        """Atomically replace a tag file (temporary file, fsync, rename)."""
        tmp = self._tmp(data)
        try:
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_path(target.parent)

    def _append(self, journal: Path, lines: bytes) -> None:
        created = not journal.exists()
        fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_path(journal.parent)

    def _write_tag_files(self, folder: Path, known: Mapping[str, JournalEntry], now: datetime,
                         info: Mapping[str, str]) -> None:
        self._replace(folder / MANIFEST, manifest_text({p: e.sha256 for p, e in known.items()}))
        fields = {
            "Source-Organization": self.organization,
            **info,
            "Bagging-Date": now.date().isoformat(),
            "Payload-Oxum": f"{sum(e.bytes for e in known.values())}.{len(known)}",
            "Bag-Software-Agent": SOFTWARE,
        }
        text = "".join(f"{k}: {_one_line(v)}\n" for k, v in fields.items() if v)
        self._replace(folder / BAG_INFO, text.encode("utf-8"))
        tags = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                for name in TAG_FILES if (folder / name).exists()}
        self._replace(folder / TAGMANIFEST, manifest_text(tags))


#: bag-info.txt fields that _write_tag_files computes; the others are the caller's and are kept on a rewrite.
_COMPUTED_INFO = ("Source-Organization", "Bagging-Date", "Payload-Oxum", "Bag-Software-Agent")


def _read_info(folder: Path) -> dict[str, str]:
    """The caller-given fields of an existing bag-info.txt (External-Identifier, ...)."""
    path = folder / BAG_INFO
    if not path.is_file():
        return {}
    fields = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in _COMPUTED_INFO:
            fields[key.strip()] = value.strip()
    return fields


def _one_line(value: str) -> str:
    return " ".join(str(value).split())

