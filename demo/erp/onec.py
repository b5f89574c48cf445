"""A local simulator of 1C:Enterprise's standard OData interface (OData v3), serving a receivables ledger.

``create_onec_app(ledger, username=..., password=...)`` answers ``/<publication>/odata/standard.odata/...`` the way
a published 1C:Бухгалтерия предприятия 3.0 base does, for what a connector reads:

* JSON bodies ``{"odata.metadata": ".../$metadata#Set", "value": [...]}``; Int64 values (``LineNumber``,
  ``СрокОплатыПокупателя``, ``odata.count``) as strings; the empty reference is the all-zero GUID, the empty date
  ``0001-01-01T00:00:00``; dates carry no time zone. Without ``$format=json`` (or ``Accept: application/json``) the
  answer is Atom XML, as in 1C.
* Query options ``$format``, ``$select``, ``$filter`` (a real parser: eq/ne/gt/ge/lt/le, and/or/not, parentheses,
  ``guid'..'``, ``datetime'..'``, numbers, strings, true/false/null), ``$orderby`` (``Ref_Key`` when absent),
  ``$top``/``$skip`` (client-driven paging, never a nextLink), ``$inlinecount=allpages``, ``$expand`` of reference
  properties. Unknown ``$`` options and bad values are 400.
* The virtual table ``AccumulationRegister_РасчетыСПокупателями/Balance(Period=datetime'..',Condition='..',
  Dimensions='..')``, ``$metadata`` (a minimal EDMX v3, namespace ``StandardODATA``) and the service document.
* HTTP Basic with UTF-8 logins; errors as ``{"odata.error": {"code": "-1", "message": {"lang": "ru", "value":
  ...}}}``: 401 bad login, 404 unknown set or object, 400 bad query, 405 for writes (this base is read-only).

For tests, ``app.state.onec`` (:class:`OnecState`) swaps the ledger, logs requests and injects faults (a 5xx on
the N-th request, an HTML page instead of JSON).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from demo.erp.onec_data import (BALANCE_DIMENSIONS, BALANCE_RESOURCE, BALANCE_TYPE, ENTITY_TYPES, NAVIGATION, PREFIX,
                                ROW_TYPES, SETTLEMENTS, OnecData, onec_from_ledger)
from robots.core.domain import Ledger

ROOT = "odata/standard.odata"
_ALL_TYPES = {**ENTITY_TYPES, f"{SETTLEMENTS}_Balance": BALANCE_TYPE}


class ODataError(Exception):
    """An answer in 1C's error format: ``status`` and a Russian message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"odata.error": {"code": "-1", "message": {"lang": "ru", "value": message}}}
    return JSONResponse(body, status_code=status, headers=headers)


