"""What the ``archive`` commands do, over the archive folder and the store's index of it.

* :func:`select_bags` finds contract folders by contract (id or number) or counterparty (id, INN or name), from
  the index, so a contract that has left the ledger is still found.
* :func:`verify_archive` checks the whole archive (or a selection) against the index (archive/verify.py).
* :func:`export_package` writes the auditor's package: a zip holding one BagIt bag, whose payload is each
  selected contract's bag (its documents in the date range, its whole journal), an index in CSV and HTML, the
  trust roots and instructions. It verifies offline: bagit-python for the bags, the journal chain with
  ``sha256sum``, the signatures with pdfsig or ``run_robots.py verify``.
* :func:`retention_report` lists documents past their retention period; nothing is ever deleted.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from archive.bag import (
    BAG_INFO,
    BAGIT_TXT,
    JOURNAL,
    MANIFEST,
    SOFTWARE,
    TAGMANIFEST,
    current_files,
    manifest_text,
    parse_manifest,
    read_journal,
)
from archive.verify import BagIndex, Finding, VerifyReport, find_bags, hash_all, payload_files, verify_bags
from robots.core.errors import UsageError
from robots.store.archive_index import archived_documents, bag_heads, open_legal_holds

HEADS = "journal-heads.csv"


@dataclass(frozen=True)
class BagRow:
    path: str
    contract_id: str
    contract_number: str
    counterparty_id: str
    counterparty_name: str
    counterparty_inn: str
    seq: int
    head: str


def bag_rows(store: Any) -> list[BagRow]:
    return [BagRow(r.path, r.contract_id, r.contract_number, r.counterparty_id, r.counterparty_name,
                   r.counterparty_inn, r.seq, r.head) for r in bag_heads(store)]


def select_bags(rows: Sequence[BagRow], contract: str | None = None, counterparty: str | None = None) -> list[BagRow]:
    """The bags of a contract (id or number) or a counterparty (id, INN or exact name); a usage error if none."""
    if contract is not None:
        chosen = [r for r in rows if contract in (r.contract_id, r.contract_number)]
        if not chosen:
            raise UsageError(f"no archived contract {contract!r} (give a contract id or number; "
                             "`run_robots.py archive list` shows them)")
        if len({r.contract_id for r in chosen}) > 1:
            ids = ", ".join(f"{r.contract_id} ({r.counterparty_name})" for r in chosen)
            raise UsageError(f"contract number {contract!r} is ambiguous: {ids}; give the contract id")
        return chosen
    if counterparty is not None:
        needle = counterparty.casefold()
        chosen = [r for r in rows if counterparty in (r.counterparty_id, r.counterparty_inn)
                  or r.counterparty_name.casefold() == needle]
        if not chosen:
            raise UsageError(f"no archived counterparty {counterparty!r} (give its id, INN or exact name)")
        return chosen
    return list(rows)


def bag_of(document_path: str) -> tuple[str, str]:
    """An indexed document's archive-relative path split into (its bag, its bag-relative ``data/...`` path)."""
    bag, _, rel = document_path.rpartition("/data/")
    return bag, f"data/{rel}"


def db_index(store: Any, rows: Sequence[BagRow]) -> dict[str, BagIndex]:
    docs: dict[str, dict[str, str]] = {r.path: {} for r in rows}
    for d in archived_documents(store):
        bag, rel = bag_of(d.path)
        if bag in docs:
            docs[bag][rel] = d.sha256
    return {r.path: BagIndex(r.seq, r.head, docs[r.path]) for r in rows}


def verify_archive(root: Path, store: Any, *, contract: str | None = None, counterparty: str | None = None,
                   signatures: Any = None, workers: int | None = None) -> VerifyReport:
    """Verify every bag on disk against the index (or only the selected contracts' bags)."""
    rows = bag_rows(store)
    whole = contract is None and counterparty is None
    chosen = rows if whole else select_bags(rows, contract, counterparty)
    index = db_index(store, chosen)
    folders = find_bags(root) if whole else [root / r.path for r in chosen if (root / r.path).is_dir()]
    report = verify_bags(folders, root, index=index, signatures=signatures, workers=workers)
    if whole:
        known = {r.path for r in rows}
        for d in archived_documents(store):
            if bag_of(d.path)[0] not in known:
                report.findings.append(Finding("index_mismatch", d.path, "the database lists this document, "
                                                                       "but not its contract folder"))
    return report


# -- export -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    out: Path
    contracts: int
    documents: int
    files: int
    bytes: int


