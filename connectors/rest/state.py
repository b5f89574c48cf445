"""Incremental sync: a REST source asked only for what changed, merged into the last snapshot kept on disk.

A source with ``incremental`` asks for ``param=<largest value of field seen>`` and merges the answer, record by
record key, into the snapshot of its last fetch, which lives in ``state_dir/<entity>.json`` (``<entity>.<n>.json``
for a second source); every ``full_every``-th fetch asks for everything, which is when deleted records disappear.
A snapshot written for another base URL, path, params or mapping of the key is ignored (its fingerprint differs).
The new snapshots are only staged by a fetch; :meth:`SnapshotCache.commit` writes them once the ledger was stored,
so a rejected sync never moves the watermark.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.base import Problem, Record, Where
from connectors.rest.config import key_expr
from connectors.rest.http import RestClient, param_text
from connectors.rest.mapping.paths import MISSING, compile_path
from connectors.rest.paging import pages
from connectors.rest.sources import Source
from robots.support.durable import fsync_path, write_atomic


def _dump_state(state: Mapping[str, Any]) -> bytes:
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return {"$decimal": str(o)}  # exact, and read back as Decimal
        raise TypeError(f"{type(o).__name__} cannot be cached")

    return json.dumps(state, default=default, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _load_state_bytes(raw: bytes) -> Any:
    def hook(d: dict) -> Any:
        if len(d) == 1 and "$decimal" in d:
            return Decimal(d["$decimal"])
        return d

    return json.loads(raw, object_hook=hook)


def fingerprint(base_url: str, src: Source) -> str:
    """What a snapshot was read with: a cached one of another fingerprint is not used."""
    e = src.spec
    inc = e.incremental
    assert inc is not None
    parts = [base_url, e.path, sorted((k, param_text(v)) for k, v in e.params.items()), e.records,
             e.columns, key_expr(e), inc.field, inc.param]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:16]


class SnapshotCache:
    """The snapshots of one connector's incremental sources in ``state_dir``, and those its last fetch staged."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self._pending: dict[str, dict[str, Any]] = {}

    def load(self, name: str, fingerprint: str) -> dict[str, Any] | None:
        """The snapshot in the file ``name`` if it was read with ``fingerprint``, else None."""
        try:
            state = _load_state_bytes((self.state_dir / name).read_bytes())
        except (OSError, ValueError):
            return None  # no cache, or an unreadable one: a full fetch rebuilds it
        if not isinstance(state, dict) or state.get("fingerprint") != fingerprint \
                or not isinstance(state.get("records"), dict):
            return None
        return state

    def stage(self, name: str, state: dict[str, Any]) -> None:
        self._pending[name] = state

    def discard(self, name: str) -> None:
        """Forget what a fetch staged for ``name`` (its entity could not be read in full)."""
        self._pending.pop(name, None)

    def clear(self) -> None:
        self._pending = {}

    def commit(self) -> None:
        """Write the staged snapshots (each atomically and durably), then forget them."""
        for name, state in self._pending.items():
            write_atomic(self.state_dir / name, _dump_state(state))
            fsync_path(self.state_dir)
        self._pending = {}


def fetch_incremental(client: RestClient, src: Source, source: str, problems: list[Problem],
                      cache: SnapshotCache) -> list[Record]:
    """The records of an incremental source: what changed since its snapshot, merged in (or all of them, on a full
    fetch); the new snapshot is staged in ``cache``. Records from the snapshot are located as ``<source> (cached)``
    with their position in it."""
    e = src.spec
    inc = e.incremental
    assert inc is not None
    key_of = compile_path(key_expr(e))
    mark_of = compile_path(inc.field)
    fp = fingerprint(client.config.base_url, src)
    state = cache.load(src.state_file, fp)
    since = 0 if state is None else int(state.get("since_full", 0)) + 1
    full = state is None or state.get("watermark") is None or since >= inc.full_every
    params = {} if full else {inc.param: state["watermark"]}  # type: ignore[index]
    rows: list[Any] = []
    wheres: list[Where] = []
    snapshot: dict[str, Any] = {} if full else dict(state["records"])  # type: ignore[index]
    fresh: dict[str, int] = {}
    for page, page_rows in pages(client, src, params):
        for i, raw in enumerate(page_rows):
            key = key_of(raw)
            key = f"\x00{page}:{i}" if key is MISSING or key is None else str(key)  # reported by build_ledger
            snapshot[key] = raw
            if full:
                rows.append(raw)
                wheres.append(Where(source, None, page, i + 1))
            else:
                fresh[key] = len(wheres)
                wheres.append(Where(source, None, page, i + 1))
    if not full:
        changed = wheres
        rows, wheres = [], []
        cached = f"{source} (cached)"
        for n, (key, raw) in enumerate(snapshot.items(), 1):
            rows.append(raw)
            wheres.append(changed[fresh[key]] if key in fresh else Where(cached, None, None, n))
    marks = [m for raw in snapshot.values() if (m := mark_of(raw)) is not MISSING and m is not None]
    try:
        watermark = max(marks) if marks else None
    except TypeError:
        watermark = max(marks, key=str)
    cache.stage(src.state_file, {"format": 1, "fingerprint": fp, "watermark": watermark,
                                 "since_full": 0 if full else since, "records": snapshot})
    mapped, bad = src.mapping.map_rows(rows)
    problems.extend(Problem.at(wheres[i], msg) for i, msg in bad)
    return [Record(wheres[i], v) for i, v in mapped]
