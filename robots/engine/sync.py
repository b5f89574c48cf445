"""Sync: fetch from every connector, validate all records as one snapshot, check it, then swap it in.

The order makes a sync all or nothing:

1. **stage**: every connector fetches everything it delivers into memory (a connector that fails after
   its retries fails the whole sync: :class:`~connectors.base.ConnectorUnavailable`);
2. **validate**: :func:`connectors.records.build_ledger` checks the merged records of all connectors together, so a
   bank's payments file may refer to contracts that the ERP's API delivered; any problem rejects the whole snapshot
   (:class:`~connectors.base.SyncRejected`, listing every problem with its file/line or source/page/record);
3. **sanity guard**: a snapshot that lost more than ``sync.max_loss`` of the previous snapshot's invoices or
   payments is refused (:class:`SyncRefused`): a half-exported ledger must never make robots demand money that
   was paid. ``sync --accept-loss`` applies such a snapshot once, when a person has checked the loss is real;
4. **swap**: :meth:`Store.replace_ledger` replaces the snapshot in one transaction; then connectors ``commit``
   their own state (an incremental watermark only advances once its snapshot is in).

A failed sync is recorded (``sync_failures``) and nothing is evaluated from a partial or stale ledger.

A connector that is **down** (it cannot be reached after its own retries, or its circuit breaker is open:
:class:`~connectors.base.ConnectorUnavailable` or :class:`~robots.core.errors.Unavailable`) is an outage, not a
data problem: the old ledger stays in place, the failure is recorded in ``sync_failures`` and, through the
breaker's listener (robots.engine.outages), in ``external_systems`` (which sends the one alert). With
:func:`sync_or_keep` the caller (the tick) gets None instead of an exception and goes on with the runs it has:
letters already decided keep going out while the accounting system is away; the next sync catches up.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from connectors import registry
from connectors.base import (
    ENTITIES,
    Connector,
    ConnectorUnavailable,
    PaymentsReader,
    Problem,
    Record,
    SyncRejected,
    records_of_contract,
)
from connectors.records import build_ledger
from connectors.rest.http import ConnectorDown
from robots.config import Config
from robots.core.domain import Ledger, Payment
from robots.core.errors import Unavailable, UsageError
from robots.store import Store
from robots.store.runs import runs_waiting_in
from robots.support.breaker import Breakers, scrub

log = structlog.get_logger("arbots.sync")

#: Kinds the sanity guard watches: losing either would send letters about debts that were paid or never owed.
GUARDED = ("invoices", "payments")


class SyncRefused(UsageError):
    """The sanity guard refused a snapshot that lost too many of the previous snapshot's records."""

    def __init__(self, source: str, losses: dict[str, tuple[int, int, float]]):
        self.source, self.losses = source, losses
        parts = [f"{lost} of {before} {kind} ({lost / before:.1%}, more than the {limit:.0%} allowed by "
                 f"sync.max_loss.{kind})" for kind, (lost, before, limit) in losses.items()]
        super().__init__(
            f"sync of '{source}' refused by the sanity guard: the new snapshot lost {' and '.join(parts)} of the "
            "previous one; nothing was applied. Check the export in the accounting system; if the loss is real, "
            "run `run_robots.py sync --accept-loss` once")

    def __reduce__(self):
        return (type(self), (self.source, self.losses))


def state_dir(config: Config, connector_id: str) -> Path:
    """A connector's own folder for caches and failure artifacts (screenshots, traces)."""
    return config.resolve(Path("var/connectors")) / connector_id


def build_connectors(config: Config) -> list[Connector]:
    """The connectors of every ``connectors:`` entry, in order."""
    return [build_connector(config, c) for c in config.settings.connectors]


def build_connector(config: Config, c: Any) -> Connector:
    """The connector of one ``connectors:`` entry (:mod:`connectors.registry` knows each kind)."""
    return registry.build_connector(c, base_dir=config.base_dir, state_dir=state_dir(config, c.id),
                                    known_groups=frozenset(config.settings.groups))


