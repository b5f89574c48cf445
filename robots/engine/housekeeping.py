"""The leader's housekeeping jobs (``daemon.housekeeping``): certificate expiry, the archive check of the bags
written since the last good one, and the BI export with the report into a folder.

Each job is called with the services and the moment, by :mod:`robots.engine.daemon` after it claimed the fire
(one daemon, once per window). A job raises to say it failed; the daemon records the failure on the fire.
The BI export lives in ``bi/``, beside the engine, which may not import it: the edge hands the daemon a
:data:`BiJob` (``robots/cli/run.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import structlog

from robots.core.errors import ArbotsError
from robots.engine.services import Services
from robots.store.daemons import last_finished

log = structlog.get_logger("arbots.daemon")

#: ``bi_job(config, store, folder, as_of)``: the BI export into ``folder/bi`` and the report ``folder/report.html``.
BiJob = Callable[[Any, Any, Path, date], None]


class CertificateCache:
    """Days left of each officer's certificate, computed by the certificates job (and at start-up) for /metrics,
    which must not open keys or trust files at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._days: dict[str, int] = {}
        self.computed_at: datetime | None = None

    def set(self, days: dict[str, int], at: datetime) -> None:
        with self._lock:
            self._days, self.computed_at = dict(days), at

    def days(self) -> dict[str, int]:
        with self._lock:
            return dict(self._days)


def certificate_days(services: Services, now: datetime) -> dict[str, int]:
    """Days left of each officer's certificate whose certificate could be read (quietly: no warnings)."""
    days: dict[str, int] = {}
    for oid in services.config.settings.officers:
        try:
            check = services.signing.check(oid, now)
        except Exception:  # an unreadable key or trust root: warn_certificates reports it
            continue
        if check.info is not None:
            days[oid] = check.info.days_left(now)
    return days


def warn_certificates(services: Services, now: datetime) -> int:
    """Warn about each officer whose certificate expires within signing.expiry_warning_days or cannot sign."""
    if not services.config.settings.officers:
        return 0
    from signing.certs import CertState

    alerts = 0
    try:
        for oid in services.config.settings.officers:
            check = services.signing.check(oid, now)
            if check.state is CertState.OK:
                continue
            alerts += 1
            if check.state is CertState.EXPIRING and check.info is not None:
                log.warning("certificate_expires_soon", officer=oid, days_left=check.info.days_left(now),
                            not_after=check.info.not_after.isoformat(), serial=check.info.serial)
            else:
                log.error("certificate_unusable", officer=oid, state=check.state.value,
                          problems="; ".join(check.problems))
    except Exception:  # a broken trust root file must not stop the ticks; the sign steps will report it
        log.exception("certificate_check_crashed")
    return alerts


def certificates_job(services: Services, now: datetime, cache: CertificateCache) -> None:
    alerts = warn_certificates(services, now)
    cache.set(certificate_days(services, now), now)
    log.info("certificates_checked", officers=len(services.config.settings.officers), alerts=alerts)


def archive_verify_job(services: Services, now: datetime) -> None:
    """Verify the bags written since the last successful check (all of them the first time), signatures offline.
    Problems are logged one by one and fail the job (its fire is recorded as failed, so the next check takes the
    same bags again)."""
    from archive.ops import bag_rows, db_index
    from archive.verify import signature_checker, verify_bags
    from robots.store.archive_index import bag_heads

    config, store = services.config, services.store
    since = last_finished(store, "housekeeping:archive_verify")
    changed = {r.path for r in bag_heads(store) if since is None or r.updated_at is None or
               _aware(r.updated_at) > since}
    rows = [r for r in bag_rows(store) if r.path in changed]
    root = config.archive_dir
    checker = None
    if config.settings.signing.trust_roots:
        from signing.keys import load_cert_files

        roots = load_cert_files(config.settings.signing.trust_roots, config.base_dir, "signing.trust_roots")
        checker = signature_checker(roots, online=False, at=now)
    folders = [root / r.path for r in rows if (root / r.path).is_dir()]  # a missing one: the index reports it
    report = verify_bags(folders, root, index=db_index(store, rows), signatures=checker)
    for f in report.findings:
        log.error("archive_problem", kind=f.kind, where=f.where, detail=f.detail)
    log.info("archive_verified", bags=len(rows), since=since.isoformat() if since else None,
             files=report.files, problems=len(report.findings))
    if not report.ok:
        raise ArbotsError(f"archive verify: {len(report.findings)} problems in {len(rows)} bags")


def bi_export_job(services: Services, now: datetime, bi_job: BiJob | None) -> None:
    job = services.config.settings.daemon.housekeeping.bi_export
    if job is None or bi_job is None:
        return
    as_of = services.store.last_as_of()
    if as_of is None:
        log.info("bi_export_skipped", reason="nothing evaluated yet")
        return
    folder = services.config.resolve(job.folder)
    bi_job(services.config, services.store, folder, as_of)
    log.info("bi_exported", folder=str(folder), as_of=as_of.isoformat())


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run_job(name: str, services: Services, now: datetime, *, cache: CertificateCache,
            bi_job: BiJob | None) -> None:
    """Run the housekeeping job ``name`` (a field of ``daemon.housekeeping``)."""
    if name == "certificates":
        certificates_job(services, now, cache)
    elif name == "archive_verify":
        archive_verify_job(services, now)
    elif name == "bi_export":
        bi_export_job(services, now, bi_job)
    else:  # the config model lists the jobs; a new one needs its function here
        raise ArbotsError(f"unknown housekeeping job {name!r}")


__all__ = ["BiJob", "CertificateCache", "certificate_days", "run_job", "warn_certificates"]