def _documents(folder: Path, date_from: date | None, date_to: date | None) -> list[tuple[str, dict[str, Any]]]:
    """(bag-relative pdf path, sidecar) of each document of the bag in the date range, with its extra files."""
    files = current_files(read_journal(folder))
    out = []
    for path in sorted(files):
        if not path.endswith(".pdf"):
            continue
        side_path = folder / f"{path}.json"
        sidecar = json.loads(side_path.read_text(encoding="utf-8")) if side_path.is_file() else {}
        day = date.fromisoformat(sidecar["date"]) if sidecar.get("date") else \
            datetime.fromisoformat(files[path].at).date()
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        out.append((path, sidecar))
    return out


def export_package(root: Path, rows: Sequence[BagRow], *, out: Path, now: datetime, organization: str,
                   trust_roots: Sequence[Path] = (), date_from: date | None = None, date_to: date | None = None,
                   selection: str = "") -> ExportResult:
    """Write the auditor's zip atomically (a temporary file renamed into place)."""
    if out.suffix.lower() != ".zip":
        raise UsageError(f"--out {out}: the package is a zip file; name it *.zip")
    if out.exists():
        raise UsageError(f"--out {out} exists; the archive never overwrites, choose a new name")
    name = out.stem
    with tempfile.TemporaryDirectory(prefix="arbots-export-", dir=out.parent if out.parent.exists() else None) as tmp:
        pkg = Path(tmp) / name
        data = pkg / "data"
        data.mkdir(parents=True)
        index_rows: list[dict[str, str]] = []
        heads: list[tuple[str, int, str]] = []
        documents = 0
        for row in rows:
            src = root / row.path
            docs = _documents(src, date_from, date_to)
            if not docs:
                continue
            dst = data / row.path
            (dst / "data").mkdir(parents=True)
            journal = read_journal(src)
            chosen_paths = set()
            for pdf, _ in docs:
                chosen_paths |= {p for p in current_files(journal) if p == pdf or p.startswith(pdf + ".")}
            for rel in sorted(chosen_paths):
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / rel, dst / rel)
            shutil.copy2(src / JOURNAL, dst / JOURNAL)
            (dst / "bagit.txt").write_bytes(BAGIT_TXT)
            files = current_files(journal)
            chosen = {p: files[p] for p in chosen_paths}
            (dst / MANIFEST).write_bytes(manifest_text({p: e.sha256 for p, e in chosen.items()}))
            _write_info(dst, {
                "Source-Organization": organization,
                "External-Identifier": row.contract_id,
                "External-Description": f"{row.counterparty_name}, ИНН {row.counterparty_inn or '-'}, "
                                        f"договор {row.contract_number}; selection of an arbots contract bag",
                "Arbots-Selection": _range(date_from, date_to),
                "Bagging-Date": now.date().isoformat(),
                "Payload-Oxum": f"{sum(e.bytes for e in chosen.values())}.{len(chosen)}",
                "Bag-Software-Agent": SOFTWARE,
            })
            _write_tagmanifest(dst, ("bagit.txt", BAG_INFO, MANIFEST, JOURNAL))
            heads.append((row.path, row.seq, row.head))
            for pdf, side in docs:
                documents += 1
                sig = side.get("signature") or {}
                index_rows.append({
                    "date": side.get("date", ""), "counterparty": row.counterparty_name,
                    "inn": row.counterparty_inn, "contract": row.contract_number, "contract_id": row.contract_id,
                    "type": side.get("type", ""), "number": side.get("number", ""),
                    "file": f"data/{row.path}/{pdf}", "sha256": files[pdf].sha256, "bytes": str(files[pdf].bytes),
                    "total_open": side.get("total_open", ""),
                    "invoices": "; ".join(i.get("number", "") for i in side.get("invoices", [])),
                    "officer": sig.get("signer_name", ""), "position": sig.get("position", ""),
                    "signature_level": sig.get("level", ""), "signed_at": sig.get("signed_at", ""),
                    "certificate_serial": sig.get("certificate_serial", ""), "run_id": str(side.get("run_id", "")),
                })
        if not documents:
            raise UsageError(f"nothing to export: the selection has no documents {_range(date_from, date_to)}")
        _write_csv(data / "index.csv", index_rows)
        with (data / HEADS).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["bag", "seq", "head"])
            w.writerows(heads)
        certs = data / "certs"
        certs.mkdir()
        for i, pem in enumerate(trust_roots):
            shutil.copy2(pem, certs / (pem.name if pem.name else f"root-{i}.pem"))
        (data / "VERIFY.txt").write_text(_verify_text(), encoding="utf-8")
        (data / "index.html").write_text(_index_html(index_rows, organization, selection, date_from, date_to, heads,
                                                     now), encoding="utf-8")
        # The outer bag.
        (pkg / "bagit.txt").write_bytes(BAGIT_TXT)
        payload = payload_files(pkg)
        hashes = hash_all([pkg / p for p in payload])
        # Every payload file was written just above, so each has its hash (never None).
        (pkg / MANIFEST).write_bytes(manifest_text({p: cast("tuple[str, int]", hashes[str(pkg / p)])[0]
                                                    for p in payload}))
        total = sum((pkg / p).stat().st_size for p in payload)
        _write_info(pkg, {
            "Source-Organization": organization,
            "External-Description": f"arbots archive export: {selection} {_range(date_from, date_to)}".strip(),
            "Bagging-Date": now.date().isoformat(),
            "Payload-Oxum": f"{total}.{len(payload)}",
            "Bag-Software-Agent": SOFTWARE,
        })
        _write_tagmanifest(pkg, ("bagit.txt", BAG_INFO, MANIFEST))
        part = out.with_name(f".{out.name}.part")
        _zip(pkg, part, now)
        os.replace(part, out)
    return ExportResult(out, len(heads), documents, len(payload), total)


