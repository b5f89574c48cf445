"""What ops watch: each daemon's HTTP server with ``/healthz``, ``/readyz`` and Prometheus ``/metrics``.

* ``/healthz`` — 200 while the daemon's loop runs (503 once it is stopping): restart it when this fails.
* ``/readyz`` — 200 when the database answers, the newest tick finished ok (``trigger_fires``) within
  ``daemon.ready.max_tick_age_hours`` and the last good sync is younger than ``max_sync_age_hours``; else 503
  with a JSON ``reasons`` list.
* ``/metrics`` — the Prometheus text format. A custom collector reads the store at scrape time, so every daemon
  reports the shared state (the counts that scan big tables are reused for :data:`COUNTS_TTL`), plus this
  process's own leader status and the certificate days cached by the housekeeping job.

The server is the standard library's, in a thread; it binds ``daemon.http.host`` (loopback by default).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from robots.config.models import DaemonConfig, HttpConfig
from robots.engine.housekeeping import CertificateCache
from robots.store import Store, deliveries, outages, runs
from robots.store.daemons import failed_fires, last_finished, last_tick, list_daemons, ping, steps_done
from robots.support.clock import Clock

log = structlog.get_logger("arbots.daemon")

#: How long the counts of /metrics that scan big tables are reused (the ages and states are read at each scrape).
COUNTS_TTL = timedelta(seconds=10)


@dataclass
class DaemonState:
    """What the HTTP server asks the daemon (read from the server's threads; each field is set atomically)."""

    store: Store
    clock: Clock
    cfg: DaemonConfig
    owner: str
    certificates: CertificateCache
    leader: Callable[[], bool]
    alive: bool = True


def readiness(state: DaemonState) -> tuple[bool, list[str]]:
    """(ready, the reasons it is not)."""
    reasons: list[str] = []
    try:
        ping(state.store)
    except Exception as exc:
        return False, [f"the database does not answer: {str(exc).splitlines()[0][:200]}"]
    now = state.clock.now()
    ready = state.cfg.ready
    tick = last_finished(state.store, "tick:")
    if tick is None:
        reasons.append("no tick has finished successfully yet")
    elif now - tick > timedelta(hours=ready.max_tick_age_hours):
        reasons.append(f"the last good tick finished {_age(now - tick)} ago (daemon.ready.max_tick_age_hours: "
                       f"{ready.max_tick_age_hours:g})")
    sync = state.store.last_sync_at()
    if sync is None:
        reasons.append("no good sync yet")
    elif now - sync > timedelta(hours=ready.max_sync_age_hours):
        reasons.append(f"the last good sync was {_age(now - sync)} ago (daemon.ready.max_sync_age_hours: "
                       f"{ready.max_sync_age_hours:g})")
    return not reasons, reasons


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h"


class StoreCollector(Collector):
    """The metrics, read from the store at each scrape."""

    def __init__(self, state: DaemonState):
        self.state = state
        self._cached: tuple[datetime, dict[str, Any]] | None = None

    def _counts(self, now: datetime) -> dict[str, Any]:
        """The counts that scan big tables (runs, crossings, steps, deliveries), at most every COUNTS_TTL: a
        scrape every few seconds must not group millions of crossings each time. Ages and states stay live."""
        if self._cached is not None and now - self._cached[0] < COUNTS_TTL:
            return self._cached[1]
        store = self.state.store
        counts = {"runs": runs.run_counts(store), "crossings": runs.crossing_counts(store),
                  "signed": steps_done(store, "sign"), "mails": deliveries.delivery_counts(store),
                  "failed_fires": failed_fires(store)}
        self._cached = (now, counts)
        return counts

    def describe(self) -> Iterator[Any]:
        return iter(())  # read at scrape time only: registering must not touch the database

    def collect(self) -> Iterator[Any]:
        state, store = self.state, self.state.store
        now = state.clock.now()
        leader = GaugeMetricFamily("arbots_leader", "1 when this daemon is the leader (fires ticks and "
                                                    "housekeeping)", labels=["owner"])
        leader.add_metric([state.owner], 1.0 if state.leader() else 0.0)
        yield leader
        up = GaugeMetricFamily("arbots_database_up", "1 when the database answered this scrape")
        try:
            ping(store)
        except Exception:
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        counts = self._counts(now)
        by_status = counts["runs"]
        g = GaugeMetricFamily("arbots_runs", "Scenario runs by status", labels=["status"])
        for status in ("pending", "running", "waiting", "done", "failed"):
            g.add_metric([status], float(by_status.get(status, 0)))
        yield g
        yield _gauge("arbots_runs_pending", "Runs decided and not started yet", by_status.get("pending", 0))
        yield _gauge("arbots_runs_waiting", "Runs waiting (an approval, the sending window, a fresh sync)",
                     by_status.get("waiting", 0))
        yield _gauge("arbots_runs_failed", "Runs that failed and need a human", by_status.get("failed", 0))
        c = GaugeMetricFamily("arbots_crossings", "Crossings recorded, by column and status (run or skipped by "
                                                  "catch-up)", labels=["column", "status"])
        for column, status, n in counts["crossings"]:
            c.add_metric([column, status], float(n))
        yield c
        yield _gauge("arbots_documents_signed", "Documents signed (sign steps done)", counts["signed"])
        mails = counts["mails"]
        m = GaugeMetricFamily("arbots_emails", "E-mail deliveries by status", labels=["status"])
        for status in ("sending", "sent", "bounced", "failed"):
            m.add_metric([status], float(mails.get(status, 0)))
        yield m
        yield _gauge("arbots_emails_sent", "E-mails accepted by the SMTP server", mails.get("sent", 0))
        yield _gauge("arbots_emails_bounced", "E-mails that bounced", mails.get("bounced", 0))
        failed = GaugeMetricFamily("arbots_fires_failed", "Ticks and housekeeping jobs whose fire failed, by trigger",
                                   labels=["trigger"])
        for trigger, n in sorted(counts["failed_fires"].items()):
            failed.add_metric([trigger], float(n))
        yield failed
        fails = GaugeMetricFamily("arbots_external_consecutive_failures",
                                  "Consecutive failures of each external system (all daemons)", labels=["system"])
        opened = GaugeMetricFamily("arbots_external_down", "1 while an external system counts as down",
                                   labels=["system"])
        for s in outages.system_states(store):
            fails.add_metric([s.system], float(s.consecutive_failures))
            opened.add_metric([s.system], 1.0 if s.state == "open" else 0.0)
        yield fails
        yield opened
        sync = store.last_sync_at()
        yield _gauge("arbots_last_good_sync_age_seconds", "Seconds since the last good sync (-1: none yet)",
                     (now - sync).total_seconds() if sync else -1)
        tick = last_tick(store)
        yield _gauge("arbots_tick_duration_seconds", "How long the newest finished tick took (any daemon)",
                     tick[1] if tick else 0)
        yield _gauge("arbots_last_tick_age_seconds", "Seconds since the newest tick finished (-1: none yet)",
                     (now - tick[0]).total_seconds() if tick else -1)
        stale = timedelta(seconds=state.cfg.stale_after_seconds)
        yield _gauge("arbots_daemons_alive", "Daemons whose heartbeat is fresh",
                     sum(not d.stale(now, stale) for d in list_daemons(store)))
        certs = GaugeMetricFamily("arbots_certificate_days_left", "Days until each officer's certificate expires "
                                                                  "(computed by the certificates job)",
                                  labels=["officer"])
        for officer, days in sorted(state.certificates.days().items()):
            certs.add_metric([officer], float(days))
        yield certs


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=float(value))


