"""Reading a secret that the config names by reference (``*_env`` or ``*_file``): officers' key passwords and PINs,
connectors' passwords, tokens and API keys. Errors name the variable or file, never the value."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import structlog

from robots.core.errors import ArbotsError, UsageError

log = structlog.get_logger("arbots.secrets")


def read_secret(env: str | None, file: Path | None, what: str, base: Path, environ: Mapping[str, str] | None = None,
                *, error: type[ArbotsError] = UsageError) -> str:
    """The secret from the environment variable ``env`` or the file ``file`` (relative to ``base``).

    Raises ``error`` (UsageError by default) saying what is missing; warns when the file is readable by others.
    """
    environ = os.environ if environ is None else environ
    if env:
        value = environ.get(env)
        if not value:
            raise error(f"{what}: environment variable {env} is not set")
        return value
    if file is None:
        raise error(f"{what}: no secret configured (give *_env or *_file)")
    path = file if file.is_absolute() else base / file
    try:
        value = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise error(f"{what}: cannot read the secret file {path} ({exc.strerror})") from None
    if not value:
        raise error(f"{what}: the secret file {path} is empty")
    warn_if_readable_by_others(path, "secret file")
    return value


def warn_if_readable_by_others(path: Path, what: str) -> bool:
    """Log a warning when group or others may read ``path``; return whether they may."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("readable_by_others", file=str(path), kind=what, mode=oct(mode & 0o777),
                    fix=f"chmod 600 {path}")
        return True
    return False
