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
the N-th request, an HTML page instead of JSON). The ``$filter`` language is :mod:`demo.erp.onec_filter`, the
query options and the Balance virtual table :mod:`demo.erp.onec_query`; this module answers requests.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from demo.erp.onec_data import (
    BALANCE_TYPE,
    ENTITY_TYPES,
    NAVIGATION,
    PREFIX,
    ROW_TYPES,
    SETTLEMENTS,
    OnecData,
    onec_from_ledger,
)
from demo.erp.onec_filter import ODataError, compile_filter, tokens
from demo.erp.onec_query import OPTIONS, balance_args, balance_rows, query
from robots.core.domain import Ledger

ROOT = "odata/standard.odata"
_ALL_TYPES = {**ENTITY_TYPES, f"{SETTLEMENTS}_Balance": BALANCE_TYPE}


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
        if name.startswith("$") and name not in OPTIONS:
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
        rows = balance_rows(data, balance_args(m.group("args") or ""))
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
        toks = tokens(key)
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


__all__ = ["Fault", "OnecState", "create_onec_app", "dump_json", "edmx"]