def _range(date_from: date | None, date_to: date | None) -> str:
    if not date_from and not date_to:
        return "all dates"
    return f"{date_from or '…'}..{date_to or '…'}"


def _write_info(folder: Path, fields: dict[str, str]) -> None:
    text = "".join(f"{k}: {' '.join(str(v).split())}\n" for k, v in fields.items() if v)
    (folder / BAG_INFO).write_text(text, encoding="utf-8")


def _write_tagmanifest(folder: Path, names: Sequence[str]) -> None:
    tags = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in names if (folder / n).is_file()}
    (folder / TAGMANIFEST).write_bytes(manifest_text(tags))


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))  # BOM: Excel reads the Cyrillic right


def _zip(folder: Path, out: Path, now: datetime) -> None:
    stamp = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{folder.name}/{path.relative_to(folder).as_posix()}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    with open(out, "rb") as fh:
        os.fsync(fh.fileno())


def _verify_text() -> str:
    return """How to verify this package (offline)
====================================

This folder is a BagIt bag (RFC 8493). Its payload (data/) holds one BagIt bag per contract,
each with the selected documents, their JSON sidecars and the contract's whole journal.

1. The package and every contract bag are complete and unchanged:
       pip install bagit
       bagit.py --validate .                      (this folder)
       bagit.py --validate data/<counterparty>/<contract>
   or, without Python:  sha256sum -c manifest-sha256.txt   (inside each bag)

2. Each contract's journal is an unbroken hash chain: line N+1's "prev" is the sha256 of line N
   (newline included). With standard tools:
       sed -n 1p journal.jsonl | sha256sum          -> equals "prev" in line 2
   The last line's sha256 equals the "head" in data/journal-heads.csv (recorded by arbots'
   database at export time). Every document's sha256 in the manifest equals its journal entry.

3. The signatures (PAdES) validate with any independent validator, e.g.
       pdfsig <document>.pdf
   with the trust roots in data/certs/ imported into the validator's trust store, or
       run_robots.py verify --offline --trust-root data/certs/<root>.pem <document>.pdf

4. Everything at once:
       run_robots.py archive verify --bag <this folder or the zip> --offline --trust-root data/certs/<root>.pem

Как проверить пакет: п. 1 — целостность (BagIt), п. 2 — цепочка журнала, п. 3 — электронные подписи.
"""


def _index_html(rows: list[dict[str, str]], organization: str, selection: str, date_from: date | None,
                date_to: date | None, heads: list[tuple[str, int, str]], now: datetime) -> str:
    e = html.escape
    body = "".join(
        f"<tr><td>{e(r['date'])}</td><td>{e(r['counterparty'])}<br><small>ИНН {e(r['inn'])}</small></td>"
        f"<td>{e(r['contract'])}</td><td>{e(r['type'])}<br><small>{e(r['number'])}</small></td>"
        f"<td class=n>{e(r['total_open'])}</td><td>{e(r['officer'])}<br><small>{e(r['position'])}</small></td>"
        f"<td>{e(r['signature_level'])}<br><small>{e(r['signed_at'])}</small></td>"
        f"<td><a href=\"{e(r['file'][5:])}\">{e(r['file'].rsplit('/', 1)[-1])}</a><br>"
        f"<small><code>{e(r['sha256'])}</code></small></td></tr>\n" for r in rows)
    chain = "".join(f"<tr><td>{e(b)}</td><td class=n>{s}</td><td><code>{e(h)}</code></td></tr>" for b, s, h in heads)
    return f"""<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Архив документов: {e(selection)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #bbb;padding:4px 6px;vertical-align:top;font-size:13px}} th{{background:#eee}}
.n{{text-align:right;white-space:nowrap}} small{{color:#555}} code{{font-size:11px}}</style></head><body>
<h1>Архив документов по дебиторской задолженности</h1>
<p>{e(organization)}. Выборка: {e(selection)}, период: {e(_range(date_from, date_to))}.
Сформировано {now:%Y-%m-%d %H:%M} UTC. Документов: {len(rows)}.</p>
<table><tr><th>Дата</th><th>Контрагент</th><th>Договор</th><th>Документ</th><th>Сумма долга, ₽</th>
<th>Подписант</th><th>Подпись</th><th>Файл и SHA-256</th></tr>
{body}</table>
<h2>Журналы (цепочки хешей)</h2>
<table><tr><th>Папка договора</th><th>Записей</th><th>Хеш последней записи</th></tr>{chain}</table>
<h2>Проверка</h2><pre>{e(_verify_text())}</pre>
</body></html>
"""


