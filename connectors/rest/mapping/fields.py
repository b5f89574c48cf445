"""Field expressions: the forms a mapped field may take besides a plain path, and what they compile into.

The forms are :class:`PathField` (a path with a date format, a sign flip, a lookup table), :class:`TemplateField`
(text with paths in braces) and :class:`ConstField` (one value for all records), each optionally only ``when``
the record's fields hold given values; :func:`compile_conditions` also serves an entity's ``where``. Paths are
compiled by :mod:`connectors.rest.mapping.paths`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import model_validator

from connectors.rest.mapping.paths import MISSING, Getter, reader
from robots.support.config_types import Frozen

#: The ledger fields holding dates: date formats apply to them.
DATE_FIELDS = frozenset({"date", "due_date"})
_MINUS = ("-", "\u2212", "\u2013")  # what parse_money takes for a minus sign

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


def compile_conditions(spec: Mapping[str, Any] | None, exploded: bool, what: str) -> tuple[Condition, ...]:
    """The conditions of a ``where``/``when`` mapping (field path: expected value, or a list of them)."""
    out = []
    for key, expected in (spec or {}).items():
        get, from_parent = reader(key, exploded, f"{what} '{key}'")
        one_of = None
        if isinstance(expected, list):
            try:
                one_of = frozenset(expected)
            except TypeError:
                raise ValueError(f"{what} '{key}': a list lists plain values (text, numbers, true/false)") from None
        out.append((get, from_parent, one_of, expected))
    return tuple(out)


def matches(conditions: tuple[Condition, ...], raw: Any, parent: Any) -> bool:
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


def compile_template(text: str, exploded: bool, what: str) -> PairGetter:
    """The getter of a template field: its text, or :data:`MISSING` when a path leads nowhere or to null."""
    pieces, tail = template_parts(text)
    parts = tuple((literal, *reader(path, exploded, f"{what} template path '{path}'")) for literal, path in pieces)

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


def converter(empties: frozenset, formats: tuple[str, ...], table: Mapping[str, Any] | None,
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

