"""structlog set-up: readable on a terminal, JSON lines otherwise; secrets redacted whatever the caller passes."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

from robots.support.redact import SECRET_WORDS

_SECRET = re.compile(f"({SECRET_WORDS})", re.IGNORECASE)


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if _SECRET.search(key) and not key.endswith(("_env", "_file")):
            event[key] = "***"
    return event


def configure(level: str = "info", *, json: bool | None = None) -> None:
    """Log to stderr. ``json=None`` picks JSON when stderr is not a terminal (daemons, CI)."""
    use_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if use_json else \
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info if use_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
