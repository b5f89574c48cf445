"""``archive verify``: prove that nothing in the archive changed, went missing or appeared.

For every bag it checks, and reports each problem it finds (never stopping at the first):

* **structure**: ``bagit.txt`` is BagIt 1.0; ``bag-info.txt``'s Payload-Oxum matches the journal;
* **the chain**: every journal line names the sha256 of the line before it, and the sequence has no gap;
* **the head**: the journal's line at the database's recorded length hashes to the recorded head. This catches a
  journal that was truncated, or rewritten whole with every link recomputed;
* **tag files**: ``tagmanifest-sha256.txt`` matches bagit.txt, bag-info.txt, the manifest and the journal;
* **the manifest** says exactly what the journal says;
* **the payload**: every journaled file is there with its journaled sha256 (*missing*, *modified*), and nothing
  else is in ``data/`` (*extra*);
* **the index**: every document the database lists is in its bag with the same sha256, and every bag on disk is
  in the database and the other way round;
* **signatures**: every PDF's signatures validate (signing.verify).

Hashing is the expensive part; it runs over all files at once in a thread pool (hashlib releases the GIL).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archive.bag import (
    BAG_INFO,
    BAGIT_TXT,
    GENESIS,
    JOURNAL,
    MANIFEST,
    SERVICE_DIR,
    TAG_FILES,
    TAGMANIFEST,
    current_files,
    parse_entry,
    parse_manifest,
)

#: Kinds of problems, in the order the report lists them.
KINDS = ("not_a_bag", "chain_broken", "modified", "missing", "extra", "manifest_mismatch", "index_mismatch",
         "not_indexed", "signature_invalid")


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str    # archive-relative path of the bag or file
    detail: str


@dataclass(frozen=True)
class BagIndex:
    """What the database says about one bag."""

    seq: int
    head: str
    documents: Mapping[str, str]   # bag-relative path -> sha256


@dataclass
class VerifyReport:
    bags: int = 0
    files: int = 0
    bytes: int = 0
    signatures: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


SignatureCheck = Callable[[Path], tuple[bool, str]]


def sha256_file(path: str | Path) -> tuple[str, int] | None:
    """(sha256, size) of a file, or None when it cannot be read. Archive files are small: one read, one hash."""
    try:
        with open(path, "rb", buffering=0) as fh:
            data = fh.readall()
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest(), len(data)


def hash_all(paths: Iterable[str | Path], workers: int | None = None) -> dict[str, tuple[str, int] | None]:
    """``str(path) -> (sha256, size)``. Threads help when files are large or storage has latency (hashlib and
    reads release the GIL); on small cached files one thread is as fast, so that is the default below 4 CPUs."""
    keys = [str(p) for p in paths]
    workers = workers or (1 if (os.cpu_count() or 1) < 4 else min(8, os.cpu_count() or 1))
    if workers <= 1 or len(keys) < 64:
        return {k: sha256_file(k) for k in keys}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(keys, pool.map(sha256_file, keys, chunksize=64)))


def find_bags(root: Path) -> list[Path]:
    """Contract folders under the archive root: ``<counterparty>/<contract>/`` (the service folder excluded)."""
    if not root.is_dir():
        return []
    return sorted(ct for cp in root.iterdir() if cp.is_dir() and cp.name != SERVICE_DIR
                  for ct in cp.iterdir() if ct.is_dir())


def payload_files(folder: Path) -> list[str]:
    """Bag-relative paths (``data/...``) of every file under ``data/``."""
    base = str(folder)
    cut = len(base) + 1
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(base, "data")):
        dirnames.sort()
        out.extend(os.path.join(dirpath, name)[cut:] for name in filenames)
    if os.sep != "/":
        out = [p.replace(os.sep, "/") for p in out]
    return sorted(out)


@dataclass
class _Bag:
    folder: Path
    label: str
    lines: list[bytes]
    payload: list[str]


def verify_bags(folders: Sequence[Path], root: Path, *, index: Mapping[str, BagIndex] | None = None,
                signatures: SignatureCheck | None = None, partial: bool = False,
                workers: int | None = None) -> VerifyReport:
    """Verify the bags at ``folders`` (labelled relative to ``root``).

    ``index``: the database's view (bag label -> :class:`BagIndex`); None when verifying without a database
    (an exported package). ``partial``: the bag holds a selection of its journal's files (an export), so a
    journaled file that is not in the manifest is expected to be absent.
    """
    report = VerifyReport()
    bags: list[_Bag] = []
    for folder in folders:
        label = folder.relative_to(root).as_posix() if folder != root else "."
        if not (folder / "bagit.txt").is_file():
            report.findings.append(Finding("not_a_bag", label, "no bagit.txt: this folder is not a BagIt bag"))
            continue
        journal = folder / JOURNAL
        lines = journal.read_bytes().splitlines(keepends=True) if journal.is_file() else []
        bags.append(_Bag(folder, label, lines, payload_files(folder)))
    # One hashing pass over every payload and tag file of every bag.
    targets = [f"{b.folder}/{rel}" for b in bags for rel in b.payload]
    targets += [f"{b.folder}/{name}" for b in bags for name in (*TAG_FILES, TAGMANIFEST)]
    hashes = hash_all(targets, workers)
    report.bags = len(bags)
    for bag in bags:
        _check_bag(bag, hashes, index.get(bag.label) if index is not None else None, index is not None, partial,
                   signatures, report)
    if index is not None:
        seen = {b.label for b in bags} | {f.where for f in report.findings if f.kind == "not_a_bag"}
        for label in sorted(set(index) - seen):
            report.findings.append(Finding("missing", label, "the database lists this contract folder, "
                                                             "but it is not in the archive"))
    report.findings.sort(key=lambda f: (KINDS.index(f.kind), f.where))
    return report


def _check_bag(bag: _Bag, hashes: Mapping[str, tuple[str, int] | None], db: BagIndex | None, indexed: bool,
               partial: bool, signatures: SignatureCheck | None, report: VerifyReport) -> None:
    add = report.findings.append
    folder, label = bag.folder, bag.label
    base = str(folder)

    def digest(rel: str) -> str | None:
        got = hashes.get(f"{base}/{rel}")
        return got[0] if got else None
    if (folder / "bagit.txt").read_bytes().replace(b"\r\n", b"\n") != BAGIT_TXT:
        add(Finding("not_a_bag", f"{label}/bagit.txt", "not the BagIt 1.0 declaration arbots writes"))

    # The chain.
    entries = []
    prev = GENESIS
    for n, line in enumerate(bag.lines, 1):
        try:
            e = parse_entry(line)
        except (ValueError, KeyError, TypeError):
            add(Finding("chain_broken", f"{label}/{JOURNAL}", f"line {n} is not a journal entry"))
            prev = hashlib.sha256(line).hexdigest()
            continue
        if e.prev != prev:
            add(Finding("chain_broken", f"{label}/{JOURNAL}",
                        f"line {n}: prev {e.prev[:12]}… is not the sha256 of line {n - 1} ({prev[:12]}…); "
                        "the journal was edited"))
        if e.seq != n:
            add(Finding("chain_broken", f"{label}/{JOURNAL}", f"line {n} has sequence number {e.seq}"))
        prev = e.hash
        entries.append(e)
    if db is not None:
        if db.seq < 1:
            add(Finding("not_indexed", label, "the database recorded no journal head for this contract folder"))
        elif len(bag.lines) < db.seq:
            add(Finding("chain_broken", f"{label}/{JOURNAL}",
                        f"the journal has {len(bag.lines)} lines; the database recorded {db.seq} (truncated)"))
        elif hashlib.sha256(bag.lines[db.seq - 1]).hexdigest() != db.head:
            add(Finding("chain_broken", f"{label}/{JOURNAL}",
                        f"line {db.seq} does not hash to the head the database recorded; the journal was rewritten"))
    elif indexed:
        add(Finding("not_indexed", label, "this contract folder is not in the database's archive index"))

    journaled = {p: e.sha256 for p, e in current_files(entries).items()}

    # Tag files.
    tm_path = folder / TAGMANIFEST
    if not tm_path.is_file():
        add(Finding("missing", f"{label}/{TAGMANIFEST}", "the tag manifest is missing"))
    else:
        tags = parse_manifest(tm_path.read_bytes())
        for name in TAG_FILES:
            if (folder / name).is_file() and name not in tags:
                add(Finding("manifest_mismatch", f"{label}/{name}", "not listed in the tag manifest"))
        for name, sha in tags.items():
            actual = digest(name) if name in (*TAG_FILES, TAGMANIFEST) else None
            if actual is None and not (folder / name).is_file():
                add(Finding("missing", f"{label}/{name}", "listed in the tag manifest but missing"))
            elif actual is not None and actual != sha:
                add(Finding("modified", f"{label}/{name}", "sha256 differs from the tag manifest"))

    # The manifest against the journal.
    man_path = folder / MANIFEST
    manifest = parse_manifest(man_path.read_bytes()) if man_path.is_file() else {}
    if not man_path.is_file():
        add(Finding("missing", f"{label}/{MANIFEST}", "the payload manifest is missing"))
    for path, sha in manifest.items():
        if path not in journaled:
            add(Finding("manifest_mismatch", f"{label}/{path}", "in the manifest but never journaled"))
        elif journaled[path] != sha:
            add(Finding("manifest_mismatch", f"{label}/{path}", "the manifest's sha256 differs from the journal's"))
    expected = {p: s for p, s in journaled.items() if p in manifest} if partial else journaled
    if not partial:
        for path in sorted(set(journaled) - set(manifest)):
            add(Finding("manifest_mismatch", f"{label}/{path}", "journaled but not in the manifest"))
    oxum = _oxum(folder)
    if oxum is not None:
        sizes = {e.path: e.bytes for e in entries if e.path in expected}
        want = f"{sum(sizes.values())}.{len(sizes)}"
        if oxum != want:
            add(Finding("manifest_mismatch", f"{label}/{BAG_INFO}", f"Payload-Oxum {oxum}, the journal says {want}"))

    # The payload.
    on_disk = set(bag.payload)
    for path, sha in sorted(expected.items()):
        actual = digest(path)
        if path not in on_disk or actual is None:
            add(Finding("missing", f"{label}/{path}", "journaled but missing from the folder"))
        elif actual != sha:
            add(Finding("modified", f"{label}/{path}", f"sha256 {actual[:12]}… differs from the journal's "
                                                      f"{sha[:12]}… (and the manifest's)"))
    for path in sorted(on_disk - set(expected)):
        add(Finding("extra", f"{label}/{path}", "in the folder but never archived (not in the journal)"))
    report.files += len(on_disk)
    report.bytes += sum(got[1] for p in on_disk if (got := hashes.get(f"{base}/{p}")))

    # The database's index of documents.
    if db is not None:
        for path, sha in sorted(db.documents.items()):
            if path not in journaled:
                add(Finding("index_mismatch", f"{label}/{path}", "the database lists it, the journal does not"))
            elif journaled[path] != sha:
                add(Finding("index_mismatch", f"{label}/{path}", "the database's sha256 differs from the journal's"))

    # Signatures.
    if signatures is not None:
        for path in sorted(p for p in expected if p.lower().endswith(".pdf") and p in on_disk):
            ok, detail = signatures(folder / path)
            report.signatures += 1
            if not ok:
                add(Finding("signature_invalid", f"{label}/{path}", detail))


def _oxum(folder: Path) -> str | None:
    info = folder / BAG_INFO
    if not info.is_file():
        return None
    for line in info.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Payload-Oxum":
            return value.strip()
    return None


def signature_checker(trust_roots: tuple[Any, ...], *, online: bool, at: Any = None) -> SignatureCheck:
    from signing.verify import verify_file

    def check(path: Path) -> tuple[bool, str]:
        r = verify_file(path, trust_roots, online=online, at=at)
        if r.ok:
            return True, ""
        problems = [r.error] if r.error else []
        problems += [p for s in r.signatures for p in s.problems]
        return False, "; ".join(problems) or "the signature does not validate"

    return check
