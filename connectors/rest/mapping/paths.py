"""Paths: the compiler of dotted paths and JSONPaths into getters, the base of every field expression.

A dotted path ``a.b.0.c`` reads keys of objects, and list indices where the segment is a number; anything that
:func:`is_jsonpath` is handed to jsonpath-ng, with non-ASCII names quoted first. A getter returns :data:`MISSING`
when its path leads nowhere. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: What a getter returns when the path leads nowhere.
MISSING: Any = _Missing()
_JSONPATH_MARKS = frozenset("[*?@")

Getter = Callable[[Any], Any]


def is_jsonpath(expr: str) -> bool:
    """Whether ``expr`` is taken for JSONPath (starts with ``$`` or holds ``[``, ``*``, ``?`` or ``@``)."""
    return expr.startswith("$") or not _JSONPATH_MARKS.isdisjoint(expr)


def _quote_non_ascii(expr: str) -> str:
    """``$.Сумма[0]`` → ``$."Сумма"[0]``: jsonpath-ng's lexer rejects non-ASCII names unless they are quoted."""
    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "'\"":  # a quoted name or literal: copied as is
            j = expr.find(c, i + 1)
            j = n - 1 if j < 0 else j
            out.append(expr[i:j + 1])
            i = j + 1
        elif c.isalnum() or c == "_":
            j = i
            while j < n and (expr[j].isalnum() or expr[j] == "_"):
                j += 1
            word = expr[i:j]
            out.append(word if word.isascii() else f'"{word}"')
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def jsonpath(expr: str) -> Any:
    """``expr`` parsed by jsonpath-ng (cached: configs repeat their paths); ValueError on bad syntax."""
    from jsonpath_ng.ext import parse

    try:
        return parse(_quote_non_ascii(expr))
    except Exception as e:  # jsonpath-ng raises its lexer's and parser's own exception types
        raise ValueError(f"'{expr}' is not a valid JSONPath ({e})") from None


def step(obj: Any, key: str, index: int | None) -> Any:
    """One segment of a dotted path: ``obj[key]`` of an object, ``obj[index]`` of a list, else :data:`MISSING`."""
    if type(obj) is dict:
        return obj.get(key, MISSING)
    if index is not None and type(obj) is list:
        return obj[index] if -len(obj) <= index < len(obj) else MISSING
    return MISSING


def _index(segment: str) -> int | None:
    s = segment[1:] if segment.startswith("-") else segment
    return int(segment) if s.isascii() and s.isdigit() else None


def compile_path(expr: str) -> Getter:
    """A getter for a dotted path or a JSONPath; it returns :data:`MISSING` when the path leads nowhere.

    A JSONPath with one match gives its value, with several the list of them. Raises ValueError on bad syntax.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("an empty path")
    if expr.startswith("^."):
        raise ValueError(f"'{expr}': '^.' (the parent record) works only in fields, with explode")
    if is_jsonpath(expr):
        compiled = jsonpath(expr)

        def get_jsonpath(obj: Any) -> Any:
            found = compiled.find(obj)
            if not found:
                return MISSING
            return found[0].value if len(found) == 1 else [m.value for m in found]

        return get_jsonpath
    segments = tuple((s, _index(s)) for s in expr.split("."))
    if any(not s for s, _ in segments):
        raise ValueError(f"'{expr}' has an empty segment (two dots, or a dot at an end)")
    if len(segments) == 1:
        key, index = segments[0]
        return lambda obj: step(obj, key, index)

    def get_dotted(obj: Any) -> Any:
        for key, index in segments:
            obj = step(obj, key, index)
            if obj is MISSING:
                return MISSING
        return obj

    return get_dotted


def reader(expr: str, exploded: bool, what: str) -> tuple[Getter, bool]:
    """(getter, reads the parent) for a path of a field, condition or template; ``^.`` needs explode."""
    if isinstance(expr, str) and expr.startswith("^."):
        if not exploded:
            raise ValueError(f"{what}: '^.' reads the parent record, which exists only with explode")
        return compile_path(expr[2:]), True
    return compile_path(expr), False


def simple_key(expr: str) -> str | None:
    """The key when ``expr`` is one plain object key (the fast path: ``raw.get(key)``), else None."""
    if is_jsonpath(expr) or "." in expr or _index(expr) is not None:
        return None
    return expr

