"""``run``: the daemon. One loop on a :class:`~robots.support.clock.Clock` fires the triggers of
:mod:`robots.engine.triggers`: the ticks and housekeeping jobs on the leader only, each window claimed first in
``trigger_fires`` (so it fires once across daemons), and runner passes on every daemon (the run claims spread the
work).

* Leadership and the registry heartbeat: :mod:`robots.engine.leader` (PostgreSQL advisory lock; one daemon per
  SQLite file).
* ``/healthz``, ``/readyz``, ``/metrics``: :mod:`robots.engine.observe`.
* SIGTERM and SIGINT set ``should_stop``: the run under way finishes, the loop ends, the daemon leaves the
  registry and exits 0. SIGHUP reloads the config: a broken one is refused with its problems logged and the old
  one keeps running; a good one rebuilds the services and the triggers.

The loop sleeps in short slices of the clock (so a stop is prompt and a test's manual clock runs fast). Only the
edge constructs the system clock; ``as_of`` of a tick is the day of its window in ``daemon.timezone``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from robots.config import Config
from robots.engine.housekeeping import BiJob, CertificateCache, certificate_days, run_job, warn_certificates
from robots.engine.leader import Beater, Membership
from robots.engine.observe import DaemonState, ObserveServer
from robots.engine.outages import DatabaseWatch
from robots.engine.runner import Runner, RunnerReport
from robots.engine.services import Services, services_for
from robots.engine.tick import tick
from robots.engine.triggers import Fire, Trigger, build_triggers, retry_after
from robots.store.daemons import claim_fire, finish_fire, fire_state, last_fire, list_daemons, retry_fire
from robots.support.clock import Clock
from robots.support.gcpause import give_back_memory

log = structlog.get_logger("arbots.daemon")

#: The longest the loop sleeps at once (seconds of its clock): a stop or a due trigger waits at most this long.
SLICE = 0.25
#: How often each daemon recomputes the certificate days /metrics shows (the leader's job also does).
CERTIFICATES_EVERY = timedelta(hours=12)
#: An error of the loop itself (the database gone) is logged at most this often.
ERROR_LOG_EVERY = timedelta(seconds=30)


def runner_pass(services: Services, now: datetime, *, owner: str | None = None,
                should_stop: Callable[[], bool] | None = None) -> RunnerReport:
    """One pass of the runner between ticks: wake runs whose approval was decided, then run what is runnable."""
    from robots.store.approvals import wake_decided

    woken = wake_decided(services.store, now)
    if woken:  # a decision that came while its run was claimed: the CLI's wake-up found the run running
        log.info("approval_runs_woken", runs=woken)
    return Runner(services, owner=owner).run_pending(now, should_stop=should_stop)


class Daemon:
    """One daemon process: its services, triggers, membership and HTTP server, driven by :meth:`run`."""

    def __init__(self, services: Services, *, clock: Clock, loader: Callable[[], Config] | None = None,
                 bi_job: BiJob | None = None, owner: str | None = None, beater: bool = True):
        self.services = services
        self.clock = clock
        self.loader = loader
        self.bi_job = bi_job
        self.cfg = services.config.settings.daemon
        self.tz = ZoneInfo(self.cfg.timezone)
        self.triggers: list[Trigger] = build_triggers(self.cfg)
        self.membership = Membership(services.store, self.cfg, clock, owner)
        self.certificates = CertificateCache()
        self.state = DaemonState(services.store, clock, self.cfg, self.membership.owner, self.certificates,
                                 leader=lambda: self.membership.leader)
        self.server = ObserveServer(self.state, self.cfg.http)
        self._beater = Beater(self.membership, self._beat_period) if beater else None
        self.stop_event = threading.Event()
        self.reload_requested = threading.Event()
        self._last_error_log: datetime | None = None
        #: The database's own outages: counted here (they cannot be recorded while it is away), alerted once.
        self.db_watch = DatabaseWatch.for_config(services.config, clock)
        self.membership.on_database = self._database_seen
        #: Fires that ended while the database could not record it: (trigger id, window, finished, error).
        self._unrecorded: list[tuple[str, datetime, datetime, str | None]] = []
        #: The longest sleep at once (tests on a manual clock may take bigger steps).
        self.slice = SLICE
        #: Every fire this process made: (trigger id, scheduled_for, outcome) — for tests and the log.
        self.fired: list[tuple[str, datetime, str]] = []

    @property
    def owner(self) -> str:
        return self.membership.owner

    @property
    def leader(self) -> bool:
        return self.membership.leader

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def _beat_period(self) -> float:
        return min(self.cfg.heartbeat_seconds, self.cfg.leader_poll_seconds)

    # -- the life of the process --------------------------------------------------------------------------------

    def start(self) -> None:
        """Join the daemons (SQLite: take the file's lock, or UsageError), start the HTTP server and the beater."""
        self.membership.start()
        try:
            self._start_server()
        except BaseException:
            self.membership.stop()
            raise
        if self._beater is not None:
            self._beater.start()
        self._refresh_certificates(self.clock.now())
        log.info("daemon_started", owner=self.owner, leader=self.leader, timezone=self.cfg.timezone,
                 triggers=[self._describe(t) for t in self.triggers], http_port=self.server.port)

    def _start_server(self) -> None:
        from robots.core.errors import UsageError

        try:
            self.server.start()
        except OSError as exc:
            http = self.server.http
            raise UsageError(f"daemon.http: cannot listen on {http.host}:{http.port} ({exc.strerror or exc}); "
                             "another daemon on this host needs its own daemon.http.port, or set "
                             "daemon.http.enabled: false") from None

    def shutdown(self) -> None:
        self.state.alive = False
        if self._beater is not None:
            self._beater.stop()
        self.server.stop()
        self.membership.stop()
        self.services.close()
        log.info("daemon_stopped", owner=self.owner)

    def run(self, *, install_signals: bool = True, until: Callable[[], bool] | None = None) -> int:
        """Start, loop until a stop (a signal, or ``until()`` in tests), shut down; the exit code (0)."""
        if install_signals:
            self._install_signals()
        self.start()
        try:
            while not self.should_stop() and not (until is not None and until()):
                self.step()
                self._sleep()
        finally:
            self.shutdown()
        return 0

    def _install_signals(self) -> None:
        def on_stop(signum: int, _frame: object) -> None:
            log.info("stopping", signal=signal.Signals(signum).name, owner=self.owner)
            self.stop_event.set()

        def on_hup(_signum: int, _frame: object) -> None:
            self.reload_requested.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def _sleep(self) -> None:
        now = self.clock.now()
        due = [d for d in (t.next_at(now) for t in self.triggers) if d is not None]
        membership_due = self.membership.next_due()
        if membership_due is not None:
            due.append(membership_due)
        wait = min(self.slice, self.cfg.leader_poll_seconds)
        if due:
            wait = min(wait, max((min(due) - now).total_seconds(), 0.0))
        self.clock.sleep(max(wait, 0.01))

    # -- one turn of the loop -----------------------------------------------------------------------------------

    def step(self) -> None:
        """One turn: the membership's beat, a reload if asked for, then every trigger that is due."""
        now = self.clock.now()
        self.membership.beat(now)
        self._record_unrecorded()
        computed = self.certificates.computed_at
        if computed is not None and now - computed > CERTIFICATES_EVERY:
            self._refresh_certificates(now)  # the followers' /metrics too, between the leader's jobs
        if self.reload_requested.is_set():
            self.reload_requested.clear()
            self.reload()
        due: list[tuple[Trigger, Fire]] = []
        for trigger in self.triggers:
            if trigger.leader_only and not self.membership.leader:
                continue
            fire = trigger.due(self.clock.now())
            if fire is not None:
                due.append((trigger, fire))
        # Of several ticks due at once (a start-up or a takeover after a gap), only the newest window runs: an
        # older one would evaluate a day before it. The older ones are claimed as coalesced.
        ticks = sorted((f.scheduled_for, i) for i, (_, f) in enumerate(due) if f.kind == "tick")
        coalesced = {i for _, i in ticks[:-1]}
        for i, (trigger, fire) in enumerate(due):
            if self.should_stop():
                return
            try:
                self._fire(trigger, fire, coalesced=i in coalesced)
            except Exception as exc:  # the store did not answer the fence: the same window is due next turn
                self.db_watch.failed(exc)
                self._error("trigger_unavailable", trigger=fire.trigger_id, error=str(exc).splitlines()[0][:300])

    def _fire(self, trigger: Trigger, fire: Fire, *, coalesced: bool = False) -> None:
        store = self.services.store
        now = self.clock.now()
        if not fire.fenced:
            trigger.judged(fire, now)
            self._runner_pass(now)
            return
        newest = last_fire(store, fire.trigger_id)
        if newest is not None and fire.scheduled_for <= newest:
            trigger.judged(fire, now)  # this window (or a later one) was fired already by some daemon
            if coalesced or fire.kind != "tick" or fire.scheduled_for != newest or \
                    not self._retry(trigger, fire, now):
                return  # (a failed tick is retried unless a newer tick window runs in this turn anyway)
        elif not self._claim(trigger, fire, now, coalesced):
            return
        if fire.kind == "tick" and self._superseded(fire):
            return
        error: str | None = None
        try:
            if fire.kind == "tick":
                self._tick(fire)
            else:
                with structlog.contextvars.bound_contextvars(trigger=fire.trigger_id):
                    run_job(fire.name, self.services, self.clock.now(), cache=self.certificates, bi_job=self.bi_job)
        except Exception as exc:
            error = str(exc).splitlines()[0][:1000] if str(exc) else type(exc).__name__
            self.db_watch.failed(exc)
            log.exception("fire_failed", trigger=fire.trigger_id, scheduled_for=fire.scheduled_for.isoformat())
        self.fired.append((fire.trigger_id, fire.scheduled_for, "failed" if error else "ok"))
        finished = self.clock.now()
        if error and fire.kind == "tick":
            trigger.retry_at = retry_after(fire.scheduled_for, finished)
            log.info("tick_retry_planned", trigger=fire.trigger_id, at=trigger.retry_at.isoformat())
        try:
            finish_fire(store, fire.trigger_id, fire.scheduled_for, finished, error=error)
        except Exception as exc:  # recorded at a later turn, once the database answers (so a failed tick is retried)
            self.db_watch.failed(exc)
            self._unrecorded.append((fire.trigger_id, fire.scheduled_for, finished, error))
            self._error("fire_not_recorded", trigger=fire.trigger_id, error=str(exc).splitlines()[0][:300])
        else:
            self.db_watch.recovered(store)

    def _retry(self, trigger: Trigger, fire: Fire, now: datetime) -> bool:
        """Whether to run the newest window's tick again, having won the retry: it failed (here or on another
        daemon) long enough ago, or the daemon that took it died in it (its heartbeat went stale)."""
        store = self.services.store
        state = fire_state(store, fire.trigger_id, fire.scheduled_for)
        if state is None or (state.outcome is None and state.owner == self.owner):
            return False  # never fired, or under way in this very process
        if state.outcome is None:
            stale = timedelta(seconds=self.cfg.stale_after_seconds)
            alive = {d.owner for d in list_daemons(store) if not d.stale(now, stale)}
            if state.owner in alive:
                trigger.retry_at = now + stale  # look again later: it may still die in it
                return False
            won = retry_fire(store, fire.trigger_id, fire.scheduled_for, self.owner, now, orphan_of=state.owner)
            reason = f"its daemon {state.owner} died in it"
        elif state.outcome == "failed" and state.finished_at is not None:
            at = retry_after(fire.scheduled_for, state.finished_at)
            if now < at:
                trigger.retry_at = at
                return False
            won = retry_fire(store, fire.trigger_id, fire.scheduled_for, self.owner, now,
                             failed_before=now - (at - state.finished_at))
            reason = "it failed"
        else:
            return False
        if won:
            log.info("tick_retried", trigger=fire.trigger_id, scheduled_for=fire.scheduled_for.isoformat(),
                     reason=reason)
        return won

    def _claim(self, trigger: Trigger, fire: Fire, now: datetime, coalesced: bool) -> bool:
        """Claim a new window (skipping a housekeeping one past the grace); whether to run it."""
        store = self.services.store
        lateness = trigger.late(fire, now)
        if lateness is not None:
            trigger.judged(fire, now)
            log.warning("housekeeping_window_skipped", trigger=fire.trigger_id,
                        scheduled_for=fire.scheduled_for.isoformat(), late_minutes=int(lateness.total_seconds() // 60),
                        misfire_grace_minutes=self.cfg.misfire_grace_minutes)
            return False
        if not claim_fire(store, fire.trigger_id, fire.scheduled_for, self.owner, now):
            trigger.judged(fire, now)
            log.info("fire_taken_by_another_daemon", trigger=fire.trigger_id,
                     scheduled_for=fire.scheduled_for.isoformat())
            return False
        trigger.judged(fire, now)
        if coalesced:
            log.info("tick_window_coalesced", trigger=fire.trigger_id, scheduled_for=fire.scheduled_for.isoformat())
            finish_fire(store, fire.trigger_id, fire.scheduled_for, now, outcome="coalesced")
            return False
        return True

    def _superseded(self, fire: Fire) -> bool:
        """A tick window whose day is before the last evaluated one (a manual ``tick`` went ahead, or the clocks
        of two hosts disagree) would be refused by the evaluation order: it is recorded as superseded instead."""
        as_of = fire.scheduled_for.astimezone(self.tz).date()
        last = self.services.store.last_as_of()
        if last is None or as_of >= last:
            return False
        log.info("tick_window_superseded", trigger=fire.trigger_id, as_of=as_of.isoformat(),
                 last_evaluated=last.isoformat())
        finish_fire(self.services.store, fire.trigger_id, fire.scheduled_for, self.clock.now(), outcome="superseded")
        return True

    def _tick(self, fire: Fire) -> None:
        as_of = fire.scheduled_for.astimezone(self.tz).date()
        tick_id = f"{fire.name}-{fire.scheduled_for.astimezone(self.tz):%Y%m%dT%H%M}"
        with structlog.contextvars.bound_contextvars(tick_id=tick_id):
            now = self.clock.now()
            log.info("tick_started", trigger=fire.trigger_id, as_of=as_of.isoformat(),
                     scheduled_for=fire.scheduled_for.isoformat())
            try:
                report = tick(self.services, as_of, now, runner=Runner(self.services, owner=self.owner),
                              should_stop=self.should_stop)
            finally:
                give_back_memory()  # a tick over a large ledger frees a lot: the daemon idles small
            r = report.runner
            log.info("tick_done", as_of=as_of.isoformat(), new_runs=report.new_runs, done=len(r.done),
                     failed=len(r.failed), retry=len(r.retry), waiting=len(r.waiting),
                     seconds=round((self.clock.now() - now).total_seconds(), 3))

    def _runner_pass(self, now: datetime) -> None:
        try:
            report = runner_pass(self.services, now, owner=self.owner, should_stop=self.should_stop)
        except Exception as exc:  # the store may be briefly unreachable: the next pass tries again
            self.db_watch.failed(exc)
            self._error("runner_pass_crashed", error=str(exc).splitlines()[0][:300])
            return
        self.db_watch.recovered(self.services.store)
        if report.done or report.failed or report.retry or report.waiting:
            log.info("runner_pass_done", done=len(report.done), failed=len(report.failed),
                     retry=len(report.retry), waiting=len(report.waiting))

    def _database_seen(self, exc: BaseException | None) -> None:
        """The membership's heartbeat asked the database: count an outage, or end one."""
        if exc is None:
            self.db_watch.recovered(self.services.store)
        else:
            self.db_watch.failed(exc)

    def _record_unrecorded(self) -> None:
        """Finish the fires whose outcome the database could not take when they ended."""
        while self._unrecorded:
            trigger_id, scheduled_for, finished, error = self._unrecorded[0]
            try:
                finish_fire(self.services.store, trigger_id, scheduled_for, finished, error=error)
            except Exception:  # still away; the next turn tries again
                return
            self._unrecorded.pop(0)
            log.info("fire_recorded_late", trigger=trigger_id, scheduled_for=scheduled_for.isoformat(),
                     outcome="failed" if error else "ok")

    def _error(self, event: str, **fields: Any) -> None:
        now = self.clock.now()
        if self._last_error_log is None or now - self._last_error_log >= ERROR_LOG_EVERY:
            self._last_error_log = now
            log.error(event, **fields)

    def _refresh_certificates(self, now: datetime) -> None:
        if not self.services.config.settings.officers:
            return
        try:
            self.certificates.set(certificate_days(self.services, now), now)
        except Exception:  # the certificates job reports what is wrong with a key
            self.certificates.set({}, now)
            log.warning("certificate_days_unknown")

    # -- SIGHUP -------------------------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Load and check the config again; apply it when good. A broken one is refused and the old one runs on."""
        if self.loader is None:
            log.warning("config_reload_unavailable", reason="this daemon was started without a config path")
            return False
        try:
            config = self.loader()
            same_db = config.database_url() == self.services.config.database_url()
        except Exception as exc:
            problems = list(getattr(exc, "problems", ())) or [str(exc)]
            log.error("config_reload_refused", problems=problems, kept="the running config")
            return False
        if not same_db:
            log.error("config_reload_refused", problems=["database: a daemon cannot move to another database; "
                                                         "restart it to switch"], kept="the running config")
            return False
        old = self.services
        try:
            services = services_for(config, old.store, self.clock)
        except Exception as exc:  # e.g. a templates folder that is not there: the old services run on
            log.error("config_reload_refused", problems=[str(exc).splitlines()[0][:500]], kept="the running config")
            return False
        self.services = services
        cfg = config.settings.daemon
        previous = {t.trigger_id: t for t in self.triggers}
        self.triggers = build_triggers(cfg)
        for t in self.triggers:
            if t.trigger_id in previous:
                t.carry(previous[t.trigger_id])
        http_changed = cfg.http != self.cfg.http
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.timezone)
        self.membership.reconfigure(cfg)
        self.state.cfg = cfg
        if http_changed:
            self.server.stop()
            self.server = ObserveServer(self.state, cfg.http)
            try:
                self._start_server()
            except Exception as exc:
                log.error("http_restart_failed", error=str(exc))
        old.close()
        log.info("config_reloaded", path=str(config.path), triggers=[self._describe(t) for t in self.triggers])
        return True

    @staticmethod
    def _describe(t: Trigger) -> str:
        if t.interval is not None:
            return f"{t.trigger_id} every {int(t.interval.total_seconds() // 60)} min"
        return f"{t.trigger_id} at {t.spec}" if t.spec else t.trigger_id


def run_daemon(services: Services, *, clock: Clock, config_path: Path | None = None,
               bi_job: BiJob | None = None) -> int:
    """The daemon of ``run_robots.py run``: until SIGTERM; the exit code."""
    loader = None
    if config_path is not None:
        from robots.config import load_config

        path = config_path
        loader = lambda: load_config(path)
    return Daemon(services, clock=clock, loader=loader, bi_job=bi_job).run()


__all__ = ["Daemon", "run_daemon", "runner_pass", "warn_certificates"]
