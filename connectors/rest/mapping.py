"""Field expressions: where a REST connector finds the ledger's values in a JSON answer.

An expression is compiled once per config into a getter, so mapping a record costs a few dict lookups:

* a dotted path ``a.b.0.c``: keys of objects, and list indices where the segment is a number;
* a JSONPath ``$.data[*].name`` (jsonpath-ng's extended syntax, filters included); an expression is taken for
  JSONPath when it starts with ``$`` or holds ``[``, ``*``, ``?`` or ``@``. Cyrillic names need no quoting
  (``$.РасшифровкаПлатежа[0].Сумма``): they are quoted before jsonpath-ng, whose lexer knows only ASCII, sees them;
* ``^.path``: the same, read from the parent record (only with ``explode``);
* ``{path: Date, format: "%Y-%m-%dT%H:%M:%S"}``: a date read with that strptime format;
* ``{path: СуммаДокумента, negate: true}``: the number with the opposite sign, exactly (a credit note that the
  source shows positive);
* ``{path: Parent.Description, map: {Ключевые клиенты: key_accounts}, default: default}``: a value looked up in
  ``map``; a value the map does not list stays as it is, or becomes ``default`` when one is given;
* ``{template: "{^.Ref_Key}/{LineNumber}"}``: text with paths in braces (``{{``/``}}`` for literal braces); a
  path that leads nowhere or to null leaves the whole field out;
* ``{const: RUB}``: the same value for every record;
* ``when: {Сделка_Type: StandardODATA.Document_РеализацияТоваровУслуг}`` on any of the three forms above: the
  value only for records whose fields equal these (as ``where``: a list means one of them), empty otherwise.

A path that leads nowhere gives :data:`MISSING`, and the field is then left out of the record
(:func:`connectors.records.build_ledger` names the required ones). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import model_validator

from connectors.base import FIELDS, Problem, Record, Where
from robots.support.config_types import Frozen


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: What a getter returns when the path leads nowhere.
MISSING: Any = _Missing()
#: The ledger fields holding dates: date formats apply to them.
DATE_FIELDS = frozenset({"date", "due_date"})
_JSONPATH_MARKS = frozenset("[*?@")
_MINUS = ("-", "\u2212", "\u2013")  # what parse_money takes for a minus sign

Getter = Callable[[Any], Any]
#: A getter of a field that may read both the record and its parent (templates, conditions): (item, parent).
PairGetter = Callable[[Any, Any], Any]
#: One equality condition of ``where``/``when``: (getter, reads the parent only, one-of set or None, expected).
Condition = tuple[Getter, bool, "frozenset | None", Any]


class PathField(Frozen):
    """``{path: Date, format: "%d.%m.%Y"}``: a value at ``path``, read as a date in ``format``, with the opposite
    sign (``negate``), looked up in ``map`` (unlisted: ``default`` if given, else the value), only ``when`` the
    record's fields equal the given values (else empty)."""

    path: str
    format: str | None = None
    negate: bool = False
    map: dict[str, Any] | None = None
    default: Any = None
    when: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _default_needs_map(self):
        if "default" in self.model_fields_set and self.map is None:
            raise ValueError("default is the value for what map does not list; give map too")
        return self


class TemplateField(Frozen):
    """``{template: "{^.Ref_Key}/{LineNumber}"}``: text with the values of the paths in braces."""

    template: str
    when: dict[str, Any] | None = None


class ConstField(Frozen):
    """``{const: RUB}``: the same value for every record (``when`` given: for the records that match, else empty)."""

    const: Any
    when: dict[str, Any] | None = None


FieldExpr = str | PathField | TemplateField | ConstField


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


def _reader(expr: str, exploded: bool, what: str) -> tuple[Getter, bool]:
    """(getter, reads the parent) for a path of a field, condition or template; ``^.`` needs explode."""
    if isinstance(expr, str) and expr.startswith("^."):
        if not exploded:
            raise ValueError(f"{what}: '^.' reads the parent record, which exists only with explode")
        return compile_path(expr[2:]), True
    return compile_path(expr), False


