"""Field expressions: where a REST connector finds the ledger's values in a JSON answer.

An expression is compiled once per config into a getter, so mapping a record costs a few dict lookups:

* a dotted path ``a.b.0.c``: keys of objects, and list indices where the segment is a number;
* a JSONPath ``$.data[*].name`` (jsonpath-ng's extended syntax, filters included); an expression is taken for
  JSONPath when it starts with ``$`` or holds ``[``, ``*``, ``?`` or ``@``. Cyrillic names need no quoting
  (``$.РасшифровкаПлатежа[0].Сумма``): they are quoted before jsonpath-ng, whose lexer knows only ASCII, sees them;
* ``^.path``: the same, read from the parent record (only with ``explode``);
* ``{path: Date, format: "%Y-%m-%dT%H:%M:%S"}``: a date read with that strptime format;
* ``{const: RUB}``: the same value for every record.

A path that leads nowhere gives :data:`MISSING`, and the field is then left out of the record
(:func:`connectors.records.build_ledger` names the required ones). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from connectors.base import FIELDS
from robots.config.common import Frozen


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: What a getter returns when the path leads nowhere.
MISSING: Any = _Missing()
#: The ledger fields holding dates: date formats apply to them.
DATE_FIELDS = frozenset({"date", "due_date"})
_JSONPATH_MARKS = frozenset("[*?@")

Getter = Callable[[Any], Any]


class PathField(Frozen):
    """``{path: Date, format: "%d.%m.%Y"}``: a value at ``path``, as a date in ``format`` when given."""

    path: str
    format: str | None = None


class ConstField(Frozen):
    """``{const: RUB}``: the same value for every record."""

    const: Any


FieldExpr = str | PathField | ConstField


class MappingError(ValueError):
    """The answer does not have the configured shape (records path missing, records not a list)."""


def is_jsonpath(expr: str) -> bool:
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
def _jsonpath(expr: str) -> Any:
    from jsonpath_ng.ext import parse

    try:
        return parse(_quote_non_ascii(expr))
    except Exception as e:  # jsonpath-ng raises its lexer's and parser's own exception types
        raise ValueError(f"'{expr}' is not a valid JSONPath ({e})") from None


def _step(obj: Any, key: str, index: int | None) -> Any:
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
        compiled = _jsonpath(expr)

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
        return lambda obj: _step(obj, key, index)

    def get_dotted(obj: Any) -> Any:
        for key, index in segments:
            obj = _step(obj, key, index)
            if obj is MISSING:
                return MISSING
        return obj

    return get_dotted


def _simple_key(expr: str) -> str | None:
    """The key when ``expr`` is one plain object key (the fast path: ``raw.get(key)``), else None."""
    if is_jsonpath(expr) or "." in expr or _index(expr) is not None:
        return None
    return expr


def _path_list(body: Any, expr: str | None, what: str) -> list[Any]:
    """The list at ``expr`` in ``body`` (the body itself when None); MappingError when missing or not a list."""
    if expr is None:
        value = body
    elif is_jsonpath(expr) and any(m in expr for m in ("*", "..", "?", ":")):
        value = [m.value for m in _jsonpath(expr).find(body)]  # several matches by design: none is an empty list
    else:
        value = compile_path(expr)(body)
        if value is MISSING:
            keys = ", ".join(list(body)[:12]) if isinstance(body, dict) else type(body).__name__
            raise MappingError(f"the answer has no {what} at '{expr}' (it has: {keys}); check the {what} path")
    if not isinstance(value, list):
        at = f"at '{expr}'" if expr else "(the whole answer)"
        raise MappingError(f"the {what} {at} are {_kind(value)}, not a list; check the {what} path")
    return value


def _kind(v: Any) -> str:
    return {dict: "an object", str: "text", type(None): "null", bool: "true/false"}.get(type(v), "a number")


class EntityMapping:
    """How to read one entity's records out of an answer, compiled once.

    ``fields`` maps ledger fields to expressions; ``records``/``columns`` locate the list of records (and, for table
    answers, the column names each row list is zipped with); ``explode`` makes one record per element of an array
    field; ``where`` keeps records whose fields equal the given values (a list: one of them); ``empty_values`` are
    read as empty (None); ``date_formats`` are tried on text date fields before build_ledger's own forms.
    """

    def __init__(self, entity: str, fields: Mapping[str, FieldExpr], *, records: str | None = None,
                 columns: str | None = None, explode: str | None = None, where: Mapping[str, Any] | None = None,
                 empty_values: Iterable[Any] = (), date_formats: Sequence[str] = ()):
        if entity not in FIELDS:
            raise ValueError(f"unknown entity '{entity}'; use one of: {', '.join(FIELDS)}")
        self.entity = entity
        self.records, self.columns = records, columns
        for expr in (records, columns):
            if expr is not None:
                _jsonpath(expr) if is_jsonpath(expr) else compile_path(expr)
        self._explode = compile_path(explode) if explode else None
        empties = frozenset(empty_values)
        self._where = tuple((compile_path(k), frozenset(v) if isinstance(v, list) else None, v)
                            for k, v in (where or {}).items())
        # (field, key) read with raw.get(key); (field, getter, from_parent); (field, value); (field, converter)
        simple: list[tuple[str, str]] = []
        general: list[tuple[str, Getter, bool]] = []
        consts: dict[str, Any] = {}
        post: list[tuple[str, Callable[[Any], Any]]] = []
        for name, expr in fields.items():
            if name not in FIELDS[entity]:
                raise ValueError(f"'{name}' is not a field of {entity}; its fields are: {', '.join(FIELDS[entity])}")
            fmt = None
            if isinstance(expr, ConstField):
                consts[name] = expr.const
                continue
            if isinstance(expr, PathField):
                expr, fmt = expr.path, expr.format
                if fmt is not None and name not in DATE_FIELDS:
                    raise ValueError(f"'{name}': format applies to date fields ({', '.join(sorted(DATE_FIELDS))})")
            parent = expr.startswith("^.")
            if parent and self._explode is None:
                raise ValueError(f"'{name}: {expr}': '^.' reads the parent record, which exists only with explode")
            path = expr[2:] if parent else expr
            key = None if parent else _simple_key(path)
            if key is not None:
                simple.append((name, key))
            else:
                general.append((name, compile_path(path), parent))
            formats = ((fmt,) if fmt else tuple(date_formats)) if name in DATE_FIELDS else ()
            if empties or formats:
                post.append((name, _converter(empties, formats)))
        self._simple, self._general, self._consts, self._post = tuple(simple), tuple(general), consts, tuple(post)
        self._map_flat = _compile_flat(self._simple, self._general, consts, self._post, self._where)

    def rows(self, body: Any) -> list[Any]:
        """The records of one answer; MappingError when the answer does not have the configured shape."""
        rows = _path_list(body, self.records, "records")
        if self.columns is None:
            return rows
        names = _path_list(body, self.columns, "columns")
        if not all(isinstance(n, str) for n in names):
            raise MappingError(f"the column names at '{self.columns}' are not all text; check the columns path")
        out = []
        for i, row in enumerate(rows, 1):
            if not isinstance(row, list):
                raise MappingError(f"row {i} is {_kind(row)}, not a list of values to zip with the columns")
            out.append(dict(zip(names, row)))
        return out

    def map_rows(self, rows: Sequence[Any]) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
        """Map raw records: ``([(index, values)], [(index, problem)])``, indices 0-based into ``rows``.

        With explode, one raw record gives one entry per element (all with the raw record's index); records
        the where-filter drops give none.
        """
        if self._explode is not None:
            return self._map_exploded(rows)
        return self._map_flat(rows)

    def _map_exploded(self, rows: Sequence[Any]) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
        out: list[tuple[int, dict[str, Any]]] = []
        bad: list[tuple[int, str]] = []
        explode = self._explode
        assert explode is not None
        for i, parent in enumerate(rows):
            if type(parent) is not dict:
                bad.append((i, f"the record is {_kind(parent)}, not an object"))
                continue
            items = explode(parent)
            if items is MISSING or items is None:
                continue  # a document without lines gives no records
            if not isinstance(items, list):
                bad.append((i, f"the field to explode is {_kind(items)}, not a list"))
                continue
            for item in items:
                if self._where and not _matches(self._where, item, parent):
                    continue
                values: dict[str, Any] = {}
                for f, k in self._simple:
                    if (v := _step(item, k, None)) is not MISSING:
                        values[f] = v
                for f, g, from_parent in self._general:
                    if (v := g(parent if from_parent else item)) is not MISSING:
                        values[f] = v
                values.update(self._consts)
                for f, convert in self._post:
                    if f in values:
                        values[f] = convert(values[f])
                out.append((i, values))
        return out, bad


def _compile_flat(simple: tuple[tuple[str, str], ...], general: tuple[tuple[str, Getter, bool], ...],
                  consts: Mapping[str, Any], post: tuple[tuple[str, Callable[[Any], Any]], ...],
                  where: tuple) -> Callable[[Sequence[Any]], Any]:
    """map_rows without explode, generated as straight-line code for this mapping: a dict display of the plain
    keys, no loop over fields, no call per field. Names and keys enter the source only through repr()."""
    ns: dict[str, Any] = {"M": MISSING, "_matches": _matches, "_kind": _kind, "where": where, "consts": dict(consts)}
    code = ["def map_flat(rows):",
            "    out = []; bad = []; append = out.append",
            "    for i, raw in enumerate(rows):",
            "        if type(raw) is dict:",
            "            get = raw.get",
            *(f"            a{n} = get({k!r}, M)" for n, (_, k) in enumerate(simple)),
            "            d = {" + ", ".join(f"{f!r}: a{n}" for n, (f, _) in enumerate(simple)) + "}"]
    if simple:  # identity tests: 'M in d.values()' would call Decimal.__eq__, an ABC check per value
        code += ["            if " + " or ".join(f"a{n} is M" for n in range(len(simple))) + ":",
                 "                d = {k: v for k, v in d.items() if v is not M}"]
    code += ["        elif type(raw) is list:",  # plain keys are not indices: a row list has none of them
             "            d = {}",
             "        else:",
             "            bad.append((i, f'the record is {_kind(raw)}, not an object'))",
             "            continue"]
    if where:
        code.append("        if not _matches(where, raw, None): continue")
    for n, (f, g, _) in enumerate(general):
        ns[f"g{n}"] = g
        code += [f"        v = g{n}(raw)", f"        if v is not M: d[{f!r}] = v"]
    if consts:
        code.append("        d.update(consts)")
    for n, (f, convert) in enumerate(post):
        ns[f"p{n}"] = convert
        code.append(f"        if {f!r} in d: d[{f!r}] = p{n}(d[{f!r}])")
    code += ["        append((i, d))", "    return out, bad"]
    exec("\n".join(code), ns)  # noqa: S102 (generated from repr() of the config's names only)
    return ns["map_flat"]


def _matches(where: tuple[tuple[Getter, frozenset | None, Any], ...], raw: Any, parent: Any) -> bool:
    for get, one_of, expected in where:
        v = get(raw)
        if v is MISSING and parent is not None:
            v = get(parent)
        if one_of is not None:
            try:
                if v not in one_of:
                    return False
            except TypeError:  # an unhashable value (object, list) is none of the listed ones
                return False
        elif v is MISSING or v != expected or (type(v) is bool) != (type(expected) is bool):
            return False  # JSON true is not YAML 1, and JSON 1 is not YAML true
    return True


def _converter(empties: frozenset, formats: tuple[str, ...]) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if type(v) in (str, int, Decimal) and v in empties:
            return None
        if formats and type(v) is str:
            text = v.strip()
            for fmt in formats:
                try:
                    return datetime.strptime(text, fmt).date()
                except ValueError:
                    pass
        return v  # build_ledger reads or reports it

    return convert


__all__ = ["DATE_FIELDS", "MISSING", "ConstField", "EntityMapping", "FieldExpr", "MappingError", "PathField",
           "compile_path", "is_jsonpath"]