# ---------------------------------------------------------------------------------------------------------------
# JSON: amounts are Decimal and must be written as exact JSON numbers (1C writes 15000 and 1234.5, never floats).
def dump_json(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{dump_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _json(body: dict[str, Any]) -> Response:
    return Response(dump_json(body), media_type="application/json;charset=utf-8")


# ---------------------------------------------------------------------------------------------------------------
# $filter: tokenizer, recursive-descent parser, compiled to typed closures over a row.
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
_KINDS = {"Edm.Guid": "guid", "Edm.String": "string", "Edm.Boolean": "bool", "Edm.DateTime": "datetime",
          "Edm.Int64": "number", "Edm.Int32": "number", "Edm.Int16": "number", "Edm.Double": "number",
          "Edm.Decimal": "number"}
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # guid, datetime, string, number, name, punct, end
    value: Any
    pos: int


def _tokens(text: str) -> list[_Tok]:
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


def _convert(kind: str, value: Any) -> Any:
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
        self.toks, self.i, self.properties = _tokens(text), 0, properties

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
            kind = _KINDS.get(edm)
            if kind is None:
                raise ODataError(400, f"по свойству '{tok.value}' нельзя отбирать (табличная часть)")
            return (kind, lambda row, name=tok.value, kind=kind: _convert(kind, row.get(name)))
        shown = "конец выражения" if tok.kind == "end" else f"'{tok.value}'"
        raise ODataError(400, f"ожидался операнд, а не {shown} в позиции {tok.pos + 1}")


def compile_filter(text: str, properties: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """A row predicate for the OData ``$filter`` expression ``text`` over ``properties`` (name -> EDM type).
    Raises :class:`ODataError` (400) for anything it cannot parse or type-check."""
    return _FilterParser(text, properties).parse()


# ---------------------------------------------------------------------------------------------------------------
# Query options on a list of rows.
_OPTIONS = {"$format", "$select", "$filter", "$orderby", "$top", "$skip", "$inlinecount", "$expand"}


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
        kind = _KINDS.get(properties.get(name, ""))
        if kind is None or len(direction) > 1 or (direction and direction[0] not in ("asc", "desc")):
            raise ODataError(400, f"неверное значение параметра $orderby: '{part}'")
        keys.append((name, kind, bool(direction) and direction[0] == "desc"))
    for name, kind, desc in reversed(keys):  # stable sorts, last key first
        def key(r: dict[str, Any], name: str = name, kind: str = kind) -> tuple[bool, Any]:
            v = _convert(kind, r.get(name))
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
def _balance_args(text: str) -> dict[str, Any]:
    toks, args, i = _tokens(text), {}, 0
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


# ---------------------------------------------------------------------------------------------------------------
# Test hooks: faults and the request log.
@dataclass
class Fault:
    """Answer the ``nth`` (1-based, counted from when the fault was added) matching request, and the ``times - 1``
    after it, with ``status`` (a JSON odata.error) or, when ``html``, with a 200 HTML page."""

    nth: int
    status: int = 500
    times: int = 1
    html: bool = False
    entity: str | None = None  # only requests for this entity set count
    seen: int = 0


@dataclass
class OnecState:
    """The mutable side of one simulator app: its data, faults and what was asked."""

    data: OnecData
    username: str
    password: str
    publication: str
    faults: list[Fault] = field(default_factory=list)
    #: (resource path, query parameters) of every request, in arrival order.
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def set_ledger(self, ledger: Ledger, *, noise: bool = True) -> None:
        self.data = onec_from_ledger(ledger, noise=noise)

    def fail(self, nth: int, status: int = 500, *, times: int = 1, entity: str | None = None) -> Fault:
        fault = Fault(nth, status, times, entity=entity)
        self.faults.append(fault)
        return fault

    def html(self, nth: int, *, times: int = 1, entity: str | None = None) -> Fault:
        fault = Fault(nth, 200, times, html=True, entity=entity)
        self.faults.append(fault)
        return fault

    def _fault_for(self, entity: str) -> Fault | None:
        hit = None
        for fault in self.faults:
            if fault.entity is None or fault.entity == entity:
                fault.seen += 1
                if hit is None and fault.nth <= fault.seen < fault.nth + fault.times:
                    hit = fault
        return hit


_LOGIN_PAGE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>1С:Предприятие</title></head><body>"
               "<form method='post' action='/e1cib/login'><input name='login'><input name='password' type='password'>"
               "<button type='submit'>Войти</button></form></body></html>")


def _check_auth(request: Request, state: OnecState) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return bool(sep) and hmac.compare_digest(user.encode(), state.username.encode()) and \
        hmac.compare_digest(password.encode(), state.password.encode())


# ---------------------------------------------------------------------------------------------------------------
# Answers.
_RESOURCE = re.compile(r"(?P<set>[^/()]+)(?:\((?P<key>[^)]*)\))?(?:/(?P<vt>[^/(]+)(?:\((?P<args>.*)\))?)?", re.S)


def _wants_json(request: Request, params: dict[str, str]) -> bool:
    fmt = params.get("$format")
    if fmt is None:
        return "json" in request.headers.get("accept", "")
    if fmt in ("json", "application/json"):
        return True
    if fmt in ("atom", "xml", "application/atom+xml"):
        return False
    raise ODataError(400, f"неверное значение параметра $format: '{fmt}'")


def _atom(base: str, entity: str, rows: list[dict[str, Any]]) -> Response:
    entries = "".join(f"<entry><id>{escape(base)}/{escape(entity)}(guid'{escape(str(r.get('Ref_Key', '')))}')</id>"
                      f"<content type=\"application/xml\"/></entry>" for r in rows)
    body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><feed xmlns=\"http://www.w3.org/2005/Atom\" "
            f"xml:base={quoteattr(base + '/')}><title type=\"text\">{escape(entity)}</title>{entries}</feed>")
    return Response(body, media_type="application/atom+xml;type=feed;charset=utf-8")


def _metadata_url(base: str, entity: str, params: dict[str, str], element: bool = False) -> str:
    url = f"{base}/$metadata#{entity}"
    if element:
        return url + "/@Element"
    if (s := params.get("$select")) is not None:
        url += f"&$select={s}"
    return url


def edmx() -> str:
    """A minimal EDMX (OData v3) for the exposed sets: entity types, row types of tabular sections, the Balance
    row type, navigation properties with their associations, and the container ``EnterpriseV8``."""
    def props(properties: Iterable[tuple[str, str]]) -> str:
        return "".join(f"<Property Name={quoteattr(n)} Type={quoteattr(t)} Nullable=\"{str(n != 'Ref_Key').lower()}\"/>"
                       for n, t in properties)
    types, assocs, assoc_sets = [], [], []
    for name, properties in _ALL_TYPES.items():
        key = "<Key><PropertyRef Name=\"Ref_Key\"/></Key>" if name in ENTITY_TYPES else \
            "<Key><PropertyRef Name=\"Сделка\"/></Key>"
        navs = []
        nav_of = NAVIGATION.get(SETTLEMENTS if name.startswith(SETTLEMENTS) else name, {})
        for nav, (_, target) in nav_of.items():
            assoc = f"{name}_{nav}"
            navs.append(f"<NavigationProperty Name={quoteattr(nav)} Relationship={quoteattr(PREFIX + assoc)} "
                        f"FromRole=\"Begin\" ToRole=\"End\"/>")
            assocs.append(f"<Association Name={quoteattr(assoc)}><End Role=\"Begin\" Type={quoteattr(PREFIX + name)} "
                          f"Multiplicity=\"*\"/><End Role=\"End\" Type={quoteattr(PREFIX + target)} "
                          f"Multiplicity=\"0..1\"/></Association>")
            assoc_sets.append(f"<AssociationSet Name={quoteattr(assoc)} Association={quoteattr(PREFIX + assoc)}>"
                              f"<End Role=\"Begin\" EntitySet={quoteattr(name)}/><End Role=\"End\" "
                              f"EntitySet={quoteattr(target)}/></AssociationSet>")
        types.append(f"<EntityType Name={quoteattr(name)}>{key}{props(properties)}{''.join(navs)}</EntityType>")
    rows = "".join(f"<ComplexType Name={quoteattr(n)}>{props(p)}</ComplexType>" for n, p in ROW_TYPES.items())
    sets = "".join(f"<EntitySet Name={quoteattr(n)} EntityType={quoteattr(PREFIX + n)}/>" for n in _ALL_TYPES)
    balance = (f"<FunctionImport Name=\"Balance\" IsBindable=\"true\" EntitySet=\"{SETTLEMENTS}_Balance\" "
               f"ReturnType=\"Collection({PREFIX}{SETTLEMENTS}_Balance)\"><Parameter Name=\"Period\" "
               "Type=\"Edm.DateTime\"/><Parameter Name=\"Condition\" Type=\"Edm.String\"/><Parameter "
               "Name=\"Dimensions\" Type=\"Edm.String\"/></FunctionImport>")
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
            "<edmx:Edmx xmlns:edmx=\"http://schemas.microsoft.com/ado/2007/06/edmx\" Version=\"1.0\">"
            "<edmx:DataServices xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\" "
            "m:DataServiceVersion=\"3.0\"><Schema xmlns=\"http://schemas.microsoft.com/ado/2009/11/edm\" "
            f"Namespace=\"StandardODATA\">{''.join(types)}{rows}{''.join(assocs)}"
            "<EntityContainer Name=\"EnterpriseV8\" m:IsDefaultEntityContainer=\"true\">"
            f"{sets}{''.join(assoc_sets)}{balance}</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")