def _simple_key(expr: str) -> str | None:
    """The key when ``expr`` is one plain object key (the fast path: ``raw.get(key)``), else None."""
    if is_jsonpath(expr) or "." in expr or _index(expr) is not None:
        return None
    return expr


def _conditions(spec: Mapping[str, Any] | None, exploded: bool, what: str) -> tuple[Condition, ...]:
    out = []
    for key, expected in (spec or {}).items():
        get, from_parent = _reader(key, exploded, f"{what} '{key}'")
        one_of = None
        if isinstance(expected, list):
            try:
                one_of = frozenset(expected)
            except TypeError:
                raise ValueError(f"{what} '{key}': a list lists plain values (text, numbers, true/false)") from None
        out.append((get, from_parent, one_of, expected))
    return tuple(out)


def _matches(conditions: tuple[Condition, ...], raw: Any, parent: Any) -> bool:
    """True when every condition holds: a field of ``raw`` (or, when ``raw`` lacks it, of ``parent``; ``^.`` keys
    read only the parent) equals the expected value, or is one of a list of them."""
    for get, from_parent, one_of, expected in conditions:
        if from_parent:
            v = get(parent)
        else:
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


# ------------------------------------------------------------------------------------------------- templates


def template_parts(text: str) -> tuple[list[tuple[str, str]], str]:
    """``"{a}/{b}x"`` → ``([("", "a"), ("/", "b")], "x")``: (literal before, path) pairs and the literal tail."""
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "{}" and text.startswith(c * 2, i):
            literal.append(c)
            i += 2
        elif c == "{":
            j = text.find("}", i + 1)
            if j < 0:
                raise ValueError(f"template '{text}': the '{{' at position {i + 1} is not closed "
                                 "(write {{ for a literal brace)")
            path = text[i + 1:j].strip()
            if not path:
                raise ValueError(f"template '{text}': an empty {{}}; put a path in it")
            parts.append(("".join(literal), path))
            literal = []
            i = j + 1
        elif c == "}":
            raise ValueError(f"template '{text}': a '}}' at position {i + 1} closes nothing "
                             "(write }} for a literal brace)")
        else:
            literal.append(c)
            i += 1
    if not parts:
        raise ValueError(f"template '{text}' has no {{path}}; use const for a fixed value")
    return parts, "".join(literal)


def _as_text(v: Any) -> str | None:
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    if t is Decimal:
        return format(v, "f")
    if t is float:
        return repr(v)
    return None  # MISSING, None, objects and lists: no text


def _compile_template(text: str, exploded: bool, what: str) -> PairGetter:
    pieces, tail = template_parts(text)
    parts = tuple((literal, *_reader(path, exploded, f"{what} template path '{path}'")) for literal, path in pieces)

    def get(item: Any, parent: Any) -> Any:
        out = []
        for literal, getter, from_parent in parts:
            value = _as_text(getter(parent if from_parent else item))
            if value is None:
                return MISSING
            out.append(literal)
            out.append(value)
        out.append(tail)
        return "".join(out)

    return get


# ------------------------------------------------------------------------------------------------- conversions


def negate(v: Any) -> Any:
    """The value with the opposite sign, exactly: Decimal and int numbers, and text numbers (``"1 234,50"`` →
    ``"-1 234,50"``, ``"-5"`` → ``"5"``, read later by build_ledger with its own rules). Anything else (empty,
    true/false, objects) is left for build_ledger to read or report."""
    t = type(v)
    if t is Decimal:
        return v.copy_negate()  # exact: unary minus would round to the context's 28 digits
    if t is int or t is float:
        return -v
    if t is str:
        s = v.strip()
        if not s:
            return v
        if s.startswith(_MINUS):
            return s[1:].lstrip()
        return "-" + (s[1:].lstrip() if s.startswith("+") else s)
    return v


def _lookup_key(v: Any) -> str | None:
    t = type(v)
    if t is str:
        return v.strip() or None
    if t is int or (t is Decimal and v == v.to_integral_value()):
        return str(int(v))
    return None  # empty, true/false, objects: not looked up


