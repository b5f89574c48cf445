"""The entity mapping: one entity's records read out of a JSON answer, compiled once per config.

:class:`EntityMapping` locates the list of records (or a table's rows and column names), explodes array fields
into records, filters with ``where``, and maps each record's fields by their expressions
(:mod:`connectors.rest.mapping.fields`). Without explode, mapping is generated as straight-line code for the
config (:func:`_compile_flat`): it runs once per record of every sync, hundreds of thousands of times. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from connectors.base import FIELDS, Problem, Record, Where
from connectors.rest.mapping.fields import (
    DATE_FIELDS,
    Condition,
    ConstField,
    FieldExpr,
    PairGetter,
    PathField,
    TemplateField,
    compile_conditions,
    compile_template,
    converter,
    matches,
)
from connectors.rest.mapping.paths import MISSING, compile_path, is_jsonpath, jsonpath, reader, simple_key, step


class MappingError(ValueError):
    """The answer does not have the configured shape (records path missing, records not a list)."""


def _path_list(body: Any, expr: str | None, what: str) -> list[Any]:
    """The list at ``expr`` in ``body`` (the body itself when None); MappingError when missing or not a list."""
    if expr is None:
        value = body
    elif is_jsonpath(expr) and any(m in expr for m in ("*", "..", "?", ":")):
        value = [m.value for m in jsonpath(expr).find(body)]  # several matches by design: none is an empty list
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


#: map_rows' result: ([(index, values)], [(index, problem)]).
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
                jsonpath(expr) if is_jsonpath(expr) else compile_path(expr)
        self._explode = compile_path(explode) if explode else None
        exploded = self._explode is not None
        empties = frozenset(empty_values)
        self._where = compile_conditions(where, exploded, "where")
        # Each field is one of: ("key", plain key of the record), ("one", getter of the record), ("parent",
        # getter of the parent), ("pair", getter of (record, parent)), ("const", value); plus its converter.
        plan: list[tuple[str, str, Any, Callable[[Any], Any] | None]] = []
        for name, expr in fields.items():
            if name not in FIELDS[entity]:
                raise ValueError(f"'{name}' is not a field of {entity}; its fields are: {', '.join(FIELDS[entity])}")
            what = f"'{name}'"
            when = compile_conditions(getattr(expr, "when", None), exploded, f"{what} when")
            if isinstance(expr, ConstField):
                if when:
                    plan.append((name, "pair", _only_when(when, _const(expr.const)), None))
                else:
                    plan.append((name, "const", expr.const, None))
                continue
            fmt, table, default, has_default, flip = None, None, None, False, False
            if isinstance(expr, TemplateField):
                kind, arg = "pair", compile_template(expr.template, exploded, what)
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
                getter, from_parent = reader(expr, exploded, what)
                key = None if from_parent else simple_key(expr)
                kind, arg = ("key", key) if key is not None else ("parent" if from_parent else "one", getter)
            if when:
                kind, arg = "pair", _only_when(when, _as_pair(kind, arg))
            formats = ((fmt,) if fmt else tuple(date_formats)) if name in DATE_FIELDS else ()
            plan.append((name, kind, arg, converter(empties, formats, table, default, has_default, flip)))
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
                if where and not matches(where, item, parent):
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
        return lambda item, parent: step(item, arg, None)
    if kind == "one":
        return lambda item, parent: arg(item)
    if kind == "parent":
        return lambda item, parent: arg(parent)
    if kind == "const":
        return _const(arg)
    return arg


def _only_when(when: tuple[Condition, ...], get: PairGetter) -> PairGetter:
    def conditional(item: Any, parent: Any) -> Any:
        return get(item, parent) if matches(when, item, parent) else None

    return conditional


def _not_object() -> Any:
    raise TypeError("a record that is not an object")


def _compile_flat(plan: tuple[tuple[str, str, Any, Callable[[Any], Any] | None], ...], where: tuple,
                  *, records: bool, as_is: bool = False) -> Callable[..., Any]:
    """map_rows (``records=False``) or map_page (``records=True``) without explode, generated as straight-line
    code for this mapping: a dict display of the plain keys and constants, no loop over fields. Names and keys
    enter the source only through repr(); every other value through the namespace. ``as_is``: the raw records
    (when all are objects) are the values themselves."""
    ns: dict[str, Any] = {"M": MISSING, "matches": matches, "_kind": _kind, "where": where, "W": Where,
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
        code.append("        if not matches(where, raw, None): continue")
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
        keep = " if (type(r) is dict or not_object()) and matches(where, r, None)" if where else ""
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
        keep = " if type(r) is not dict or matches(where, r, None)" if where else ""  # not a dict: TypeError
        code += ["def map_page(rows, source, page):",
                 "    try:",
                 "        return [tn(R, (tn(W, (source, None, page, i)), {" + ", ".join(values) + "}))",
                 f"                for i, r in enumerate(rows, 1){keep}], []",
                 "    except (KeyError, TypeError):",
                 "        return slow_page(rows, source, page)"]
    exec("\n".join(code), ns)  # generated from repr() of the config's names only
    return ns["map_page" if records else "map_rows"]

