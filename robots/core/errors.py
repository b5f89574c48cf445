"""Typed errors. Inside arbots we raise these; only the CLI edge turns them into messages and exit codes.

Two families, because they call for different reactions:

* :class:`UsageError` and its kin are a person's to fix (bad config, bad input data, a wrong command line):
  no retry, exit code 2, and nothing is applied.
* :class:`RuntimeFailure` is the environment's (a server down, a disk full): retry later, exit code 1.

Inside a scenario, a step fails with :class:`BusinessError` (bad data: don't retry, tell a human) or with any
other exception (an application error: retried with backoff).
"""

from __future__ import annotations

from datetime import datetime


class ArbotsError(Exception):
    """Base of every error arbots raises on purpose."""


class UsageError(ArbotsError):
    """A person must fix something: the command line, the config or the input. Exit code 2."""


class ConfigError(UsageError):
    """schedules.yaml or a scenario is wrong. The message lists every problem with its file, line and path."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()):
        super().__init__(message)
        self.problems = problems


class EvaluationOrderError(UsageError):
    """An evaluation was asked for a day before the last evaluation."""


class RuntimeFailure(ArbotsError):
    """Something outside arbots failed; trying again later may work. Exit code 1."""


class BusinessError(ArbotsError):
    """A scenario step cannot succeed with this data: do not retry, alert a human."""


class Unavailable(RuntimeFailure):
    """An external system (``smtp``, ``tsa``, a connector id, ``database``) is down or its circuit breaker is open.

    Inside a scenario the run waits (it is not a failed attempt) and its step runs again from ``retry_at`` (None:
    at the next runner pass): an outage delays work, it never drops it.
    """

    def __init__(self, system: str, retry_at: datetime | None = None, reason: str = ""):
        super().__init__(f"{system} is unavailable{f': {reason}' if reason else ''}")
        self.system = system
        self.retry_at = retry_at
        self.reason = reason


class LeaseLost(RuntimeFailure):
    """This process no longer holds the run's lease (it expired and another process claimed the run, or the run
    was finished elsewhere): the run's work stops here, before any further side effect."""

    def __init__(self, run_id: int, detail: str = ""):
        super().__init__(f"run {run_id}: lease lost{f' ({detail})' if detail else ''}; another process owns it now")
        self.run_id = run_id