def _answer(request: Request, state: OnecState, resource: str, params: dict[str, str], base: str) -> Response:
    for name in params:
        if name.startswith("$") and name not in _OPTIONS:
            raise ODataError(400, f"неизвестный параметр запроса '{name}'")
    if resource in ("", "/"):
        if not _wants_json(request, params):
            return _atom(base, "", [])
        names = [*ENTITY_TYPES, SETTLEMENTS]
        return _json({"odata.metadata": f"{base}/$metadata", "value": [{"name": n, "url": n} for n in names]})
    if resource == "$metadata":
        return Response(edmx(), media_type="application/xml;charset=utf-8")
    m = _RESOURCE.fullmatch(resource)
    entity = m.group("set") if m else resource
    data = state.data
    if m and entity == SETTLEMENTS and m.group("vt") == "Balance" and m.group("key") is None:
        rows = balance_rows(data, _balance_args(m.group("args") or ""))
        properties, name = dict(BALANCE_TYPE), f"{SETTLEMENTS}_Balance"
    elif m and entity in ENTITY_TYPES and m.group("vt") in (None, "$count"):
        rows, properties, name = data.sets[entity], dict(ENTITY_TYPES[entity]), entity
    else:
        raise ODataError(404, f"Не найден ресурс '{resource}'")
    if m.group("vt") == "$count" and m.group("key") is None:  # Set/$count: the size of the selection, as text
        keep = compile_filter(params["$filter"], properties) if "$filter" in params else None
        return Response(str(sum(1 for r in rows if keep is None or keep(r))), media_type="text/plain;charset=utf-8")
    as_json = _wants_json(request, params)
    if m.group("key") is not None:  # one object: Set(guid'...')
        key = m.group("key")
        toks = _tokens(key)
        if toks[0].kind != "guid" or toks[1].kind != "end":
            raise ODataError(400, f"неверный ключ объекта '{key}'")
        found = [r for r in rows if r["Ref_Key"] == toks[0].value]
        if not found:
            raise ODataError(404, "Объект не найден")
        row = query(found, {k: v for k, v in params.items() if k in ("$select", "$expand")}, entity, properties,
                    data)[0][0]
        if not as_json:
            return _atom(base, entity, [row])
        return _json({"odata.metadata": _metadata_url(base, entity, params, element=True), **row})
    page, total = query(rows, params, entity, properties, data)
    if not as_json:
        return _atom(base, entity, page)
    body: dict[str, Any] = {"odata.metadata": _metadata_url(base, name, params)}
    inline = params.get("$inlinecount")
    if inline not in (None, "allpages", "none"):
        raise ODataError(400, f"неверное значение параметра $inlinecount: '{inline}'")
    if inline == "allpages":
        body["odata.count"] = str(total)  # Int64: a string, as 1C writes it
    body["value"] = page
    return _json(body)


