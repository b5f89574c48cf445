"""The REST connector: ledger records from a JSON API (a custom ERP, 1C's OData interface, Fava's query API).

:class:`RestConnector` is the glue: it reads every source of every entity (:mod:`connectors.rest.sources`) page by
page (:mod:`connectors.rest.paging`), or incrementally (:mod:`connectors.rest.state`), through one HTTP client
(:mod:`connectors.rest.http`: auth, TLS, retries), maps the records (:mod:`connectors.rest.mapping`) and writes
back (:mod:`connectors.rest.writeback`).

When the server cannot be reached after the retries, the fetch raises :class:`~connectors.base.ConnectorUnavailable`.
Answers that retrying cannot fix (401/403/404/400, the statuses listed in ``permanent_statuses``, an HTML login page,
malformed JSON, a records path that is not there) become a :class:`~connectors.base.Problem` for that entity, whose
table is then None. Messages never carry the password, token or key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from connectors.base import ENTITIES, Fetched, Problem, Record, SyncRejected, WriteResult, records_of_contract
from connectors.records import build_ledger
from connectors.rest.config import RestConnectorConfig, fill
from connectors.rest.http import Refused, RestClient
from connectors.rest.paging import pages
from connectors.rest.sources import Source, plan_sources
from connectors.rest.state import SnapshotCache, fetch_incremental
from connectors.rest.writeback import write_back
from robots.core.domain import Ledger
from robots.support.gcpause import no_cyclic_gc


class RestConnector:
    """Reads the ledger's entities from a JSON API per :class:`RestConnectorConfig`, and writes back to it."""

    def __init__(self, config: RestConnectorConfig, *, base_dir: Path, state_dir: Path,
                 known_groups: frozenset[str] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.id = config.id
        self.entities = tuple(e for e in ENTITIES if e in config.entities)
        self.known_groups = known_groups
        self.base_dir, self.state_dir = Path(base_dir), Path(state_dir)
        self._sources = plan_sources(config, self.entities)
        self._http = RestClient(config, base_dir=self.base_dir, sleep=sleep)
        self._cache = SnapshotCache(self.state_dir)

    # -- the protocol
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RestConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self) -> Fetched:
        """Read every configured entity. Raises ConnectorUnavailable when the server cannot be reached after the
        retries; answers that cannot be used become problems (that entity's table is None)."""
        with no_cyclic_gc(promote=True):
            return self._fetch()

    def _fetch(self) -> Fetched:
        problems: list[Problem] = []
        tables: dict[str, list[Record] | None] = {}
        self._cache.clear()
        try:
            self._http.ensure_login()
        except Refused as e:
            problems.append(self._login_failed(e))
            return Fetched(self.id, dict.fromkeys(self.entities), problems)
        for entity in self.entities:
            records: list[Record] | None = []
            for src in self._sources[entity]:
                source = f"{self.id}: GET {src.label}"
                try:
                    got = self._fetch_source(src, source, problems)
                except Refused as e:
                    problems.append(Problem(source, self._http.redact(str(e)), page=e.page))
                    records = None  # one source unusable: the entity is (its other sources are still checked)
                    continue
                if records is not None:
                    records.extend(got)
            if records is None:
                for src in self._sources[entity]:
                    self._cache.discard(src.state_file)
            tables[entity] = records
        return Fetched(self.id, tables, problems)

    def commit(self) -> None:
        """Save the incremental snapshots of the last fetch. Call it after the ledger was stored: a rejected sync
        must not move the watermark."""
        self._cache.commit()

    def pull(self) -> Ledger:
        """Fetch and validate on its own (a connector that delivers all four entities): the Ledger, or
        SyncRejected with every problem."""
        fetched = self.fetch()
        problems = list(fetched.problems)
        ledger = build_ledger(fetched.tables, problems, self.known_groups)
        if problems:
            raise SyncRejected(self.id, tuple(problems))
        return ledger

    def _login_failed(self, e: Refused) -> Problem:
        source = f"{self.id}: POST {self.config.auth.form_login.url}"  # type: ignore[union-attr]
        return Problem(source, self._http.redact(str(e)))

    def _fetch_source(self, src: Source, source: str, problems: list[Problem]) -> list[Record]:
        if src.spec.incremental is not None:
            return fetch_incremental(self._http, src, source, problems, self._cache)
        map_page = src.mapping.map_page
        records: list[Record] = []
        for page, rows in pages(self._http, src, {}):
            mapped, bad = map_page(rows, source, page)
            records += mapped
            if bad:
                problems += bad
        return records

    # -- the pre-send reconciliation
    def payments_for(self, contract_id: str) -> Fetched:
        """One contract's payments, read now: each payments source with its ``reconcile`` request, or in full (never
        from the incremental cache, whose state is left alone). Records of other contracts are dropped."""
        problems: list[Problem] = []
        if "payments" not in self.entities:
            return Fetched(self.id, {}, problems)
        try:
            self._http.ensure_login()
        except Refused as e:
            problems.append(self._login_failed(e))
            return Fetched(self.id, {"payments": None}, problems)
        records: list[Record] | None = []
        for src in self._sources["payments"]:
            rec = src.spec.reconcile
            spec = src.spec.model_copy(update={"incremental": None})
            if rec is not None:
                values = {"contract_id": contract_id}
                path = fill(rec.path, values, lambda v: quote(v, safe="")) if rec.path else spec.path
                spec = spec.model_copy(update={"path": path,
                                               "params": {**spec.params, **fill(rec.params, values, str)}})
            one = replace(src, spec=spec, label=f"{spec.path} (payments of {contract_id})" if rec else src.label)
            source = f"{self.id}: GET {one.label}"
            try:
                got = self._fetch_source(one, source, problems)
            except Refused as e:
                problems.append(Problem(source, self._http.redact(str(e)), page=e.page))
                records = None
                continue
            if records is not None:
                records.extend(records_of_contract(got, contract_id) or ())
        return Fetched(self.id, {"payments": records}, problems)

    # -- write-back
    def block_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return write_back(self._http, "block_shipments", counterparty_id, contract_id, reason=reason)

    def unblock_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return write_back(self._http, "unblock_shipments", counterparty_id, contract_id, reason=reason)

    def post_note(self, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult:
        return write_back(self._http, "post_note", counterparty_id, contract_id, text=text)
