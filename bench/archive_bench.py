"""Archive benchmark: the hash pass of ``archive verify`` against bagit-python's full validation of the same bags.

    .venv/bin/python bench/archive_bench.py            # 10,000 documents in 500 bags, a few minutes (make bench)
    .venv/bin/python bench/archive_bench.py --quick    # 160 documents, a smoke run

1. Renders and signs (B-B, a throwaway certomancer PKI) ``--letters`` distinct letters the way the robots do.
2. Archives ``--docs`` documents with ``archive.Archive.put`` (each a signed letter made unique by a trailing PDF
   comment, plus its JSON sidecar) into bags of ``--per-bag`` documents: real bags, real journals.
3. Times, in turns, with the page cache warm for both (one untimed read of everything first):
   * ours: ``archive.verify.verify_bags`` without signatures: bagit.txt, the journal chain, the tag manifest, the
     manifest against the journal, Payload-Oxum, every payload file hashed and compared, extra files;
   * bagit-python: ``bagit.Bag(path).validate()`` per bag (structure, Payload-Oxum, completeness, every checksum
     of every manifest and tag manifest), as an auditor runs it (``bagit.py --validate``, one process);
   * and bagit-python with ``processes=2`` (its multiprocessing pool), the strongest form of the baseline.
   Target: ours / bagit-python ≤ 1.0.
4. Signature checks (``signing.verify``, offline) in documents per second, on the distinct signed letters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

TARGET_RATIO = 1.0


def make_signed_letters(n: int, tmp: Path) -> tuple[list[bytes], Path]:
    from letters import OFFICER_ID, OFFICER_NAME, OFFICER_POSITION, Letters, make_letters
    from sign_bench import Ours

    from demo.pki import OfficerCert, create_pki, free_port

    pki = create_pki(tmp / "pki", [OfficerCert(OFFICER_ID, OFFICER_NAME, OFFICER_POSITION)],
                     now=datetime.now(UTC), port=free_port())
    env = {"folder": str(pki.folder), "p12": str(pki.p12[OFFICER_ID]), "password_file": str(pki.password_file),
           "root_pem": str(pki.root_pem), "cert_pem": str(pki.cert_pem[OFFICER_ID]), "tsa_url": pki.tsa_url,
           "at": datetime.now(UTC).replace(microsecond=0)}
    letters, ours = Letters(), Ours(env)
    try:
        signed = []
        for letter in make_letters(0, n):
            signed.append(ours.sign(letters.render(letter), letter.title))
    finally:
        ours.close()
    return signed, pki.root_pem


def build_archive(root: Path, signed: list[bytes], docs: int, per_bag: int) -> list[Path]:
    from archive import Archive, NewFile

    archive = Archive(root, "ООО «Арботс Бенч»")
    now = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)
    folders = []
    for i in range(docs):
        bag = i // per_bag
        folder = archive.folder(f"ООО «Должник {bag}»", f"77{bag:08d}", f"Д-{bag}/2026")
        if not folders or folders[-1] != folder:
            folders.append(folder)
        pdf = signed[i % len(signed)] + f"%arbots-bench {i}\n".encode()
        name = f"2026-03-12 ARB-2026-{i:06d} Досудебное требование.pdf"
        sidecar = json.dumps({"file": name, "run_id": i, "type": "Досудебное требование", "total_open": "12345.67"},
                             ensure_ascii=False, indent=2).encode()
        archive.put(folder, [NewFile(name, pdf), NewFile(name + ".json", sidecar, keep_existing=True)], now=now,
                    run_id=i)
    return folders


def ours(root: Path, folders: list[Path]) -> dict[str, Any]:
    from archive.verify import verify_bags

    t = time.perf_counter()
    report = verify_bags(folders, root, index=None, signatures=None)
    elapsed = time.perf_counter() - t
    assert report.ok, report.findings[:5]
    return {"seconds": elapsed, "files": report.files, "bytes": report.bytes}


def bagit_python(folders: list[Path], processes: int = 1) -> dict[str, Any]:
    import bagit

    t = time.perf_counter()
    for folder in folders:
        bagit.Bag(str(folder)).validate(processes=processes)
    return {"seconds": time.perf_counter() - t}


def check_tampered(root: Path, folders: list[Path]) -> str:
    """Both sides must reject a bag with one payload byte changed (same size, so only a hash can tell): the agreement
    that shows both really hash what they pass. Run after the timings; the archive is not used again."""
    import bagit

    from archive.verify import verify_bags

    folder = folders[-1]
    pdf = sorted((folder / "data").rglob("*.pdf"))[0]
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pdf.write_bytes(bytes(data))
    report = verify_bags([folder], root, index=None, signatures=None)
    assert not report.ok and {f.kind for f in report.findings} == {"modified"}, report.findings
    try:
        bagit.Bag(str(folder)).validate()
    except bagit.BagValidationError as exc:
        assert [type(d) for d in exc.details] == [bagit.ChecksumMismatch], exc
    else:
        raise AssertionError(f"bagit-python accepted {folder} with a changed payload file")
    return folder.relative_to(root).as_posix()


def read_everything(root: Path) -> int:
    total = 0
    for p in root.rglob("*"):
        if p.is_file():
            total += len(p.read_bytes())
    return total


def signatures(signed: list[bytes], root_pem: Path, tmp: Path) -> dict[str, Any]:
    from signing.keys import load_cert_files
    from signing.verify import verify_file

    roots = load_cert_files((root_pem,), tmp, "root")
    files = []
    for i, pdf in enumerate(signed):
        f = tmp / f"sig-{i}.pdf"
        f.write_bytes(pdf)
        files.append(f)
    verify_file(files[0], roots, online=False)  # warm-up: imports, caches
    t = time.perf_counter()
    ok = sum(verify_file(f, roots, online=False).ok for f in files)
    elapsed = time.perf_counter() - t
    return {"docs": len(files), "valid": ok, "seconds": elapsed, "docs_per_s": len(files) / elapsed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=10_000, help="documents in the archive (default 10000)")
    ap.add_argument("--per-bag", type=int, default=20, help="documents per contract bag (default 20)")
    ap.add_argument("--letters", type=int, default=100, help="distinct signed letters (default 100)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side, in turns (default 3)")
    ap.add_argument("--quick", action="store_true", help="160 documents, 8 letters, 2 runs: a smoke run, the checks "
                    "decide the exit status, not the target")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.quick:
        args.docs, args.letters, args.repeat = 160, 8, 2
    logging.disable(logging.WARNING)  # bagit-python logs every file it checks

    import importlib.metadata as md

    versions = {"python": platform.python_version(), "bagit": md.version("bagit"), "cpus": os.cpu_count()}
    print("Python {python}, bagit-python {bagit}; {cpus} CPUs".format(**versions))
    results: dict[str, Any] = {"versions": versions, "args": vars(args) | {"json": str(args.json)}}
    with tempfile.TemporaryDirectory(prefix="archive_bench_") as tmp_s:
        tmp = Path(tmp_s)
        t = time.perf_counter()
        signed, root_pem = make_signed_letters(args.letters, tmp)
        print(f"{len(signed)} letters rendered and signed in {time.perf_counter() - t:.1f} s "
              f"(mean {sum(map(len, signed)) / len(signed) / 1024:.0f} KB)")
        root = tmp / "archive"
        t = time.perf_counter()
        folders = build_archive(root, signed, args.docs, args.per_bag)
        built = time.perf_counter() - t
        print(f"{args.docs:,} documents archived into {len(folders)} bags in {built:.1f} s "
              f"({args.docs / built:.0f} docs/s with fsync)")
        size = read_everything(root)
        print(f"archive: {size / 1e6:.0f} MB; page cache warmed\n")
        runs: dict[str, list[float]] = {"ours": [], "bagit": [], "bagit_2proc": []}
        for r in range(args.repeat):
            o = ours(root, folders)
            runs["ours"].append(o["seconds"])
            runs["bagit"].append(bagit_python(folders)["seconds"])
            runs["bagit_2proc"].append(bagit_python(folders, processes=2)["seconds"])
            print(f"  run {r + 1}: ours {runs['ours'][-1]:.2f} s, bagit-python {runs['bagit'][-1]:.2f} s, "
                  f"bagit-python 2 processes {runs['bagit_2proc'][-1]:.2f} s")
        best = {k: min(v) for k, v in runs.items()}
        ratio = best["ours"] / best["bagit"]
        ratio2 = best["ours"] / best["bagit_2proc"]
        tampered = check_tampered(root, folders)
        sig = signatures(signed, root_pem, tmp)
        assert sig["valid"] == sig["docs"], f"only {sig['valid']} of {sig['docs']} signed letters verify"
        results.update(runs=runs, best=best, ratio=ratio, ratio_2proc=ratio2, files=o["files"], bytes=o["bytes"],
                       signatures=sig, build_seconds=built)
    print(f"\nhash pass over {args.docs:,} documents ({o['files']:,} files, {o['bytes'] / 1e6:.0f} MB), best of "
          f"{args.repeat}:")
    print(f"  ours          {best['ours']:7.2f} s  {o['bytes'] / 1e6 / best['ours']:7.0f} MB/s")
    print(f"  bagit-python  {best['bagit']:7.2f} s  {o['bytes'] / 1e6 / best['bagit']:7.0f} MB/s")
    print(f"  bagit 2 proc  {best['bagit_2proc']:7.2f} s  {o['bytes'] / 1e6 / best['bagit_2proc']:7.0f} MB/s")
    print(f"  ratio ours / bagit-python = {ratio:.2f} (target ≤ {TARGET_RATIO}: "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}); against its 2-process pool {ratio2:.2f}")
    print(f"signature checks (offline, pyHanko): {sig['valid']}/{sig['docs']} valid, {sig['docs_per_s']:.1f} docs/s")
    print(f"check: ours and bagit-python accept every bag and both reject {tampered} with one payload byte changed; "
          "every signed letter verifies")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0 if ratio <= TARGET_RATIO or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
