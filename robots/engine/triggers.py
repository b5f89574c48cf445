"""The daemon's triggers: what fires when, with stable ids, decided from a clock reading and the fires recorded.

* ``tick:<id>`` — a crontab line of ``daemon.ticks``. Leader only, fenced (``trigger_fires``). Missed windows are
  coalesced: however many passed while no daemon led, the newest one fires once (the aging engine catches up
  the gap).
  A tick that failed (the database or a connector away) is tried again in the same window, after a wait that
  grows with its lateness (:func:`retry_after`), until the next window supersedes it.
* ``housekeeping:<name>`` — a crontab line of ``daemon.housekeeping``. Leader only, fenced. A window missed by
  more than ``daemon.misfire_grace_minutes`` is skipped (logged once), not run late.
* ``runner:poll`` — every ``daemon.poll_minutes``, on every daemon (the run claims spread the work), not fenced:
  a late pass runs once, then the interval goes on from that moment.

APScheduler is only the crontab parser here; the loop that asks :meth:`Trigger.due` is :mod:`robots.engine.daemon`.
Nothing in this module reads the clock: every moment is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from robots.config.models import DaemonConfig

Kind = Literal["tick", "housekeeping", "runner"]

#: How far back the newest window of a crontab line is looked for (a yearly line still finds its last window).
_LOOKBACKS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32), timedelta(days=367),
              timedelta(days=4 * 366 + 1))


def newest_window(cron: CronTrigger, now: datetime) -> datetime | None:
    """The newest moment of ``cron`` at or before ``now``, in UTC (None when it has none within four years)."""
    for back in _LOOKBACKS:
        first = cron.get_next_fire_time(None, now - back)
        if first is None or first > now:
            continue
        window = first
        while True:
            nxt = cron.get_next_fire_time(None, window + timedelta(seconds=1))
            if nxt is None or nxt > now:
                return window.astimezone(UTC)
            window = nxt
    return None


def next_window(cron: CronTrigger, now: datetime) -> datetime | None:
    """The first moment of ``cron`` strictly after ``now``."""
    nxt = cron.get_next_fire_time(None, now + timedelta(microseconds=1))
    return nxt.astimezone(UTC) if nxt is not None else None


@dataclass(frozen=True, slots=True)
class Fire:
    """One decided fire: the trigger and the window it stands for (``scheduled_for``, the fence's key)."""

    trigger_id: str
    kind: Kind
    name: str
    scheduled_for: datetime
    fenced: bool


@dataclass
class Trigger:
    """One trigger of the daemon. ``due`` answers "what should fire now?" from the schedule and what this process
    judged already; the fence in the store (``trigger_fires``) has the last word for fenced triggers."""

    trigger_id: str
    kind: Kind
    name: str
    cron: CronTrigger | None = None
    interval: timedelta | None = None
    #: The crontab line, as written (for the log).
    spec: str = ""
    #: Windows older than this are skipped instead of fired late (housekeeping); None: always catch up once.
    grace: timedelta | None = None
    #: The runner's interval: when this process passed last (None: not yet, so it passes at once).
    last_pass: datetime | None = None
    #: The newest window already judged by this process (fired, found taken, or skipped), so it is asked once.
    seen: datetime | None = None
    #: When the failed fire of the newest window may be tried again (ticks: see :func:`retry_after`).
    retry_at: datetime | None = None
    _upcoming: datetime | None = field(default=None, repr=False)

    @property
    def leader_only(self) -> bool:
        return self.kind != "runner"

    @property
    def fenced(self) -> bool:
        return self.kind != "runner"

    def window(self, now: datetime) -> datetime | None:
        """The newest window at or before ``now`` (crontab triggers)."""
        return newest_window(self.cron, now) if self.cron is not None else None

    def due(self, now: datetime) -> Fire | None:
        """The fire due at ``now``, if any: the runner's pass when its interval is over; for a crontab trigger the
        newest window, unless this process judged it already (missed windows coalesce into the newest one).

        The caller still checks the store (a newer window fired by another daemon, the claim of this one) and
        reports back with :meth:`judged`; until then the same window stays due."""
        if self.interval is not None:
            if self.last_pass is None or now - self.last_pass >= self.interval:
                return Fire(self.trigger_id, self.kind, self.name, now, fenced=False)
            return None
        if self.retry_at is not None and now >= self.retry_at:
            self.retry_at = None
            if self.seen is not None and self.window(now) == self.seen:  # no newer window came meanwhile
                return Fire(self.trigger_id, self.kind, self.name, self.seen, fenced=True)
        if self.seen is not None and self._upcoming is not None and now < self._upcoming:
            return None  # the fast path of an idle loop: the newest window is judged, the next not come yet
        window = self.window(now)
        if window is None or (self.seen is not None and window <= self.seen):
            return None
        return Fire(self.trigger_id, self.kind, self.name, window, fenced=True)

    def late(self, fire: Fire, now: datetime) -> timedelta | None:
        """How late ``fire`` is when that is past the grace (it is then skipped); None when it may run."""
        if self.grace is None or not fire.fenced:
            return None
        lateness = now - fire.scheduled_for
        return lateness if lateness > self.grace else None

    def carry(self, old: Trigger) -> None:
        """Keep what ``old`` (the same id, before a reload) judged, if its schedule is the same."""
        if old.kind == self.kind and (old.spec, str(old.cron)) == (self.spec, str(self.cron)) and \
                old.interval == self.interval:
            self.seen, self._upcoming, self.last_pass = old.seen, old._upcoming, old.last_pass
            self.retry_at = old.retry_at

    def judged(self, fire: Fire, now: datetime) -> None:
        """``fire`` was fired, found taken or skipped: it is not asked again by this process."""
        if self.interval is not None:
            self.last_pass = now
        else:
            self.seen = fire.scheduled_for
            self._upcoming = next_window(self.cron, fire.scheduled_for) if self.cron is not None else None

    def next_at(self, now: datetime) -> datetime | None:
        """When this trigger may next be due (for the loop's sleep and the log); None when never."""
        if self.interval is not None:
            return now if self.last_pass is None else self.last_pass + self.interval
        return next_window(self.cron, now) if self.cron is not None else None


#: The shortest wait before a failed tick is tried again.
RETRY_MIN = timedelta(minutes=5)


def retry_after(scheduled_for: datetime, failed_at: datetime) -> datetime:
    """When a tick that failed at ``failed_at`` may be tried again: after at least as long as it has been late
    already (five minutes at least), so the retries of one window thin out (about 8 a day) until the next window
    supersedes it."""
    return failed_at + max(RETRY_MIN, failed_at - scheduled_for)


def build_triggers(cfg: DaemonConfig) -> list[Trigger]:
    """The triggers of ``daemon``: the ticks, the runner's interval, and the housekeeping jobs that are set."""
    tz = ZoneInfo(cfg.timezone)
    triggers = [Trigger(f"tick:{t.id}", "tick", t.id, cron=CronTrigger.from_crontab(t.cron, timezone=tz),
                        spec=t.cron) for t in cfg.ticks]
    triggers.append(Trigger("runner:poll", "runner", "poll", interval=timedelta(minutes=cfg.poll_minutes)))
    grace = timedelta(minutes=cfg.misfire_grace_minutes)
    for name in type(cfg.housekeeping).model_fields:
        job = getattr(cfg.housekeeping, name)
        if job is not None:
            triggers.append(Trigger(f"housekeeping:{name}", "housekeeping", name,
                                    cron=CronTrigger.from_crontab(job.cron, timezone=tz), spec=job.cron,
                                    grace=grace))
    return triggers


__all__ = ["RETRY_MIN", "Fire", "Trigger", "build_triggers", "newest_window", "next_window", "retry_after"]
