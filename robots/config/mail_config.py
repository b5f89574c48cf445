"""``email:`` in schedules.yaml: the SMTP server letters and notifications go through, and the sending window."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from robots.config.common import Frozen


class SmtpConfig(Frozen):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    #: none (a trusted relay on loopback), starttls (port 587) or tls (implicit TLS, port 465).
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    timeout_seconds: float = Field(default=30, gt=0, le=600)


class EmailConfig(Frozen):
    smtp: SmtpConfig
    #: The From: of letters, e.g. "ООО «Арботс» <debt@arbots.example>".
    sender: str