def _converter(empties: frozenset, formats: tuple[str, ...], table: Mapping[str, Any] | None,
               default: Any, has_default: bool, flip: bool) -> Callable[[Any], Any] | None:
    """The conversions of one field after it was read, in order: empty values → map → negate → date formats."""
    steps: list[Callable[[Any], Any]] = []
    if empties:
        def empty(v: Any) -> Any:
            return None if type(v) in (str, int, Decimal) and v in empties else v
        steps.append(empty)
    if table is not None:
        def look_up(v: Any) -> Any:
            key = _lookup_key(v)
            if key is None:
                return v
            if key in table:
                return table[key]
            return default if has_default else v
        steps.append(look_up)
    if flip:
        steps.append(negate)
    if formats:
        def as_date(v: Any) -> Any:
            if type(v) is str:
                text = v.strip()
                for fmt in formats:
                    try:
                        return datetime.strptime(text, fmt).date()
                    except ValueError:
                        pass
            return v  # build_ledger reads or reports it
        steps.append(as_date)
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    chain = tuple(steps)

    def convert(v: Any) -> Any:
        for step in chain:
            v = step(v)
        return v

    return convert


# ------------------------------------------------------------------------------------------------- lists


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


# ------------------------------------------------------------------------------------------------- the mapping

Mapped = tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]


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
        exploded = self._explode is not None
        empties = frozenset(empty_values)
        self._where = _conditions(where, exploded, "where")
        # Each field is one of: ("key", plain key of the record), ("one", getter of the record), ("parent",
        # getter of the parent), ("pair", getter of (record, parent)), ("const", value); plus its converter.
        plan: list[tuple[str, str, Any, Callable[[Any], Any] | None]] = []
        for name, expr in fields.items():
            if name not in FIELDS[entity]:
                raise ValueError(f"'{name}' is not a field of {entity}; its fields are: {', '.join(FIELDS[entity])}")
            what = f"'{name}'"
            when = _conditions(getattr(expr, "when", None), exploded, f"{what} when")
            if isinstance(expr, ConstField):
                if when:
                    plan.append((name, "pair", _only_when(when, _const(expr.const)), None))
                else:
                    plan.append((name, "const", expr.const, None))
                continue
            fmt, table, default, has_default, flip = None, None, None, False, False
            if isinstance(expr, TemplateField):
                kind, arg = "pair", _compile_template(expr.template, exploded, what)
            else:
                if isinstance(expr, PathField):
                    fmt, table, flip = expr.format, expr.map, expr.negate
                    default, has_default = expr.default, "default" in expr.model_fields_set
                    if fmt is not None and name not in DATE_FIELDS:
                        raise ValueError(f"{what}: format applies to date fields ({', '.join(sorted(DATE_FIELDS))})")
                    expr = expr.path
                if expr.startswith("^.") and not exploded:
                    raise ValueError(f"'{name}: {expr}': '^.' reads the parent record, which exists only with "
                                     "explode")
                getter, from_parent = _reader(expr, exploded, what)
                key = None if from_parent else _simple_key(expr)
                kind, arg = ("key", key) if key is not None else ("parent" if from_parent else "one", getter)
            if when:
                kind, arg = "pair", _only_when(when, _as_pair(kind, arg))
            formats = ((fmt,) if fmt else tuple(date_formats)) if name in DATE_FIELDS else ()
            plan.append((name, kind, arg, _converter(empties, formats, table, default, has_default, flip)))
        self._plan = tuple(plan)
        self._pairs = tuple((name, _as_pair(kind, arg), post) for name, kind, arg, post in plan)
        if not exploded:
            self._map_flat = _compile_flat(self._plan, self._where, records=False)
            # Every ledger field read from the key of its own name, as is: the raw record can serve as the values
            # (its other keys are no ledger field, and build_ledger reads only those), no copy per record.
            as_is = {name for name, kind, arg, post in plan if kind == "key" and arg == name and post is None}
            self._map_flat_page = _compile_flat(self._plan, self._where, records=True,
                                                as_is=as_is == set(FIELDS[entity]) and len(plan) == len(as_is))

    def rows(self, body: Any) -> list[Any]:
        """The records of one answer; MappingError when the answer does not have the configured shape."""
        rows = _path_list(body, self.records, "records")
        if self.columns is None:
            return rows
        names = _path_list(body, self.columns, "columns")
        if not all(isinstance(n, str) for n in names):
            raise MappingError(f"the column names at '{self.columns}' are not all text; check the columns path")
        for i, row in enumerate(rows, 1):
            if type(row) is not list:
                raise MappingError(f"row {i} is {_kind(row)}, not a list of values to zip with the columns")
        return [dict(zip(names, row)) for row in rows]

    def map_rows(self, rows: Sequence[Any]) -> Mapped:
        """Map raw records: ``([(index, values)], [(index, problem)])``, indices 0-based into ``rows``.

        With explode, one raw record gives one entry per element (all with the raw record's index); records
        the where-filter drops give none.
        """
        if self._explode is not None:
            return self._map_exploded(rows)
        return self._map_flat(rows)

    def map_page(self, rows: Sequence[Any], source: str, page: int) -> tuple[list[Record], list[Problem]]:
        """The records of one page, located as ``Where(source, None, page, n)`` (n 1-based), and the problems."""
        if self._explode is None:
            return self._map_flat_page(rows, source, page)
        mapped, bad = self._map_exploded(rows)
        return ([Record(Where(source, None, page, i + 1), v) for i, v in mapped],
                [Problem(source, msg, page=page, record=i + 1) for i, msg in bad])

    def _map_exploded(self, rows: Sequence[Any]) -> Mapped:
        out: list[tuple[int, dict[str, Any]]] = []
        bad: list[tuple[int, str]] = []
        explode = self._explode
        assert explode is not None
        where, pairs = self._where, self._pairs
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
                if where and not _matches(where, item, parent):
                    continue
                values: dict[str, Any] = {}
                for name, get, post in pairs:
                    v = get(item, parent)
                    if v is not MISSING:
                        values[name] = v if post is None else post(v)
                out.append((i, values))
        return out, bad


