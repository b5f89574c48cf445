"""YAML with positions: load a file keeping line numbers, and turn a validation error into ``file:line path: msg``.

pydantic reports where a value is wrong as a path (``('groups', 'default', 'columns', 3, 'offset')``); the ops
engineer needs the line in the file. ruamel.yaml's round-trip loader remembers the line of every key and item, so
we walk the same path through the loaded document.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from robots.support.redact import SECRET_WORDS, hide_url_password

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


@dataclass(frozen=True)
class YamlSource:
    """A loaded YAML document and the name to show in messages."""

    name: str
    data: Any

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> tuple[YamlSource | None, list[Problem]]:
        shown = name or path.name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, [Problem(shown, None, "", f"file not found: {path}")]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            return None, [Problem(shown, line, "", f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                                   "save the file as UTF-8")]
        try:
            data = YAML(typ="rt").load(text)
        except DuplicateKeyError as exc:
            # ruamel's own text prints the values under the key, which may hold a secret: name the key only
            key = re.search(r'duplicate key "([^"]*)"', str(exc.problem or ""))
            line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
            name = repr(key.group(1)) if key else "a key"
            first = _first_key_line(text, exc, key.group(1)) if key else None
            where = f" (first at line {first})" if first else ""
            return None, [Problem(shown, line, "", f"duplicate key {name}{where}; a key may appear once per mapping")]
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            detail = hide_url_password(" ".join(str(p) for p in (exc.context, exc.problem) if p))
            return None, [Problem(shown, line, "", f"invalid YAML: {detail}")]
        return cls(shown, data if data is not None else CommentedMap()), []

    def line_of(self, loc: Loc) -> int | None:
        """1-based line of the deepest part of ``loc`` present in the document."""
        node, line = self.data, _start_line(self.data)
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                # a key inherited through a merge key (<<: *anchor) has no position of its own: keep the
                # line of the mapping that inherits it
                pos = _position(node.lc.key, part)
                line = pos if pos is not None else _start_line(node)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line, node = (_position(node.lc.item, part) or line), node[part]
        return line

    def dotted(self, loc: Loc) -> str:
        """``groups.default.columns[3].offset``, leaving out parts that are not keys of the document (tags)."""
        out, node = "", self.data
        for i, part in enumerate(loc):
            last = i == len(loc) - 1
            if isinstance(node, CommentedSeq) and isinstance(part, int):
                out += f"[{part}]"
                node = node[part] if 0 <= part < len(node) else None
            elif isinstance(node, CommentedMap) and part in node:
                out += f".{part}" if out else str(part)
                node = node[part]
            elif last and isinstance(part, str) and part != "[key]":
                out += f".{part}" if out else part
        return out

    def problem(self, loc: Loc, message: str) -> Problem:
        return Problem(self.name, self.line_of(loc), self.dotted(loc), message)

    def validation_problems(self, exc: ValidationError, model: type[BaseModel], prefix: Loc = ()) -> list[Problem]:
        errors = exc.errors(include_url=False)
        failing = [tuple(e["loc"]) for e in errors if e["type"] != "too_short"]
        problems = []
        for err in errors:
            loc = tuple(err["loc"])
            if err["type"] == "too_short" and any(f[: len(loc)] == loc and f != loc for f in failing):
                continue  # a list whose items failed is not also "too short"
            if err["type"] == "union_tag_invalid":
                loc += (str(err.get("ctx", {}).get("discriminator", "kind")).strip("'"),)
            problems.append(self.problem(prefix + loc, _message(err, model, loc)))
        return problems


def _position(lookup: Any, part: Any) -> int | None:
    try:
        return lookup(part)[0] + 1
    except (KeyError, IndexError, TypeError):
        return None


_SECRET_NAME = re.compile(rf"({SECRET_WORDS}|url)", re.IGNORECASE)


def _shown(value: Any, loc: Loc) -> str:
    """The offending value for a message, unless it may hold a secret."""
    if not isinstance(value, (str, int, float, bool)):
        return ""
    if any(isinstance(p, str) and _SECRET_NAME.search(p) for p in loc):
        return ""
    text = hide_url_password(value) if isinstance(value, str) else value
    return f" (got {text!r})"


def _first_key_line(text: str, exc: DuplicateKeyError, key: str) -> int | None:
    """The line of the key's first occurrence: ruamel marks only the mapping's start and the second one."""
    if exc.context_mark is None or exc.problem_mark is None:
        return None
    lines = text.splitlines()
    indent = " " * exc.problem_mark.column
    for n in range(exc.context_mark.line, exc.problem_mark.line):
        stripped = lines[n][len(indent):] if lines[n].startswith(indent) else ""
        if not stripped[:1].isspace() and re.match(rf"""(-\s+)?["']?{re.escape(key)}["']?\s*:""", stripped):
            return n + 1
    return None


def plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (pydantic validates those)."""
    if isinstance(node, CommentedMap):
        return {k: plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [plain(v) for v in node]
    return node


def _start_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    return lc.line + 1 if lc is not None and lc.line is not None else None


def _message(err: dict[str, Any], model: type[BaseModel], loc: Loc) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _fields_at(model, loc[:-1])
        hint = ""
        if allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(sorted(allowed))}"
        return f"unknown key {key!r}{hint}"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        known = str(ctx.get("expected_tags", "")).replace("'", "")
        return f"unknown kind {ctx.get('tag')!r}; known kinds: {known}"
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}"
    return f"{err['msg']}{_shown(err.get('input'), loc)}"


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found at ``loc`` (best effort), for 'did you mean' hints."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                continue  # a discriminator tag or a dict key
            current = field.annotation
        current = _unwrap(current, part)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _unwrap(tp: Any, part: Any) -> Any:
    """Step from a container annotation to the model it holds (tuple[X, ...], dict[str, X], X | None)."""
    for _ in range(5):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
        args: Sequence[Any] = typing.get_args(tp)
        if not args:
            return tp
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        tp = models[0] if models else args[-1] if typing.get_origin(tp) is dict else args[0]
    return tp
