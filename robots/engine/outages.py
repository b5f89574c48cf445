"""Outages of external systems as ops see them: the shared record, and one alert when a system goes down and one
when it comes back, never one per retry.

* :class:`OutageRecorder` is the :class:`~robots.support.breaker.BreakerListener` of a process's breakers. Each
  failure of a system (a connector id, ``smtp``, ``tsa``) is counted in ``external_systems``, which every daemon
  sharing the database writes; once the shared streak reaches ``alerts.after_failures`` the "down" alert is
  *claimed* there (a conditional UPDATE: of several daemons exactly one sends it). A success ends the streak, and
  the process that claims the recovery sends "recovered". An alert that could not be sent is released, so the
  next failure (or success) of any daemon tries again.
* :class:`Alerter` sends an alert by e-mail (``alerts.email.to``, through the SMTP server of ``email:``; when the
  system down is SMTP itself, only the webhook can carry it) and/or a webhook (a JSON POST, its secret header read
  by reference). Nothing it sends or logs carries a secret: reasons are scrubbed by the breaker, the webhook's URL
  is logged by host only.
* :class:`DatabaseWatch` does the same for the database, which cannot record its own outage: the daemon tells it
  of each failure and of the first success after them.
* :func:`breakers_for` builds a process's breakers from ``alerts:`` with the recorder as listener.

Time comes from the :class:`~robots.support.clock.Clock` given, never from the wall clock directly.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import structlog
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from robots.config import Config
from robots.config.alerts import AlertsConfig
from robots.mail.message import build_message
from robots.mail.smtp import SYSTEM as SMTP
from robots.mail.smtp import Mailer
from robots.store import Store
from robots.store import outages as db
from robots.support.breaker import Breakers, BreakerState, scrub
from robots.support.clock import Clock
from robots.support.secret_refs import read_secret

log = structlog.get_logger("arbots.outages")

DATABASE = "database"
#: A process that keeps succeeding writes its success at most this often (a streak of another process ends there).
SUCCESS_EVERY_SECONDS = 60.0
WEBHOOK_ATTEMPTS = 3


@dataclass(frozen=True)
class Alert:
    """One alert: a system went ``down`` (after ``failures`` consecutive failures) or ``recovered``."""

    kind: str  # down | recovered
    system: str
    at: datetime
    failures: int = 0
    reason: str = ""
    down_since: datetime | None = None
    host: str = field(default_factory=socket.gethostname)

    @property
    def subject(self) -> str:
        if self.kind == "down":
            return f"{self.system} is down ({self.failures} consecutive failures)"
        return f"{self.system} has recovered"

    def text(self) -> str:
        since = f"{self.down_since:%Y-%m-%d %H:%M:%S} UTC" if self.down_since else "unknown"
        lines = [self.subject, "", f"System: {self.system}", f"Down since: {since}", f"Seen by: {self.host}",
                 f"At: {self.at:%Y-%m-%d %H:%M:%S} UTC"]
        if self.reason:
            lines.append(f"Last error: {self.reason}")
        if self.kind == "down":
            lines += ["", "The work that needs it waits (nothing is dropped) and resumes when it is back; "
                          "see docs/operations.md, section Alerts."]
        elif self.down_since is not None:
            lines.append(f"Outage lasted: {_duration(self.at - self.down_since)}")
        return "\n".join(lines) + "\n"

    def payload(self) -> dict[str, Any]:
        return {"event": f"system_{self.kind}", "system": self.system, "at": self.at.isoformat(),
                "failures": self.failures, "reason": self.reason, "host": self.host,
                "down_since": self.down_since.isoformat() if self.down_since else None}

    @property
    def key(self) -> str:
        """The same for every daemon's copy of one alert (the webhook's Idempotency-Key)."""
        since = self.down_since.isoformat() if self.down_since else ""
        return hashlib.sha256(f"{self.system}|{self.kind}|{since}".encode()).hexdigest()[:32]


def _duration(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    h, rest = divmod(max(seconds, 0), 3600)
    return f"{h} h {rest // 60} min" if h else f"{rest // 60} min {rest % 60} s"


class _Retryable(Exception):
    pass


class Alerter:
    """Sends alerts on the channels of ``alerts:``. :meth:`send` says whether at least one channel took it (or
    there is no channel: then there is nothing to retry either); it never raises."""

    def __init__(self, config: Config, *, environ: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] | None = None):
        self.config = config
        self.alerts: AlertsConfig = config.settings.alerts
        self.environ = os.environ if environ is None else environ
        self._sleep = sleep

    @property
    def channels(self) -> list[str]:
        return [name for name in ("email", "webhook") if getattr(self.alerts, name) is not None]

    def send(self, alert: Alert) -> bool:
        sent, tried = [], []
        for channel in self.channels:
            if channel == "email" and alert.system == SMTP:
                continue  # the SMTP server is the one down (or only just back): the webhook carries it
            tried.append(channel)
            try:
                (self._email if channel == "email" else self._webhook)(alert)
            except Exception as exc:
                log.error("alert_not_sent", channel=channel, system=alert.system, kind=alert.kind,
                          error=scrub(str(exc)))
                continue
            sent.append(channel)
        if not self.channels:
            log.warning("alert_no_channel", system=alert.system, kind=alert.kind, reason=alert.reason,
                        fix="add alerts.email and/or alerts.webhook to schedules.yaml")
            return True
        if not tried:  # e-mail only, and the alert is about SMTP: logged, nothing more can be done
            log.error("alert_undeliverable", system=alert.system, kind=alert.kind, reason=alert.reason,
                      fix="add alerts.webhook: an SMTP outage cannot be announced by e-mail")
            return True
        if sent:
            log.warning("alert_sent", system=alert.system, kind=alert.kind, channels=sent, failures=alert.failures)
        return bool(sent)

    def _email(self, alert: Alert) -> None:
        email, target = self.config.settings.email, self.alerts.email
        assert target is not None
        if email is None:
            raise RuntimeError("alerts.email needs the email: section (the SMTP server and the sender)")
        msg = build_message(sender=email.sender, to=list(target.to), subject=f"{target.subject_prefix} "
                            f"{alert.subject}", body=alert.text(),
                            msg_id=f"<alert.{alert.key}@{email.sender_domain}>", date_=alert.at,
                            headers=[("X-Arbots-Alert", f"{alert.system} {alert.kind}")])
        kwargs: dict[str, Any] = {"attempts": 1}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        # No breaker: an alert about a connector must not count against SMTP, and is tried even when it is open.
        Mailer(email, self.config.base_dir, **kwargs).send(msg, list(target.to))

    def _webhook(self, alert: Alert) -> None:
        hook = self.alerts.webhook
        assert hook is not None
        base = self.config.base_dir
        url = hook.url or read_secret(hook.url_env, None, "alerts.webhook url", base, self.environ)
        headers = {"Idempotency-Key": alert.key, "User-Agent": "arbots"}
        if hook.secret_env or hook.secret_file:
            headers[hook.header] = read_secret(hook.secret_env, hook.secret_file, "alerts.webhook secret", base,
                                               self.environ)
        host = httpx.URL(url).host

        def post() -> httpx.Response:
            try:
                with httpx.Client(timeout=hook.timeout_seconds) as client:
                    resp = client.post(url, json=alert.payload(), headers=headers)
            except httpx.TransportError as exc:  # never echo the URL: it may carry a key
                raise _Retryable(f"webhook at {host}: {type(exc).__name__}") from None
            if resp.status_code >= 500 or resp.status_code == 429:
                raise _Retryable(f"webhook at {host} answered HTTP {resp.status_code}")
            return resp

        kwargs: dict[str, Any] = {}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        retrying = Retrying(stop=stop_after_attempt(WEBHOOK_ATTEMPTS), wait=wait_exponential(multiplier=0.5, max=4),
                            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)), reraise=True, **kwargs)
        resp = retrying(post)
        if resp.status_code >= 400:
            raise RuntimeError(f"webhook at {host} answered HTTP {resp.status_code}")


class OutageRecorder:
    """The breakers' listener: the shared record in ``external_systems`` and the one-per-outage alerts.

    It never raises into the call it listens to (the database may be what is down: then it logs and goes on)."""

    def __init__(self, store: Store, clock: Clock, alerter: Alerter, *, threshold: int):
        self.store, self.clock, self.alerter, self.threshold = store, clock, alerter, threshold
        self._lock = threading.Lock()
        self._recorded_success: dict[str, datetime] = {}

    def failed(self, system: str, reason: str, failures: int, state: BreakerState) -> None:
        now = self.clock.now()
        with self._lock:
            self._recorded_success.pop(system, None)
        try:
            row = db.record_failure(self.store, system, reason, now, self.threshold)
            log.warning("system_failure", system=system, failures=row.consecutive_failures, breaker=state.value,
                        reason=reason)
            if row.consecutive_failures < self.threshold:
                return
            claimed = db.claim_down_alert(self.store, system, now, self.threshold)
            if claimed is None:
                return  # sent already (by this or another daemon) for this outage
            alert = Alert("down", system, now, claimed.consecutive_failures, claimed.last_error or reason,
                          claimed.down_since)
            if not self.alerter.send(alert):
                db.release_down_alert(self.store, system)
        except Exception as exc:  # the database is away too, or a bug: the caller's own outcome comes first
            log.error("outage_not_recorded", system=system, error=scrub(str(exc)))

    def succeeded(self, system: str, failures: int) -> None:
        now = self.clock.now()
        with self._lock:
            last = self._recorded_success.get(system)
            if failures == 0 and last is not None and (now - last).total_seconds() < SUCCESS_EVERY_SECONDS:
                return
            self._recorded_success[system] = now
        try:
            db.record_success(self.store, system, now)
            claimed = db.claim_recovery_alert(self.store, system, now)
            if claimed is None:
                return
            alert = Alert("recovered", system, now, 0, claimed.last_error or "", claimed.down_since)
            if not self.alerter.send(alert):
                assert claimed.alerted_down_at is not None
                db.release_recovery_alert(self.store, system, claimed.alerted_down_at)
        except Exception as exc:
            with self._lock:
                self._recorded_success.pop(system, None)
            log.error("outage_not_recorded", system=system, error=scrub(str(exc)))


def breakers_for(config: Config, store: Store, clock: Clock, *, alerter: Alerter | None = None) -> Breakers:
    """A process's circuit breakers, set by ``alerts:`` (threshold, cool-down), recording and alerting through
    an :class:`OutageRecorder`."""
    alerts = config.settings.alerts
    recorder = OutageRecorder(store, clock, alerter or Alerter(config), threshold=alerts.after_failures)
    return Breakers(clock, threshold=alerts.after_failures, cooldown=alerts.cooldown_seconds, listener=recorder)


class DatabaseWatch:
    """The database's outages, for the daemon, which is the only one to see them (they cannot be recorded while
    the database is away).

    Call :meth:`failed` with every exception a tick, a runner pass or a heartbeat raised: it returns the outage's
    reason when the exception says the database cannot be reached (:func:`robots.store.outages.database_down`),
    counting the streak in memory and sending the "database down" alert once, after ``alerts.after_failures``
    consecutive failures (each daemon that sees the outage sends its own: there is no shared place to claim it);
    None for any other exception (not an outage: the caller handles it as before). Call :meth:`recovered` after the
    first database call that succeeds again (each later call is cheap: it returns at once while there is no
    streak): it writes the streak into ``external_systems`` and sends "database recovered" when this daemon
    announced the outage and no other daemon has announced the recovery. Thread-safe; never raises.
    """

    def __init__(self, clock: Clock, alerter: Alerter, *, threshold: int = 3):
        self.clock, self.alerter, self.threshold = clock, alerter, threshold
        self._lock = threading.Lock()
        self.failures = 0
        self.error = ""
        self.down_since: datetime | None = None
        self.alerted_at: datetime | None = None

    @classmethod
    def for_config(cls, config: Config, clock: Clock, alerter: Alerter | None = None) -> DatabaseWatch:
        return cls(clock, alerter or Alerter(config), threshold=config.settings.alerts.after_failures)

    @property
    def down(self) -> bool:
        with self._lock:
            return self.failures > 0

    def failed(self, exc: BaseException) -> str | None:
        reason = db.database_down(exc)
        if reason is None:
            return None
        reason = scrub(reason)
        now = self.clock.now()
        with self._lock:
            self.failures += 1
            self.error = reason
            if self.down_since is None:
                self.down_since = now
            send = self.failures >= self.threshold and self.alerted_at is None
            failures, since = self.failures, self.down_since
        log.error("database_unavailable", failures=failures, reason=reason)
        if send:
            if self.alerter.send(Alert("down", DATABASE, now, failures, reason, since)):
                with self._lock:
                    self.alerted_at = now
        return reason

    def recovered(self, store: Store) -> None:
        with self._lock:
            if self.failures == 0:
                return
            failures, error, since, alerted = self.failures, self.error, self.down_since, self.alerted_at
        now = self.clock.now()
        assert since is not None
        try:
            announce = db.claim_database_recovery(store, failures=failures, error=error, down_since=since,
                                                  alerted_at=alerted, now=now)
        except Exception as exc:  # not back after all
            log.error("database_recovery_not_recorded", error=scrub(str(exc)))
            return
        with self._lock:
            self.failures, self.error, self.down_since, self.alerted_at = 0, "", None, None
        log.warning("database_recovered", failures=failures, down_since=since.isoformat())
        if announce:
            self.alerter.send(Alert("recovered", DATABASE, now, 0, error, since))


__all__ = ["Alert", "Alerter", "DatabaseWatch", "OutageRecorder", "breakers_for"]