# -- verifying an exported package ----------------------------------------------------------------------------


def verify_package(path: Path, *, signatures: Any = None, workers: int | None = None) -> VerifyReport:
    """Verify an exported package (a zip or its unpacked folder) without the database."""
    if path.is_file():
        with tempfile.TemporaryDirectory(prefix="arbots-verify-") as tmp:
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    target = (Path(tmp) / member).resolve()
                    if Path(tmp).resolve() not in target.parents:
                        raise UsageError(f"{path}: entry {member!r} would unpack outside the folder; not a package")
                zf.extractall(tmp)
            tops = [p for p in Path(tmp).iterdir() if p.is_dir()]
            if len(tops) != 1:
                raise UsageError(f"{path}: expected one top folder in the zip, found {len(tops)}")
            return verify_package(tops[0], signatures=signatures, workers=workers)
    if not (path / "bagit.txt").is_file():
        raise UsageError(f"{path}: not a bag (no bagit.txt); give an exported package or its zip")
    report = VerifyReport()
    # The outer bag: its manifest against its payload.
    manifest_path = path / MANIFEST
    manifest = parse_manifest(manifest_path.read_bytes()) if manifest_path.is_file() else {}
    payload = payload_files(path)
    hashes = hash_all([path / p for p in payload], workers)
    for rel, sha in sorted(manifest.items()):
        got = hashes.get(str(path / rel))
        actual = got[0] if got else None
        if actual is None:
            report.findings.append(Finding("missing", rel, "listed in the package manifest but missing"))
        elif actual != sha:
            report.findings.append(Finding("modified", rel, "sha256 differs from the package manifest"))
    for rel in sorted(set(payload) - set(manifest)):
        report.findings.append(Finding("extra", rel, "in the package but not in its manifest"))
    tm = path / TAGMANIFEST
    if tm.is_file():
        for name, sha in parse_manifest(tm.read_bytes()).items():
            if not (path / name).is_file() or hashlib.sha256((path / name).read_bytes()).hexdigest() != sha:
                report.findings.append(Finding("modified", name, "differs from the package's tag manifest"))
    # The contract bags inside, each a selection of its journal; heads from journal-heads.csv.
    data = path / "data"
    heads: dict[str, tuple[int, str]] = {}
    if (data / HEADS).is_file():
        with (data / HEADS).open(encoding="utf-8") as fh:
            heads = {r["bag"]: (int(r["seq"]), r["head"]) for r in csv.DictReader(fh)}
    bags = [p.parent for p in sorted(data.rglob("bagit.txt"))]
    inner = verify_bags(bags, data, index=None, signatures=signatures, partial=True, workers=workers)
    report.findings += inner.findings
    report.bags, report.files, report.signatures = inner.bags, inner.files, inner.signatures
    report.bytes = sum((path / p).stat().st_size for p in payload)
    for bag in bags:
        label = bag.relative_to(data).as_posix()
        if label not in heads:
            report.findings.append(Finding("chain_broken", label, f"no recorded head in {HEADS}"))
            continue
        seq, head = heads[label]
        lines = (bag / JOURNAL).read_bytes().splitlines(keepends=True) if (bag / JOURNAL).is_file() else []
        if len(lines) < seq or hashlib.sha256(lines[seq - 1]).hexdigest() != head:
            report.findings.append(Finding("chain_broken", f"{label}/{JOURNAL}",
                                           f"does not end in the head recorded in {HEADS} (line {seq})"))
    return report


# -- retention ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionRow:
    path: str
    contract_id: str
    created: date
    keep_until: date
    held: str | None


def retention_report(store: Any, retention_years: int, as_of: date) -> list[RetentionRow]:
    """Documents whose retention period ended by ``as_of``: kept until the end of the year ``retention_years``
    after the year they were made in. Held contracts are marked; nothing is deleted by arbots."""
    holds = open_legal_holds(store)
    out = []
    for d in archived_documents(store):
        created = (d.created_at.date() if isinstance(d.created_at, datetime)
                   else date.fromisoformat(str(d.created_at)[:10]))
        until = date(created.year + retention_years, 12, 31)
        if until < as_of:
            out.append(RetentionRow(d.path, d.contract_id, created, until, holds.get(d.contract_id)))
    return out