def connector_by_id(config: Config, connector_id: str) -> Connector:
    """The connector of the entry ``connector_id``; UsageError listing the connectors when there is none."""
    by_id = {c.id: c for c in config.settings.connectors}
    if connector_id not in by_id:
        raise UsageError(f"no connector '{connector_id}' in {config.path}; the connectors are: {', '.join(by_id)}")
    return build_connector(config, by_id[connector_id])


def source_name(connectors: Sequence[Connector]) -> str:
    return ",".join(c.id for c in connectors)


def connector_outage(exc: BaseException) -> str | None:
    """The breaker's classifier for a connector: its reason when ``exc`` says the source is down, else None."""
    if isinstance(exc, ConnectorUnavailable):
        return exc.reason
    if isinstance(exc, Unavailable):
        return exc.reason or str(exc)
    return None


def pull(connectors: Sequence[Connector], known_groups: Iterable[str] | None = None, *,
         breakers: Breakers | None = None) -> Ledger:
    """Fetch from every connector and validate everything as one snapshot; raises on any problem. With
    ``breakers``, each fetch goes through its connector's circuit breaker (an open one raises Unavailable)."""
    tables: dict[str, list[Record] | None] = {}
    providers: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for c in connectors:
        fetched = c.fetch() if breakers is None else _fetch_guarded(c, breakers)
        problems += fetched.problems
        for entity, records in fetched.tables.items():
            providers.setdefault(entity, []).append(c.id)
            if records is None or tables.get(entity, []) is None:
                tables[entity] = None
            else:
                tables.setdefault(entity, []).extend(records)
    source = source_name(connectors)
    for entity in ENTITIES:
        if entity not in providers:
            problems.append(Problem(source, f"no connector delivers {entity}; add it to a connector's entities"))
            tables[entity] = None
    ledger = build_ledger(tables, problems, known_groups)
    if problems:
        raise SyncRejected(source, tuple(problems))
    return ledger


def _fetch_guarded(c: Connector, breakers: Breakers) -> Any:
    breaker = breakers(c.id)
    try:
        return breaker.call(c.fetch, outage=connector_outage)
    except ConnectorUnavailable as exc:  # the breaker counted it; keep the connector's own error and its type
        raise exc
    except Unavailable as exc:  # the breaker is open (no request was made), or it turned the outage into this
        raise Unavailable(c.id, exc.retry_at, exc.reason) from None


def guard(store: Store, ledger: Ledger, config: Config, source: str) -> None:
    """Refuse ``ledger`` when it lost more than the configured share of the stored snapshot's invoices/payments."""
    limits = config.settings.sync.max_loss
    losses: dict[str, tuple[int, int, float]] = {}
    for kind in GUARDED:
        before = store.ledger_ids(kind)
        if not before:
            continue
        lost = len(before - {x.id for x in getattr(ledger, kind)})
        limit = getattr(limits, kind)
        if lost / len(before) > limit:
            losses[kind] = (lost, len(before), limit)
    if losses:
        raise SyncRefused(source, losses)


def sync(config: Config, store: Store, now: datetime, connectors: Sequence[Connector] | None = None, *,
         accept_loss: bool = False, breakers: Breakers | None = None) -> Ledger:
    """Fetch, validate, guard and swap in the ledger; on any failure record it, apply nothing and raise.

    A connector that is down raises its ConnectorUnavailable (or Unavailable, its breaker being open) after the
    failure is recorded; the stored ledger is left as it was."""
    owned = connectors is None
    conns = build_connectors(config) if connectors is None else list(connectors)
    source = source_name(conns)
    try:
        try:
            ledger = pull(conns, config.settings.groups, breakers=breakers)
            if not accept_loss:
                guard(store, ledger, config, source)
        except SyncRefused as exc:
            log.error("sync_refused", connectors=source, alert=True, error=str(exc))
            store.record_sync_failure(source, "refused", str(exc), now)
            raise
        except SyncRejected as exc:
            log.error("sync_rejected", connectors=source, problems=len(exc.problems))
            store.record_sync_failure(source, "rejected", str(exc), now)
            raise
        except (ConnectorUnavailable, Unavailable) as exc:
            system = getattr(exc, "connector_id", None) or getattr(exc, "system", source)
            retry_at = getattr(exc, "retry_at", None)
            log.error("sync_unavailable", connectors=source, system=system, error=scrub(str(exc)),
                      retry_at=retry_at.isoformat() if retry_at is not None else None,
                      ledger="the stored ledger stays in place")
            store.record_sync_failure(source, "unavailable", scrub(str(exc)), now)
            raise
        store.replace_ledger(ledger, source, now)
        for c in conns:
            commit = getattr(c, "commit", None)
            if commit is not None:
                commit()
        wake_reconciliations(store, now, ("reconcile",))
        return ledger
    finally:
        if owned:
            for c in conns:
                try:
                    c.close()
                except Exception:  # closing must not hide the sync's own outcome
                    log.exception("connector_close_failed", connector=c.id)


