"""``run``: the daemon. APScheduler 3.x fires ticks on the crontab lines of schedules.yaml, and a runner pass every
``daemon.poll_minutes`` in between, so a run woken by an approver's decision, an approval due to escalate or a
letter waiting for the sending window goes on the same day instead of at the next tick.

This is the only place that reads the clock for ``as_of`` (today in the configured time zone). Triggers are
built from the config at start-up with stable ids; business state lives in our own tables, so nothing is pickled
and catching up after downtime is simply the next tick's ``as_of`` (the aging engine handles the gap).
SIGTERM and SIGINT stop the scheduler after the tick under way has finished.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from robots.core.errors import ArbotsError
from robots.engine.runner import Runner, RunnerReport
from robots.engine.services import Services
from robots.engine.tick import tick

log = structlog.get_logger("arbots.daemon")


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


def runner_pass(services: Services, now: datetime) -> RunnerReport:
    """One pass of the runner between ticks: wake runs whose approval was decided, then run what is runnable."""
    from robots.store.approvals import wake_decided

    woken = wake_decided(services.store, now)
    if woken:  # a decision that came while its run was claimed: the CLI's wake-up found the run running
        log.info("approval_runs_woken", runs=woken)
    return Runner(services).run_pending(now)


def run_daemon(services: Services, *, run_now: bool = True) -> int:
    cfg = services.config.settings.daemon
    tz = ZoneInfo(cfg.timezone)
    stop = threading.Event()
    lock = threading.Lock()  # one tick at a time inside this process

    def one_tick() -> None:
        with lock:
            now = datetime.now(UTC)
            as_of = now.astimezone(tz).date()
            warn_certificates(services, now)
            try:
                report = tick(services, as_of, now)
                log.info("tick_done", as_of=as_of.isoformat(), new_runs=report.new_runs,
                         done=len(report.runner.done), failed=len(report.runner.failed))
            except ArbotsError as exc:  # bad data or config: logged, the daemon lives on to the next tick
                log.error("tick_failed", as_of=as_of.isoformat(), error=str(exc))
            except Exception:
                log.exception("tick_crashed", as_of=as_of.isoformat())

    def one_pass() -> None:
        with lock:
            now = datetime.now(UTC)
            try:
                report = runner_pass(services, now)
                if report.done or report.failed or report.retry or report.waiting:
                    log.info("runner_pass_done", done=len(report.done), failed=len(report.failed),
                             retry=len(report.retry), waiting=len(report.waiting))
            except Exception:  # the store may be briefly unreachable: the next pass or tick tries again
                log.exception("runner_pass_crashed")

    scheduler = BackgroundScheduler(timezone=tz)
    scheduler.add_job(one_pass, IntervalTrigger(minutes=cfg.poll_minutes, timezone=tz), id="runner:poll",
                      replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=600)
    for t in cfg.ticks:
        scheduler.add_job(one_tick, CronTrigger.from_crontab(t.cron, timezone=tz), id=f"tick:{t.id}",
                          replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=3600)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    log.info("daemon_started", ticks=[f"{t.id}: {t.cron}" for t in cfg.ticks], timezone=cfg.timezone,
             poll_minutes=cfg.poll_minutes)
    if run_now:
        scheduler.add_job(one_tick, id="tick:startup", replace_existing=True)
    stop.wait()
    scheduler.shutdown(wait=True)  # lets the tick under way finish its current run
    log.info("daemon_stopped")
    return 0
