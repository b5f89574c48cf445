"""Short texts of scenario steps (task and approval titles, e-mail subjects, block reasons): sandboxed Jinja2.

Ops engineers write them with the letter's variables (``Позвонить {{ counterparty.name }}``); the environment is
sandboxed and a missing variable is an error, as in the letter templates (robots/documents/templates.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from robots.core.errors import BusinessError

TEXTS = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def text_problem(text: str) -> str | None:
    """Why ``text`` is not a valid template (checked when the config is loaded), or None."""
    try:
        TEXTS.from_string(text)
    except TemplateError as exc:
        return f"not a valid template: {exc}"
    return None


def render_text(text: str, names: Mapping[str, Any], what: str) -> str:
    """``text`` rendered with ``names``; a template error is a BusinessError saying ``what`` failed."""
    try:
        return TEXTS.from_string(text).render(dict(names))
    except TemplateError as exc:
        raise BusinessError(f"{what}: {exc}") from exc
