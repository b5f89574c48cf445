"""``email:`` in schedules.yaml: the SMTP server letters and notifications go through, and the sending window."""

from __future__ import annotations

import zoneinfo
from datetime import time
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from robots.support.config_types import Frozen


def bare_address(text: str) -> str:
    """The ``user@domain`` of ``"Name <user@domain>"`` or of a bare address; ValueError when there is none."""
    _, addr = parseaddr(text)
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in addr):
        raise ValueError(f"{text!r} is not an e-mail address; write user@example.ru or "
                         "\"Name <user@example.ru>\"")
    return addr


class SmtpConfig(Frozen):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    #: none (a trusted relay on loopback), starttls (port 587) or tls (implicit TLS, port 465).
    security: Literal["none", "starttls", "tls"] = "starttls"
    #: AUTH login; with it give exactly one of password_env / password_file.
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    #: Tries of one letter when the server cannot be reached (before its data went out), with backoff; then the
    #: letter waits for a later pass (and counts as one failure of the ``smtp`` circuit breaker).
    connect_attempts: int = Field(default=3, ge=1, le=10)
    #: A PEM file of the CA that signed the server's certificate (a company CA, a test server); default: the
    #: system's trusted CAs.
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _password_by_reference(self):
        refs = [n for n in ("password_env", "password_file") if getattr(self, n)]
        if self.username and len(refs) != 1:
            raise ValueError("username is set: give exactly one of password_env or password_file")
        if not self.username and refs:
            raise ValueError(f"{refs[0]} is set but username is not; AUTH needs both")
        if self.ca_file is not None and self.security == "none":
            raise ValueError("ca_file is only used with security: starttls or tls")
        return self


class SendingWindow(Frozen):
    """When letters to debtors may go out: no mail at night or on non-working days."""

    start: time = time(9, 0)
    end: time = time(19, 0)
    #: Only on working days of the production calendar (calendar: in schedules.yaml).
    working_days_only: bool = True
    timezone: str = "Europe/Moscow"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; write e.g. Europe/Moscow") from None
        return value

    @model_validator(mode="after")
    def _ordered(self):
        if self.start >= self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M} (a window within a day)")
        return self


class EmailConfig(Frozen):
    smtp: SmtpConfig
    #: The From: of letters, e.g. "ООО «Арботс» <debt@arbots.example>". Its domain ends every Message-ID.
    sender: str
    #: Replies go here when set (e.g. the collections team's shared mailbox).
    reply_to: str | None = None
    #: null: letters go at any hour of any day (e.g. a simulation); the default is 09:00-19:00 on working days.
    window: SendingWindow | None = SendingWindow()
    #: Test and demo environments: every letter goes to this address instead (the intended recipients are kept
    #: in the header X-Arbots-Original-To). Never set it in production.
    redirect_to: str | None = None

    @field_validator("sender", "reply_to", "redirect_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            bare_address(value)
        return value

    @property
    def sender_address(self) -> str:
        return bare_address(self.sender)

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2]