class ObserveServer:
    """The HTTP server of one daemon, in a thread."""

    def __init__(self, state: DaemonState, http: HttpConfig):
        self.state = state
        self.http = http
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(state))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int | None:
        return self._server.server_address[1] if self._server is not None else None

    def start(self) -> None:
        if not self.http.enabled or self.http.port == 0:
            return
        handler = _handler(self)
        self._server = ThreadingHTTPServer((self.http.host, self.http.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="arbots-http", daemon=True)
        self._thread.start()
        log.info("http_listening", host=self.http.host, port=self.port)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


def _handler(owner: ObserveServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/healthz":
                    alive = owner.state.alive
                    self._json(200 if alive else 503, {"status": "alive" if alive else "stopping",
                                                       "owner": owner.state.owner,
                                                       "leader": owner.state.leader()})
                elif path == "/readyz":
                    ok, reasons = readiness(owner.state)
                    self._json(200 if ok else 503, {"ready": ok, "reasons": reasons})
                elif path == "/metrics":
                    body = generate_latest(owner.registry)
                    self._send(200, body, CONTENT_TYPE_LATEST)
                else:
                    self._json(404, {"error": f"no such page {path}; try /healthz, /readyz or /metrics"})
            except Exception as exc:  # a scrape must never take the daemon down
                log.warning("http_request_failed", path=path, error=str(exc).splitlines()[0][:200])
                self._json(500, {"error": "internal error; see the daemon's log"})

        def _json(self, code: int, payload: dict[str, Any]) -> None:
            self._send(code, json.dumps(payload, ensure_ascii=False).encode("utf-8"), "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would drown the log

    return Handler


__all__ = ["DaemonState", "ObserveServer", "StoreCollector", "readiness"]
