"""The OData ``$filter`` language as 1C's standard interface speaks it, and the error every answer shares.

:func:`tokens` reads literals (``guid'..'``, ``datetime'..'``, strings with ``''``, numbers with an optional type
suffix), names and punctuation; :func:`compile_filter` parses ``or`` < ``and`` < ``not`` < comparison by recursive
descent into typed closures over a row, checking every operand against the entity type. Anything it cannot read
is an :class:`ODataError` (400) with a Russian message, as 1C answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any


class ODataError(Exception):
    """An answer in 1C's error format: ``status`` and a Russian message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


_TOKEN = re.compile(r"""\s*(?:
    (?P<guid>guid'(?P<guid_v>[^']*)')
  | (?P<datetime>datetime'(?P<datetime_v>[^']*)')
  | (?P<string>'(?P<string_v>(?:[^']|'')*)')
  | (?P<number>-?\d+(?:\.\d+)?(?P<suffix>[MmDdLlFf])?(?![\w.]))
  | (?P<name>[^\W\d][\w]*(?:/[^\W\d][\w]*)*)
  | (?P<punct>[(),=])
)""", re.VERBOSE)
_COMPARE = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "gt": lambda a, b: a > b,
            "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b}
KINDS = {"Edm.Guid": "guid", "Edm.String": "string", "Edm.Boolean": "bool", "Edm.DateTime": "datetime",
          "Edm.Int64": "number", "Edm.Int32": "number", "Edm.Int16": "number", "Edm.Double": "number",
          "Edm.Decimal": "number"}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # guid, datetime, string, number, name, punct, end
    value: Any
    pos: int


def tokens(text: str) -> list[_Tok]:
    tokens, pos, end = [], 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if not m:
            raise ODataError(400, f"неожиданный символ '{text[pos:].lstrip()[:1]}' в позиции {pos + 1}")
        kind = next(k for k in ("guid", "datetime", "string", "number", "name", "punct") if m.group(k) is not None)
        start = m.start(kind)
        if kind == "guid":
            if not _GUID.fullmatch(m.group("guid_v")):
                raise ODataError(400, f"неверный литерал guid'{m.group('guid_v')}' в позиции {start + 1}")
            value: Any = m.group("guid_v").lower()
        elif kind == "datetime":
            value = _parse_datetime(m.group("datetime_v"), start)
        elif kind == "string":
            value = m.group("string_v").replace("''", "'")
        elif kind == "number":
            value = Decimal(m.group("number").rstrip("MmDdLlFf"))
        else:
            value = m.group(kind)
        tokens.append(_Tok(kind, value, start))
        pos = m.end()
    tokens.append(_Tok("end", None, len(text)))
    return tokens


def _parse_datetime(text: str, pos: int) -> datetime:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", text):
            raise ValueError
        return datetime.fromisoformat(text)
    except ValueError:
        raise ODataError(400, f"неверный литерал datetime'{text}' в позиции {pos + 1}") from None


Compiled = tuple[str, Callable[[dict[str, Any]], Any]]  # (kind, row -> value)


def convert(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "guid":
        return str(value).lower()
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "number":
        return Decimal(str(value))
    return value


class _FilterParser:
    """``or`` < ``and`` < ``not`` < comparison, as OData orders them; every operand is type-checked against the
    entity type when compiled, so a filter that cannot work is a 400 even when no row would reach it."""

    def __init__(self, text: str, properties: dict[str, str]):
        self.toks, self.i, self.properties = tokens(text), 0, properties

    def parse(self) -> Callable[[dict[str, Any]], bool]:
        kind, fn = self._or()
        tok = self.toks[self.i]
        if tok.kind != "end":
            raise ODataError(400, f"лишний текст '{tok.value}' в позиции {tok.pos + 1}")
        if kind != "bool":
            raise ODataError(400, "условие должно быть логическим выражением")
        return lambda row: fn(row) is True

    def _peek_word(self, *words: str) -> str | None:
        tok = self.toks[self.i]
        return tok.value if tok.kind == "name" and tok.value in words else None

    def _bool(self, operand: Compiled, word: str) -> Callable[[dict[str, Any]], Any]:
        if operand[0] != "bool":
            raise ODataError(400, f"операнд '{word}' должен быть логическим")
        return operand[1]

    def _or(self) -> Compiled:
        left = self._and()
        while self._peek_word("or"):
            self.i += 1
            a, b = self._bool(left, "or"), self._bool(self._and(), "or")
            left = ("bool", lambda row, a=a, b=b: a(row) or b(row))
        return left

    def _and(self) -> Compiled:
        left = self._not()
        while self._peek_word("and"):
            self.i += 1
            a, b = self._bool(left, "and"), self._bool(self._not(), "and")
            left = ("bool", lambda row, a=a, b=b: a(row) and b(row))
        return left

    def _not(self) -> Compiled:
        if self._peek_word("not"):
            self.i += 1
            a = self._bool(self._not(), "not")
            return ("bool", lambda row: not a(row))
        return self._comparison()

    def _comparison(self) -> Compiled:
        left = self._primary()
        op = self._peek_word(*_COMPARE)
        if op is None:
            return left
        self.i += 1
        right = self._primary()
        (lk, lf), (rk, rf) = left, right
        if "null" not in (lk, rk) and lk != rk:
            raise ODataError(400, f"несовместимые типы в операции {op}: {lk} и {rk}")
        if op not in ("eq", "ne") and ("null" in (lk, rk) or lk in ("bool", "guid")):
            raise ODataError(400, f"операция {op} не применима к типу {lk if lk != 'null' else rk}")
        cmp = _COMPARE[op]

        def compare(row: dict[str, Any]) -> bool:
            a, b = lf(row), rf(row)
            if a is None or b is None:
                return cmp(a, b) if op in ("eq", "ne") else False
            return cmp(a, b)
        return ("bool", compare)

    def _primary(self) -> Compiled:
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind == "punct" and tok.value == "(":
            inner = self._or()
            if self.toks[self.i].kind != "punct" or self.toks[self.i].value != ")":
                raise ODataError(400, f"ожидалась ')' в позиции {self.toks[self.i].pos + 1}")
            self.i += 1
            return inner
        if tok.kind in ("guid", "datetime", "string", "number"):
            kind = "string" if tok.kind == "string" else tok.kind
            return (kind, lambda row, v=tok.value: v)
        if tok.kind == "name":
            if tok.value in ("true", "false"):
                return ("bool", lambda row, v=tok.value == "true": v)
            if tok.value == "null":
                return ("null", lambda row: None)
            if self.toks[self.i].kind == "punct" and self.toks[self.i].value == "(":
                raise ODataError(400, f"функция '{tok.value}' не поддерживается")
            edm = self.properties.get(tok.value)
            if edm is None:
                raise ODataError(400, f"неизвестное свойство '{tok.value}' в позиции {tok.pos + 1}")
            kind = KINDS.get(edm)
            if kind is None:
                raise ODataError(400, f"по свойству '{tok.value}' нельзя отбирать (табличная часть)")
            return (kind, lambda row, name=tok.value, kind=kind: convert(kind, row.get(name)))
        shown = "конец выражения" if tok.kind == "end" else f"'{tok.value}'"
        raise ODataError(400, f"ожидался операнд, а не {shown} в позиции {tok.pos + 1}")


def compile_filter(text: str, properties: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """A row predicate for the OData ``$filter`` expression ``text`` over ``properties`` (name -> EDM type).
    Raises :class:`ODataError` (400) for anything it cannot parse or type-check."""
    return _FilterParser(text, properties).parse()