def create_onec_app(ledger: Ledger, *, username: str, password: str, publication: str = "buh",
                    noise: bool = True) -> Starlette:
    """The simulator serving ``ledger`` at ``/<publication>/odata/standard.odata/``; ``app.state.onec`` is its
    :class:`OnecState`. Only ``username``/``password`` (UTF-8, Cyrillic allowed) get in."""
    state = OnecState(onec_from_ledger(ledger, noise=noise), username, password, publication)

    async def endpoint(request: Request) -> Response:
        if request.path_params["publication"] != state.publication:
            return HTMLResponse("<html><body><h1>404 Not Found</h1></body></html>", status_code=404)
        resource = request.path_params.get("resource", "")
        params = dict(request.query_params)
        state.log.append((resource, params))
        m = _RESOURCE.fullmatch(resource)
        fault = state._fault_for(m.group("set") if m else resource)
        if fault is not None:
            if fault.html:
                return HTMLResponse(_LOGIN_PAGE)
            return _error(fault.status, "Сервис временно недоступен")
        if not _check_auth(request, state):
            return _error(401, "Ошибка аутентификации: неверное имя пользователя или пароль",
                          {"WWW-Authenticate": 'Basic realm="1C:Enterprise"'})
        if request.method != "GET":
            return _error(405, "Публикация доступна только для чтения")
        root = f"{request.url.scheme}://{request.url.netloc}/{state.publication}/{ROOT}"
        try:
            return _answer(request, state, resource, params, root)
        except ODataError as e:
            return _error(e.status, e.message)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    app = Starlette(routes=[Route(f"/{{publication}}/{ROOT}", endpoint, methods=methods),
                            Route(f"/{{publication}}/{ROOT}/{{resource:path}}", endpoint, methods=methods)])
    app.state.onec = state
    return app


__all__ = ["Fault", "ODataError", "OnecState", "balance_rows", "compile_filter", "create_onec_app", "dump_json",
           "edmx", "query"]
