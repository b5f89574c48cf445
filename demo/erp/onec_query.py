"""The query options of 1C's OData interface on a list of rows, and the virtual table ``Balance``.

:func:`query` applies ``$filter``, ``$orderby``, ``$skip``/``$top``, ``$expand`` and ``$select`` (with 1C's
``$inlinecount=allpages`` quirk); :func:`balance_args` reads the parameters of
``AccumulationRegister_РасчетыСПокупателями/Balance(Period=..,Condition=..,Dimensions=..)`` and :func:`balance_rows`
answers it. Bad values are :class:`~demo.erp.onec_filter.ODataError` (400).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from demo.erp.onec_data import BALANCE_DIMENSIONS, BALANCE_RESOURCE, BALANCE_TYPE, NAVIGATION, OnecData
from demo.erp.onec_filter import KINDS, ODataError, compile_filter, convert, tokens

#: The query options the interface knows; any other ``$`` option is a 400.
OPTIONS = {"$format", "$select", "$filter", "$orderby", "$top", "$skip", "$inlinecount", "$expand"}


def _count(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit():
        raise ODataError(400, f"неверное значение параметра {option}: '{text}'")
    return int(text)


def _names(text: str, option: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise ODataError(400, f"неверное значение параметра {option}: '{text}'")
    return names


def _order(rows: list[dict[str, Any]], text: str, properties: dict[str, str]) -> list[dict[str, Any]]:
    keys = []
    for part in _names(text, "$orderby"):
        name, *direction = part.split()
        kind = KINDS.get(properties.get(name, ""))
        if kind is None or len(direction) > 1 or (direction and direction[0] not in ("asc", "desc")):
            raise ODataError(400, f"неверное значение параметра $orderby: '{part}'")
        keys.append((name, kind, bool(direction) and direction[0] == "desc"))
    for name, kind, desc in reversed(keys):  # stable sorts, last key first
        def key(r: dict[str, Any], name: str = name, kind: str = kind) -> tuple[bool, Any]:
            v = convert(kind, r.get(name))
            return (False, 0) if v is None else (True, v)  # nulls first, as 1C sorts empty values
        rows = sorted(rows, key=key, reverse=desc)
    return rows


def _expand(rows: list[dict[str, Any]], text: str, entity: str, data: OnecData) -> list[dict[str, Any]]:
    navigation = NAVIGATION.get(entity, {})
    names = _names(text, "$expand")
    for name in names:
        if name not in navigation:
            raise ODataError(400, f"неверное значение параметра $expand: нет навигационного свойства '{name}'")
    index = {s: {r["Ref_Key"]: r for r in rs} for s, rs in data.sets.items()}
    result = []
    for row in rows:
        row = dict(row)
        for name in names:
            column, target = navigation[name]
            found = index[target].get(row.get(column))
            if found is not None:  # 1C leaves the navigation property out for an empty reference
                row[name] = found
        result.append(row)
    return result


def _select(rows: list[dict[str, Any]], text: str, properties: dict[str, str], entity: str) -> list[dict[str, Any]]:
    names = _names(text, "$select")
    allowed = set(properties) | set(NAVIGATION.get(entity, {}))
    for name in names:
        if name not in allowed:
            raise ODataError(400, f"неверное значение параметра $select: нет свойства '{name}'")
    return [{k: v for k, v in row.items() if k in names} for row in rows]


def query(rows: list[dict[str, Any]], params: dict[str, str], entity: str, properties: dict[str, str],
          data: OnecData) -> tuple[list[dict[str, Any]], int]:
    """Apply $filter, $orderby, $skip, $top, $expand, $select; returns the rows and the count before paging.

    As 1C documents it, ``$inlinecount=allpages`` makes the server ignore ``$skip`` and ``$top``."""
    if (f := params.get("$filter")) is not None:
        keep = compile_filter(f, properties)
        rows = [r for r in rows if keep(r)]
    total = len(rows)
    if (o := params.get("$orderby")) is not None:
        rows = _order(rows, o, properties)
    skip, top = _count(params.get("$skip"), "$skip") or 0, _count(params.get("$top"), "$top")
    if params.get("$inlinecount") == "allpages":
        skip, top = 0, None  # 1C's documented quirk: $inlinecount makes it ignore $skip and $top
    rows = rows[skip:] if top is None else rows[skip:skip + top]
    if (e := params.get("$expand")) is not None:
        rows = _expand(rows, e, entity, data)
    if (s := params.get("$select")) is not None:
        rows = _select(rows, s, properties, entity)
    return rows, total


# ---------------------------------------------------------------------------------------------------------------
# The virtual table Balance(Period=..., Condition=..., Dimensions=...).
def balance_args(text: str) -> dict[str, Any]:
    toks, args, i = tokens(text), {}, 0
    while toks[i].kind != "end":
        name, eq, value = toks[i], toks[i + 1], toks[i + 2] if i + 2 < len(toks) else toks[-1]
        if name.kind != "name" or eq.value != "=" or value.kind not in ("datetime", "string"):
            raise ODataError(400, f"неверные параметры виртуальной таблицы: '{text}'")
        if name.value not in ("Period", "Condition", "Dimensions"):
            raise ODataError(400, f"неизвестный параметр виртуальной таблицы '{name.value}'")
        args[name.value] = value.value
        i += 3
        if toks[i].kind == "punct" and toks[i].value == ",":
            i += 1
    if "Period" in args and not isinstance(args["Period"], datetime):
        raise ODataError(400, "параметр Period должен быть datetime'...'")
    return args


def balance_rows(data: OnecData, args: dict[str, Any]) -> list[dict[str, Any]]:
    rows = data.balance(args.get("Period"))
    properties = dict(BALANCE_TYPE)
    if (condition := args.get("Condition")) is not None:
        keep = compile_filter(condition, properties)
        rows = [r for r in rows if keep(r)]
    if (dims := args.get("Dimensions")) is not None:
        wanted = _names(dims, "Dimensions")
        if not set(wanted) <= set(BALANCE_DIMENSIONS):
            raise ODataError(400, f"неизвестные измерения в Dimensions: '{dims}'")
        columns = [c for c, _ in BALANCE_TYPE if c != BALANCE_RESOURCE and c.removesuffix("_Key").removesuffix(
            "_Type") in wanted]
        grouped: dict[tuple, Decimal] = {}
        for r in rows:
            k = tuple(r[c] for c in columns)
            grouped[k] = grouped.get(k, Decimal(0)) + r[BALANCE_RESOURCE]
        rows = [{**dict(zip(columns, k)), BALANCE_RESOURCE: v} for k, v in grouped.items() if v]
    return rows