def _const(value: Any) -> PairGetter:
    return lambda item, parent: value


def _as_pair(kind: str, arg: Any) -> PairGetter:
    """Any field's getter as a function of (record, parent)."""
    if kind == "key":
        return lambda item, parent: _step(item, arg, None)
    if kind == "one":
        return lambda item, parent: arg(item)
    if kind == "parent":
        return lambda item, parent: arg(parent)
    if kind == "const":
        return _const(arg)
    return arg


def _only_when(when: tuple[Condition, ...], get: PairGetter) -> PairGetter:
    def conditional(item: Any, parent: Any) -> Any:
        return get(item, parent) if _matches(when, item, parent) else None

    return conditional


def _not_object() -> Any:
    raise TypeError("a record that is not an object")


def _compile_flat(plan: tuple[tuple[str, str, Any, Callable[[Any], Any] | None], ...], where: tuple,
                  *, records: bool, as_is: bool = False) -> Callable[..., Any]:
    """map_rows (``records=False``) or map_page (``records=True``) without explode, generated as straight-line
    code for this mapping: a dict display of the plain keys and constants, no loop over fields. Names and keys
    enter the source only through repr(); every other value through the namespace. ``as_is``: the raw records
    (when all are objects) are the values themselves."""
    ns: dict[str, Any] = {"M": MISSING, "_matches": _matches, "_kind": _kind, "where": where, "W": Where,
                          "R": Record, "P": Problem, "tn": tuple.__new__}
    simple = [(name, arg) for name, kind, arg, _ in plan if kind == "key"]
    items = [f"{name!r}: a{n}" for n, (name, _) in enumerate(simple)]
    for n, (name, kind, arg, _) in enumerate(plan):
        if kind == "const":
            ns[f"c{n}"] = arg
            items.append(f"{name!r}: c{n}")
    if records:
        code = ["def map_page(rows, source, page):",
                "    out = []; bad = []; append = out.append",
                "    for i, raw in enumerate(rows, 1):"]
    else:
        code = ["def map_rows(rows):",
                "    out = []; bad = []; append = out.append",
                "    for i, raw in enumerate(rows):"]
    code += ["        if type(raw) is dict:",
             "            get = raw.get",
             *(f"            a{n} = get({k!r}, M)" for n, (_, k) in enumerate(simple)),
             "            d = {" + ", ".join(items) + "}"]
    if simple:  # identity tests: 'M in d.values()' would call Decimal.__eq__, an ABC check per value
        code += ["            if " + " or ".join(f"a{n} is M" for n in range(len(simple))) + ":",
                 "                d = {k: v for k, v in d.items() if v is not M}"]
    consts = "{" + ", ".join(i for i in items if ": c" in i) + "}"
    problem = "P(source, f'the record is {_kind(raw)}, not an object', page=page, record=i)" if records else \
        "(i, f'the record is {_kind(raw)}, not an object')"
    code += ["        elif type(raw) is list:",  # plain keys are not indices: a row list has none of them
             f"            d = {consts}",
             "        else:",
             f"            bad.append({problem})",
             "            continue"]
    if where:
        code.append("        if not _matches(where, raw, None): continue")
    for n, (name, kind, arg, _) in enumerate(plan):
        if kind == "one":
            ns[f"g{n}"] = arg
            code += [f"        v = g{n}(raw)", f"        if v is not M: d[{name!r}] = v"]
        elif kind == "pair":
            ns[f"g{n}"] = arg
            code += [f"        v = g{n}(raw, None)", f"        if v is not M: d[{name!r}] = v"]
    for n, (name, _, _, post) in enumerate(plan):
        if post is not None:
            ns[f"p{n}"] = post
            code.append(f"        if {name!r} in d: d[{name!r}] = p{n}(d[{name!r}])")
    code.append("        append(tn(R, (tn(W, (source, None, page, i)), d)))" if records else
                "        append((i, d))")
    code.append("    return out, bad")
    if records and as_is:  # the general way above becomes the fallback of a faster one
        code[0] = "def slow_page(rows, source, page):"
        ns["not_object"] = _not_object
        keep = " if (type(r) is dict or not_object()) and _matches(where, r, None)" if where else ""
        value = "r" if where else "(r if type(r) is dict else not_object())"
        code += ["def map_page(rows, source, page):",
                 "    try:",
                 f"        return [tn(R, (tn(W, (source, None, page, i)), {value}))",
                 f"                for i, r in enumerate(rows, 1){keep}], []",
                 "    except TypeError:",  # a record that is not an object: the general way reports it
                 "        return slow_page(rows, source, page)"]
    elif records and all(kind in ("key", "const") for _, kind, _, _ in plan):
        # The common case, every field a plain key: one comprehension over the page, each value read by subscript;
        # a record that is not an object or lacks a key (KeyError, TypeError) sends the page down the general way.
        code[0] = "def slow_page(rows, source, page):"
        values = []
        for n, (name, kind, arg, post) in enumerate(plan):
            value = f"c{n}" if kind == "const" else f"r[{arg!r}]"
            if post is not None:
                value = f"p{n}({value})"
            values.append(f"{name!r}: {value}")
        keep = " if type(r) is not dict or _matches(where, r, None)" if where else ""  # not a dict: TypeError
        code += ["def map_page(rows, source, page):",
                 "    try:",
                 "        return [tn(R, (tn(W, (source, None, page, i)), {" + ", ".join(values) + "}))",
                 f"                for i, r in enumerate(rows, 1){keep}], []",
                 "    except (KeyError, TypeError):",
                 "        return slow_page(rows, source, page)"]
    exec("\n".join(code), ns)  # noqa: S102 (generated from repr() of the config's names only)
    return ns["map_page" if records else "map_rows"]


__all__ = ["DATE_FIELDS", "MISSING", "ConstField", "EntityMapping", "FieldExpr", "MappingError", "PathField",
           "TemplateField", "compile_path", "is_jsonpath", "negate", "template_parts"]