def sync_or_keep(config: Config, store: Store, now: datetime, connectors: Sequence[Connector] | None = None, *,
                 breakers: Breakers | None = None) -> Ledger | None:
    """:func:`sync`, for a tick that must not stop because the accounting system is away: the new ledger, or None
    when a connector is down (recorded in ``sync_failures`` and, through ``breakers``' listener, in
    ``external_systems``; the stored ledger stays). Data problems and the sanity guard still raise."""
    try:
        return sync(config, store, now, connectors, breakers=breakers)
    except (ConnectorUnavailable, Unavailable):
        return None


# -- the pre-send reconciliation (the reconcile step) -------------------------------------------------------


def fresh_payments(config: Config, contract_id: str) -> tuple[list[Payment], list[str]]:
    """One contract's payments re-read now from every connector that delivers payments, validated by the same
    rules as a sync; also the ids of the connectors read.

    A connector with ``payments_for`` (:class:`~connectors.base.PaymentsReader`) asks for that contract only;
    any other is fetched in full and filtered. Raises :class:`~connectors.base.ConnectorUnavailable` (always also an
    :class:`~robots.core.errors.Unavailable` of the connector's id, so the step waits) when a source cannot be
    reached and :class:`~connectors.base.SyncRejected` when what it sent is invalid (nothing is stored
    either way).
    """
    used: list[str] = []
    records: list[Record] | None = []
    problems: list[Problem] = []
    for entry in config.settings.connectors:
        conn = build_connector(config, entry)
        try:
            if "payments" not in conn.entities:
                continue
            used.append(conn.id)
            try:
                if isinstance(conn, PaymentsReader):
                    fetched = conn.payments_for(contract_id)
                    got = fetched.tables.get("payments")
                else:
                    fetched = conn.fetch()
                    got = records_of_contract(fetched.tables.get("payments"), contract_id)
            except ConnectorUnavailable as exc:  # any kind of connector: the run waits for it (Unavailable)
                if isinstance(exc, Unavailable):
                    raise
                raise ConnectorDown(exc.connector_id, exc.reason) from exc
            problems += fetched.problems
            if got is None or records is None:
                records = None
            else:
                records.extend(got)
        finally:
            try:
                conn.close()
            except Exception:  # closing must not hide the read's own outcome
                log.exception("connector_close_failed", connector=conn.id)
    source = ",".join(used) or "payments"
    if not used:
        problems.append(Problem(source, "no connector delivers payments; add payments to a connector's entities"))
    # Only the payments: references to contracts and invoices are not re-checked here (the last sync did).
    ledger = build_ledger({"payments": records}, problems, config.settings.groups)
    if problems:
        raise SyncRejected(source, tuple(problems))
    return [p for p in ledger.payments if p.contract_id == contract_id], used


def wake_reconciliations(store: Store, now: datetime, kinds: Collection[str]) -> list[int]:
    """Wake the runs whose step of one of ``kinds`` waits for a fresh sync (it refused a stale ledger); after a good
    sync."""
    woken = [run_id for run_id in runs_waiting_in(store, kinds) if store.wake_run(run_id, now)]
    if woken:
        log.info("reconciliations_woken", runs=len(woken))
    return woken
