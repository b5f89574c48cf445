"""Writing a BI export: each table as CSV and Parquet, in background threads, into a folder swapped in whole.

Arrow's CSV and Parquet writers run without Python's global lock, so a table is written in a thread while the
export computes the next one: on two cores the writing costs little wall time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from robots.core.errors import UsageError
from robots.support.durable import fsync_path

BOM = b"\xef\xbb\xbf"
#: What manifest.json says an export is; a folder without it (and not empty) is never replaced.
FORMAT = "arbots-bi-export"


def write_table(folder: Path, name: str, table: pa.Table) -> None:
    """``csv/<name>.csv`` (UTF-8 with a BOM, comma, header) and ``parquet/<name>.parquet``, flushed to disk."""
    csv_path, parquet_path = folder / "csv" / f"{name}.csv", folder / "parquet" / f"{name}.parquet"
    with pa.OSFile(str(csv_path), "wb") as f:
        f.write(BOM)
        pacsv.write_csv(table, f, pacsv.WriteOptions(include_header=True, delimiter=","))
    pq.write_table(table, parquet_path, compression="snappy")
    for path in (csv_path, parquet_path):
        fsync_path(path)


class TableWriter:
    """Writes tables into ``folder`` in background threads; :meth:`wait` re-raises the first failure."""

    def __init__(self, folder: Path, threads: int = 2):
        (folder / "csv").mkdir()
        (folder / "parquet").mkdir()
        self._folder = folder
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bi-writer")
        self._pending: list[Future[None]] = []

    def put(self, name: str, table: pa.Table) -> None:
        self._raise_failed()
        self._pending.append(self._pool.submit(lambda: write_table(self._folder, name, table)))

    def wait(self) -> None:
        for future in self._pending:
            future.result()

    def close(self) -> None:
        """Stop: drop what has not started, wait for what has (the folder is deleted after)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _raise_failed(self) -> None:
        for future in self._pending:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]


def write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    fsync_path(path)


def write_manifest(folder: Path, manifest: dict) -> None:
    write_text(folder / "manifest.json", json.dumps({"format": FORMAT, "version": 1, **manifest}, indent=2) + "\n")


def check_replaceable(out_dir: Path) -> None:
    """Refuse to replace a folder that is not an export: ``--out ~`` must never delete a home folder."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a folder")
    if not any(out_dir.iterdir()):
        return
    try:
        ok = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise UsageError(f"{out_dir} is not empty and holds no previous BI export (no arbots manifest.json); "
                         "give an empty or new folder")


def replace_dir(out_dir: Path, build: Callable[[Path], None]) -> None:
    """Build into a temporary sibling of ``out_dir``, then swap it in; a failure leaves ``out_dir`` untouched."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        build(tmp)
        fsync_path(tmp)
        if not out_dir.exists():
            os.rename(tmp, out_dir)
        elif not _exchange(tmp, out_dir):  # where there is no atomic exchange: two renames, undone on failure
            old = tmp.with_name(tmp.name.replace(".new-", ".old-"))
            os.rename(out_dir, old)
            try:
                os.rename(tmp, out_dir)
            except BaseException:
                os.rename(old, out_dir)
                raise
            tmp = old
        # after an exchange or the renames, tmp holds the previous export
        fsync_path(out_dir.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    libc_name = ctypes.util.find_library("c")
    renameat2 = getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None) if libc_name else None
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    as_of: date
    date_from: date
    #: Rows per table, in schema order.
    rows: dict[str, int] = field(default_factory=dict)


__all__ = ["BOM", "ExportResult", "FORMAT", "TableWriter", "check_replaceable", "replace_dir", "write_manifest",
           "write_table", "write_text"]
