"""Telling a person about a new task: by e-mail (through :mod:`robots.mail.smtp`) and/or a webhook (a JSON POST).

Each (task, channel) is notified once: the notification is recorded as ``sending`` before it goes out and as
``sent`` after (robots.store.tasks). A step run again after a crash skips channels already sent and repeats one
left ``sending``; the webhook carries an ``Idempotency-Key`` header and the e-mail a stable Message-ID, so the
receiving side can drop the repeat.

Failures: a webhook answering 5xx or timing out is retried a few times at once (tenacity), then the task step
raises :class:`NotifyUnavailable` (an :class:`~robots.core.errors.Unavailable` of ``webhook`` or ``smtp``): the run
waits and the step runs again later, the task itself already recorded. The e-mail goes through the SMTP server's
circuit breaker when the services have one. A 4xx answer, or an e-mail refused for good, is
recorded as ``failed`` and logged; the task itself stands (``task list`` shows it, ``status`` counts the failure).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from robots.core.errors import Unavailable
from robots.mail.message import build_message, message_id
from robots.mail.smtp import SYSTEM as SMTP
from robots.mail.smtp import Mailer, PermanentMailError
from robots.store import tasks as db
from robots.store.tasks import Channel, TaskRow
from robots.support.breaker import scrub

log = structlog.get_logger("arbots.notify")

WEBHOOK_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
WEBHOOK_ATTEMPTS = 3
#: The system name of the task webhooks (each role may have its own URL) when they are down.
WEBHOOK = "webhook"


class NotifyUnavailable(Unavailable):
    """A notification could not go out now (a webhook down, the SMTP server unreachable): the run waits for
    ``system`` (``smtp`` or ``webhook``) and the step tries again later."""

    def __init__(self, message: str, system: str = SMTP, retry_at: datetime | None = None):
        super().__init__(system, retry_at, scrub(message))

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):
        return (type(self), (self.reason, self.system, self.retry_at))


class _Permanent(Exception):
    """Sending again will not help (a 4xx answer, an address refused for good)."""


class _Retryable(Exception):
    """An answer worth another try at once (5xx)."""


@dataclass(frozen=True)
class TaskNotice:
    """What a notification says about a task."""

    task: TaskRow
    role_id: str
    run_key: str
    contract: dict[str, Any]       # id, number
    counterparty: dict[str, Any]   # id, name, inn

    def payload(self) -> dict[str, Any]:
        t = self.task
        return {"task_id": t.id, "title": t.title, "assignee": t.assignee, "role": self.role_id,
                "due_on": t.due_on.isoformat(), "contract": self.contract, "counterparty": self.counterparty}

    def idempotency_key(self, channel: str) -> str:
        return hashlib.sha256(f"{self.run_key}|task{self.task.id}|{channel}".encode()).hexdigest()[:32]


def notify_task(services: Any, notice: TaskNotice, role: Any, now: datetime) -> dict[str, str]:
    """Notify the assignee on each channel the role lists; returns channel -> sent | failed | skipped."""
    store = services.store
    outcome: dict[str, str] = {}
    for channel in role.notify:
        ch = Channel(channel)
        target = role.email if ch is Channel.EMAIL else (role.webhook or "")
        before = db.begin_notification(store, notice.task.id, ch, target, now)
        if before in ("sent", "failed"):
            outcome[channel] = before
            continue
        if before == "sending":
            log.warning("notification_repeated", task_id=notice.task.id, channel=channel,
                        reason="an earlier attempt did not record its outcome")
        try:
            if ch is Channel.EMAIL:
                _email(services, notice, role, now)
            else:
                _webhook(notice, role)
        except NotifyUnavailable as exc:
            db.finish_notification(store, notice.task.id, ch, now, str(exc), final=False)
            raise
        except _Permanent as exc:
            db.finish_notification(store, notice.task.id, ch, now, str(exc))
            log.error("notification_failed", task_id=notice.task.id, channel=channel, error=str(exc))
            outcome[channel] = "failed"
            continue
        db.finish_notification(store, notice.task.id, ch, now)
        outcome[channel] = "sent"
    return outcome


def _email(services: Any, notice: TaskNotice, role: Any, now: datetime) -> None:
    email = services.config.settings.email
    if email is None:  # the config check refuses this; kept for configs built in code
        raise _Permanent("roles notify by email but schedules.yaml has no email: section")
    t = notice.task
    cp, ct = notice.counterparty, notice.contract
    body = (f"{t.assignee}, вам поставлена задача № {t.id}.\n\n"
            f"{t.title}\n\n"
            f"Срок: {t.due_on:%d.%m.%Y}\n"
            f"Контрагент: {cp['name']} (ИНН {cp.get('inn') or '-'})\n"
            f"Договор: {ct['number']}\n\n"
            f"Когда задача выполнена: run_robots.py task done {t.id} --by \"{t.assignee}\" --note \"...\"\n"
            f"Задача, не закрытая в срок, считается нарушением регламента.\n")
    msg = build_message(sender=email.sender, to=[role.email], subject=f"Задача № {t.id}: {t.title}", body=body,
                        msg_id=message_id(notice.run_key, f"task{t.id}|email", email.sender_domain), date_=now,
                        headers=[("X-Arbots-Task", str(t.id))])
    breakers = getattr(services, "breakers", None)
    try:
        result = Mailer(email, services.config.base_dir,
                        breaker=breakers(SMTP) if breakers is not None else None).send(msg, [role.email])
    except PermanentMailError as exc:
        raise _Permanent(str(exc)) from None
    except Exception as exc:  # TransientMailError, or the SMTP password cannot be read
        raise NotifyUnavailable(f"task {t.id} e-mail to {role.email}: {exc}",
                                retry_at=getattr(exc, "retry_at", None)) from None
    log.info("task_notified", task_id=t.id, channel="email", response=result.response)


def _webhook(notice: TaskNotice, role: Any) -> None:
    url = role.webhook
    if not url:
        raise _Permanent("the role lists webhook under notify but has no webhook URL")
    headers = {"Idempotency-Key": notice.idempotency_key("webhook"), "User-Agent": "arbots"}
    token_env = getattr(role, "webhook_token_env", None)  # see docs/email.md: an optional Role field
    if token_env:
        import os

        token = os.environ.get(token_env)
        if not token:
            raise _Permanent(f"environment variable {token_env} (webhook_token_env) is not set")
        headers["Authorization"] = f"Bearer {token}"
    where = f"webhook of task {notice.task.id}"

    def post() -> httpx.Response:
        with httpx.Client(timeout=WEBHOOK_TIMEOUT) as client:
            resp = client.post(url, json=notice.payload(), headers=headers)
        if resp.status_code >= 500:
            raise _Retryable(f"{where} answered HTTP {resp.status_code}")
        return resp

    retrying = Retrying(stop=stop_after_attempt(WEBHOOK_ATTEMPTS), wait=wait_exponential(multiplier=0.2, max=2),
                        retry=retry_if_exception(lambda e: isinstance(e, (_Retryable, httpx.TransportError))),
                        reraise=True)
    try:
        resp = retrying(post)
    except _Retryable as exc:
        raise NotifyUnavailable(f"{exc} ({WEBHOOK_ATTEMPTS} attempts)", WEBHOOK) from None
    except httpx.TransportError as exc:  # connect errors, timeouts: never echo the URL's query (it may hold a key)
        raise NotifyUnavailable(f"{where}: {type(exc).__name__} ({WEBHOOK_ATTEMPTS} attempts)", WEBHOOK) from None
    if resp.status_code >= 400:
        raise _Permanent(f"{where} answered HTTP {resp.status_code}: {resp.text[:200]}")
    log.info("task_notified", task_id=notice.task.id, channel="webhook", status=resp.status_code)
