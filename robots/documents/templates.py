"""Jinja2 rendering of ops-edited letter templates into letter markup (see :mod:`robots.documents.pdf`).

Templates are edited by operations engineers, not developers, and their output is legal correspondence:

* the environment is sandboxed (and immutable), so a template cannot reach Python internals or change
  the context it was given;
* undefined variables are errors, never blanks: a letter saying "по договору № " must not go out;
* every value is escaped for reportlab's XML-like paragraph markup, so ``<b>`` or ``&`` in a customer
  name is printed, not interpreted;
* every failure is a :class:`TemplateRenderError` naming the template file and line.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing
from markupsafe import Markup, escape

from robots.documents.formatting import (
    amount_in_words,
    amount_in_words_capitalized,
    currency_label,
    format_date,
    format_money,
    format_number,
    format_percent,
    plural,
)


class TemplateRenderError(Exception):
    """A template could not be rendered. The message reads ``<file>:<line>: <problem>``."""

    def __init__(self, message: str, *, template: str | None = None, lineno: int | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.lineno = lineno


#: Names of the context's containers for the render under way, so an undefined-attribute error can say
#: "'contract' has no attribute 'numbr'" instead of Jinja's "'dict object' has no attribute 'numbr'".
_CONTAINER_NAMES: ContextVar[Mapping[int, str] | None] = ContextVar("arbots_template_container_names", default=None)


class _NamedStrictUndefined(StrictUndefined):
    """StrictUndefined whose message names the context variable (``'invoices[0]' has no attribute 'x'``)."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if not self._undefined_hint and self._undefined_obj is not missing:
            names = _CONTAINER_NAMES.get()
            label = names.get(id(self._undefined_obj)) if names is not None else None
            if label is not None:
                kind = "attribute" if isinstance(self._undefined_name, str) else "element"
                return f"{label!r} has no {kind} {self._undefined_name!r}"
        return str(super()._undefined_message)


def _name_containers(value: Any, path: str, out: dict[int, str], depth: int = 0) -> None:
    """Record ``id(container) -> dotted path`` for dicts, lists and dataclasses in the context."""
    if depth > 5 or id(value) in out:
        return
    if isinstance(value, Mapping):
        out[id(value)] = path
        for key, item in value.items():
            _name_containers(item, f"{path}.{key}", out, depth + 1)
    elif isinstance(value, (list, tuple)):
        out[id(value)] = path
        for i, item in enumerate(value):
            _name_containers(item, f"{path}[{i}]", out, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        out[id(value)] = path
        for f in dataclasses.fields(value):
            _name_containers(getattr(value, f.name), f"{path}.{f.name}", out, depth + 1)


def _strict(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make a filter report an undefined argument as such ('total_open' is undefined), not as a TypeError."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, Undefined):
                arg._fail_with_undefined_error()
        return fn(*args, **kwargs)

    return wrapper


_WHITESPACE = re.compile(r"[^\S\u00a0]+")  # NBSP is kept: it holds amounts together
_HASH = re.compile(r"(?<!&)#")


def _finalize(value: Any) -> Any:
    """Make a value safe for the letter markup before Jinja prints it.

    Beyond XML escaping (done here, so the result can be marked safe): whitespace runs, newlines
    included, fold to one space, so data can never start a new markup line (a heading, a table row,
    a page break); ``|`` and ``#`` become character references so a value cannot split a table cell
    or open a heading. Values a template marked ``|safe`` are left as they are.
    """
    if isinstance(value, Markup):
        return value
    text = _WHITESPACE.sub(" ", str(value)).strip()
    escaped = str(escape(text)).replace("|", "&#124;")
    # Every '#' from escape() is inside an entity it wrote (&#34; &#39;), right after '&'.
    return Markup(_HASH.sub("&#35;", escaped))


class TemplateRenderer:
    """Renders ``*.j2`` templates from one directory into letter markup."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = Path(templates_dir)
        self._root = os.path.normpath(os.path.abspath(self.templates_dir))
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(self._root, encoding="utf-8"),
            undefined=_NamedStrictUndefined,
            autoescape=True,
            finalize=_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        filters: dict[str, Callable[..., Any]] = {
            "money": format_money,
            "number": format_number,
            "date": format_date,
            "words": amount_in_words,
            "Words": amount_in_words_capitalized,
            "percent": format_percent,
            "currency": currency_label,
            "plural": plural,
        }
        self.env.filters.update({name: _strict(fn) for name, fn in filters.items()})

    def exists(self, name: str) -> bool:
        """True if the template can be loaded (config validation uses this for template references)."""
        try:
            self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except TemplateNotFound:
            return False
        return True

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render template ``name`` with ``context`` into letter markup.

        Raises :class:`TemplateRenderError` for a missing template, a syntax error, an undefined variable
        or attribute, a sandbox violation or an error raised by a filter, naming the file and line.
        """
        names: dict[int, str] = {}
        for key, value in context.items():
            _name_containers(value, str(key), names)
        token = _CONTAINER_NAMES.set(names)
        try:
            template = self.env.get_template(name)
            return template.render(dict(context))
        except TemplateSyntaxError as e:
            source = self._relative(e.filename) if e.filename else (e.name or name)
            raise TemplateRenderError(f"{source}:{e.lineno}: syntax error: {e.message}", template=source,
                                      lineno=e.lineno) from None
        except TemplateNotFound as e:
            where, lineno = self._locate(e.__traceback__)
            if where is None:
                raise TemplateRenderError(f"{name}: template not found in {self._root}", template=name) from None
            raise TemplateRenderError(f"{where}:{lineno}: template {e.name!r} not found", template=where,
                                      lineno=lineno) from None
        except Exception as e:
            where, lineno = self._locate(e.__traceback__)
            problem = str(e) if type(e).__module__.startswith("jinja2") else f"{type(e).__name__}: {e}"
            raise TemplateRenderError(f"{where or name}:{lineno or '?'}: {problem}", template=where or name,
                                      lineno=lineno) from e
        finally:
            _CONTAINER_NAMES.reset(token)

    def _relative(self, filename: str) -> str:
        path = os.path.normpath(filename)
        if path.startswith(self._root + os.sep):
            return path[len(self._root) + 1 :]
        return filename

    def _locate(self, tb: TracebackType | None) -> tuple[str | None, int | None]:
        """The innermost template frame of a traceback Jinja rewrote: (file relative to the dir, line)."""
        found: tuple[str | None, int | None] = (None, None)
        while tb is not None:
            filename = os.path.normpath(tb.tb_frame.f_code.co_filename)
            if filename.startswith(self._root + os.sep):
                found = (self._relative(filename), tb.tb_lineno)
            tb = tb.tb_next
        return found
