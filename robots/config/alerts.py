"""``alerts:`` in schedules.yaml: when an external system counts as down, and how ops hear of it.

One alert goes out after ``after_failures`` consecutive failures of a system (a connector id, ``smtp``, ``tsa``,
``database``) and one when it recovers, never one per retry; several daemons sharing the database send it once
(robots.engine.outages). ``after_failures`` and ``cooldown_seconds`` also set each process's circuit breakers
(robots.support.breaker): that many outages in a row open a system's breaker, and it lets a probe through after
the cool-down. The webhook's secret header is given by reference (an environment variable or a file), never
inline::

    alerts:
      after_failures: 3
      cooldown_seconds: 300
      email: {to: [ops@example.ru]}
      webhook: {url: https://hooks.example.ru/arbots, header: Authorization, secret_env: ARBOTS_ALERT_TOKEN}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from robots.mail.config import bare_address
from robots.support.config_types import Frozen


class AlertEmail(Frozen):
    """Alerts by e-mail through the SMTP server of ``email:`` (an SMTP outage itself only goes to the webhook)."""

    to: tuple[str, ...] = Field(min_length=1)
    #: The subject starts with this, so that mail filters can route alerts.
    subject_prefix: str = "[arbots]"

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            bare_address(address)
        return value


class AlertWebhook(Frozen):
    """Alerts as a JSON POST (a chat bot, an incident tool). A URL that carries its own key (a Slack-style
    webhook) is given by ``url_env``; a secret header by ``secret_env`` or ``secret_file``."""

    url: str | None = None
    url_env: str | None = None
    #: The header that carries the secret, e.g. Authorization (its value then e.g. "Bearer ...") or X-Api-Key.
    header: str = "Authorization"
    secret_env: str | None = None
    secret_file: Path | None = None
    timeout_seconds: float = Field(default=10, gt=0, le=120)

    @model_validator(mode="after")
    def _checked(self):
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env (a URL that carries a key goes in url_env)")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, not {self.url[:20]!r}")
        if self.secret_env and self.secret_file:
            raise ValueError("give at most one of secret_env or secret_file")
        if not self.header.strip() or any(c in self.header for c in ":\r\n "):
            raise ValueError(f"header {self.header!r} is not an HTTP header name")
        return self


class AlertsConfig(Frozen):
    #: Consecutive failures of a system (across every daemon) before the "down" alert; also the breaker threshold.
    after_failures: int = Field(default=3, ge=1, le=1000)
    #: How long an open breaker keeps calls away from a dead system before a probe goes through.
    cooldown_seconds: float = Field(default=300, ge=0, le=86400)
    email: AlertEmail | None = None
    webhook: AlertWebhook | None = None


def alerts_problems(raw: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-section problems of ``alerts:`` in the raw schedules.yaml, as (YAML path, message) pairs for
    robots.config.checks: alerts by e-mail need the ``email:`` section (the SMTP server and the sender)."""
    alerts = raw.get("alerts")
    if not isinstance(alerts, Mapping) or alerts.get("email") is None or raw.get("email") is not None:
        return []
    return [(("alerts", "email"), "alerts by e-mail need the email: section (the SMTP server and the sender of "
                                  "letters); add it, or send the alerts by webhook only")]


__all__ = ["AlertEmail", "AlertWebhook", "AlertsConfig", "alerts_problems"]
