"""The REST connector against a fixture server of our own (paging kinds, auth kinds, faults, TLS) and, end to end,
against the demo accounting system (demo.erp)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from connectors import presets
from connectors.base import FIELDS, ConnectorUnavailable, Where, WriteBackUnsupported
from connectors.records import build_ledger
from connectors.rest.config import RestConnectorConfig
from connectors.rest.connector import RestConnector
from demo.erp.server import serve
from demo.ledger import generate_demo_ledger
from robots.core.errors import BusinessError

REPO = Path(__file__).resolve().parents[2]
USER = "робот"
PASSWORD = "пароль-" + secrets.token_hex(8)
TOKEN = "tok-" + secrets.token_hex(12)
API_KEY = "key-" + secrets.token_hex(12)
LEDGER = generate_demo_ledger(seed=11, start=dt.date(2026, 1, 12), days=15)


# ------------------------------------------------------------------------------------------------- fixture server


def _json(obj: Any) -> str:
    """JSON text with Decimals as exact numbers (what a real API sends)."""
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_json(v) for v in obj) + "]"
    if isinstance(obj, dt.date):
        return f'"{obj.isoformat()}"'
    return json.dumps(obj, ensure_ascii=False)


def _rows(ledger) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for entity in FIELDS:
        rows = []
        for n, item in enumerate(getattr(ledger, entity), 1):
            row = {f: getattr(item, f) for f in FIELDS[entity]}
            if entity == "contracts" and row["penalty_rate_per_day"] is not None:
                row["penalty_rate_per_day"] = row["penalty_rate_per_day"] * 100  # percent per day, as APIs send
            row["updated_at"] = n
            rows.append(row)
        out[entity] = rows
    return out


@dataclass
class Behaviour:
    """What the fixture server does in one test; a fresh one per test, so nothing leaks between tests."""

    data: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: _rows(LEDGER))
    auth: str = "basic"  # basic, bearer, api_key, form, none
    #: (entity, page) -> faults used up one per request: ("status", code), ("retry_after", code, seconds),
    #: ("sleep", seconds), ("html",), ("malformed",), ("raw", status, body)
    faults: dict[tuple[str, int], list[tuple]] = field(default_factory=dict)
    envelope: str = "data"
    same_cursor: bool = False
    ignore_paging: bool = False
    foreign_next: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    writes: list[dict[str, Any]] = field(default_factory=list)
    write_status: int = 200
    sessions: set[str] = field(default_factory=set)


def _authorized(b: Behaviour, request: Request) -> bool:
    h = request.headers.get("authorization", "")
    if b.auth == "none":
        return True
    if b.auth == "basic" and h.startswith("Basic "):
        user, _, pw = base64.b64decode(h[6:]).decode("utf-8").partition(":")
        return (user, pw) == (USER, PASSWORD)
    if b.auth == "bearer":
        return h == f"Bearer {TOKEN}"
    if b.auth == "api_key":
        return request.headers.get("x-api-key") == API_KEY
    if b.auth == "form":
        return request.cookies.get("sid") in b.sessions
    return False


async def _list(request: Request) -> Response:
    b: Behaviour = request.app.state.b
    entity = request.path_params["entity"]
    q = request.query_params
    b.requests.append({"path": request.url.path, "query": dict(q), "raw_query": request.url.query,
                       "port": request.client.port if request.client else None})
    if not _authorized(b, request):
        return Response(json.dumps({"error": f"bad credentials {request.headers.get('authorization', '')}"}),
                        401, media_type="application/json")
    rows = b.data.get(entity)
    if rows is None:
        return Response('{"error": "no such entity"}', 404, media_type="application/json")
    if "updated_since" in q:
        rows = [r for r in rows if r["updated_at"] > int(q["updated_since"])]
    if "$top" in q:
        size, start = int(q["$top"]), int(q.get("$skip", 0))
    elif "cursor" in q or "limit" in q:
        size = int(q.get("limit", 10))
        start = int(base64.b64decode(q["cursor"]).decode()) if q.get("cursor") else 0
    else:
        size = int(q.get("per_page", 10))
        start = (int(q.get("page", 1)) - 1) * size
    if b.ignore_paging:
        start = 0
    page = start // size + 1
    for fault in (b.faults.get((entity, page)) or [None])[:1]:
        if fault is None:
            break
        b.faults[(entity, page)].pop(0)
        if fault[0] == "status":
            return Response('{"error": "boom"}', fault[1], media_type="application/json")
        if fault[0] == "retry_after":
            return Response("slow down", fault[1], headers={"Retry-After": str(fault[2])})
        if fault[0] == "sleep":
            await asyncio.sleep(fault[1])
        if fault[0] == "html":
            return HTMLResponse("<!doctype html><form action=/login><input name=password></form>")
        if fault[0] == "malformed":
            return Response('{"data": [{"id": "x", ', media_type="application/json")
        if fault[0] == "raw":
            return Response(fault[2], fault[1], media_type="application/json")
        if fault[0] == "echo":  # a careless server: its error page repeats the credentials, at length
            return HTMLResponse(f"<html><head><title>{fault[1]}</title><style>p {{color: red}}</style></head><body>"
                                f"<h1>Bad&nbsp;Gateway</h1><p>upstream failed; header was "
                                f"{request.headers.get('authorization')}</p><p>{'trace ' * 200}</p></body></html>",
                                fault[1])
    chunk = rows[start:start + size]
    more = start + size < len(rows)
    nxt = base64.b64encode(str(start + size).encode()).decode() if more else None
    if b.same_cursor and more:
        nxt = base64.b64encode(str(size).encode()).decode()
    link = None
    if more:
        params = {k: v for k, v in q.items() if k not in ("page", "per_page")} | {"page": page + 1, "per_page": size}
        link = f"{request.url.path}?{urlencode(params)}"
        if b.foreign_next:
            link = f"http://203.0.113.9:81{link}"
    body = {b.envelope: chunk, "meta": {"next_cursor": nxt}, "links": {"next": link}}
    return Response(_json(body), media_type="application/json")


async def _login(request: Request) -> Response:
    b: Behaviour = request.app.state.b
    if request.method == "POST":
        form = await request.form()
        if (form.get("username"), form.get("password")) == (USER, PASSWORD):
            sid = secrets.token_hex(8)
            b.sessions.add(sid)
            resp = RedirectResponse("/home", 303)
            resp.set_cookie("sid", sid)
            return resp
    return HTMLResponse("<!doctype html><form method=post><input name=username><input name=password></form>")


async def _home(request: Request) -> Response:
    return HTMLResponse("<span id=user>робот</span>")


async def _write(request: Request) -> Response:
    b: Behaviour = request.app.state.b
    if not _authorized(b, request):
        return Response(json.dumps({"error": "bad credentials"}), 401, media_type="application/json")
    raw = await request.body()
    b.writes.append({"method": request.method, "path": request.url.path, "raw_path": request.scope["raw_path"],
                     "query": dict(request.query_params), "body": raw.decode(),
                     "type": request.headers.get("content-type", "")})
    if b.write_status >= 400:
        return Response(json.dumps({"error": f"refused; header was {request.headers.get('authorization')}"}),
                        b.write_status, media_type="application/json")
    return Response('{"ok": true}', b.write_status, media_type="application/json")


def _app() -> Starlette:
    app = Starlette(routes=[Route("/login", _login, methods=["GET", "POST"]), Route("/home", _home),
                            Route("/api/act/{rest:path}", _write, methods=["POST", "PUT"]),
                            Route("/api/{entity}", _list)])
    app.state.b = Behaviour()
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Starlette, str]]:
    app = _app()
    with serve(app) as url:
        yield app, url


@pytest.fixture
def b(server) -> Behaviour:
    server[0].state.b = Behaviour()
    return server[0].state.b


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch):
    monkeypatch.setenv("ERP_PASSWORD", PASSWORD)
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    monkeypatch.setenv("ERP_KEY", API_KEY)


AUTH = {"basic": {"basic": {"username": USER, "password_env": "ERP_PASSWORD"}},
        "bearer": {"bearer": {"token_env": "ERP_TOKEN"}},
        "api_key": {"api_key": {"header": "X-API-Key", "key_env": "ERP_KEY"}},
        "form": {"form_login": {"url": "/login", "username": USER, "password_env": "ERP_PASSWORD"}}}


def _entities(paging: dict | None = None, only: tuple[str, ...] = tuple(FIELDS)) -> dict[str, Any]:
    return {e: {"path": f"api/{e}", "records": "data", "paging": paging or {"kind": "page", "size": 10},
                "fields": {f: f for f in FIELDS[e]}} for e in only}


def _config(url: str, **over: Any) -> RestConnectorConfig:
    raw = {"id": "erp", "kind": "rest", "base_url": url, "auth": AUTH["basic"],
           "retries": {"attempts": 3, "backoff": 0.01, "max_backoff": 0.05},
           "timeout": {"connect": 2, "read": 5}, "entities": _entities()}
    raw.update(over)
    return RestConnectorConfig.model_validate(raw)


@pytest.fixture
def connect(server, tmp_path):
    made: list[RestConnector] = []

    def make(sleeps: list | None = None, **over: Any) -> RestConnector:
        c = RestConnector(_config(over.pop("url", server[1]), **over), base_dir=tmp_path, state_dir=tmp_path / "st",
                          sleep=(sleeps.append if sleeps is not None else lambda s: None))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def _no_secrets(*texts: Any) -> None:
    for text in texts:
        for s in (PASSWORD, TOKEN, API_KEY, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()):
            assert s not in str(text)


# ------------------------------------------------------------------------------------------------- reading


def test_it_reads_all_four_entities_into_the_source_ledger(connect, b):
    fetched = connect().fetch()
    assert fetched.problems == []
    problems: list = []
    built = build_ledger(fetched.tables, problems)
    assert problems == []
    assert built == LEDGER
    first = fetched.tables["invoices"][12]
    assert (str(first.where), type(first.values["amount"])) == ("erp: GET api/invoices page 2 record 3", Decimal)


def test_basic_auth_sends_a_cyrillic_login_as_utf8(connect, b):
    # the fixture server decodes the header as UTF-8; a latin-1 header would fail (and could not hold 'робот')
    fetched = connect(entities=_entities(only=("counterparties",))).fetch()
    assert fetched.problems == [] and len(fetched.tables["counterparties"]) == len(LEDGER.counterparties)


@pytest.mark.parametrize("kind", ["bearer", "api_key", "form"])
def test_each_auth_kind_reads_the_data(connect, b, kind):
    b.auth = kind
    fetched = connect(auth=AUTH[kind], entities=_entities(only=("contracts",))).fetch()
    assert fetched.problems == []
    assert len(fetched.tables["contracts"]) == len(LEDGER.contracts)


def test_a_failed_form_login_is_a_problem_without_the_password(connect, b, monkeypatch):
    b.auth = "form"
    monkeypatch.setenv("ERP_PASSWORD", "wrong-" + PASSWORD)
    fetched = connect(auth=AUTH["form"]).fetch()
    assert all(t is None for t in fetched.tables.values())
    (p,) = fetched.problems
    assert p.source == "erp: POST /login"
    assert "login at /login failed (the answer is the login page again)" in p.message
    assert "ERP_PASSWORD" in p.message
    _no_secrets(p)


def test_wrong_credentials_are_a_problem_with_a_hint_and_no_retries(connect, b, monkeypatch):
    b.auth = "bearer"
    monkeypatch.setenv("ERP_TOKEN", TOKEN + "x")
    fetched = connect(auth=AUTH["bearer"], entities=_entities(only=("invoices",))).fetch()
    (p,) = fetched.problems
    assert fetched.tables["invoices"] is None
    assert (p.source, p.page) == ("erp: GET api/invoices", 1)
    assert p.message.startswith("HTTP 401 Unauthorized: the server refused the credentials; check auth "
                                "(bearer token from ERP_TOKEN)")
    assert len(b.requests) == 1
    assert TOKEN not in p.message  # the server echoed the header back; the excerpt is redacted


@pytest.mark.parametrize("paging, requests", [
    ({"kind": "offset", "size": 7}, 3),
    ({"kind": "offset", "size": 10}, 3),  # 10 + 10 + an empty page
    ({"kind": "page", "page_param": "page", "size_param": "per_page", "size": 7}, 3),
    ({"kind": "cursor", "cursor_param": "cursor", "next": "meta.next_cursor", "size_param": "limit", "size": 7}, 3),
    ({"kind": "next_link", "next": "links.next"}, 2),
    ({"kind": "none"}, 1),
])
def test_every_paging_kind_reads_every_record(connect, b, paging, requests):
    b.data["invoices"] = b.data["invoices"][:20]  # 7 + 7 + 6: the short page ends offset and page paging
    # (the cursor and the next link end with null; the server's own page size for next_link is 10)
    fetched = connect(entities=_entities(paging, only=("invoices",))).fetch()
    assert fetched.problems == []
    want = 10 if paging["kind"] == "none" else 20
    assert [r.values["id"] for r in fetched.tables["invoices"]] == [r["id"] for r in b.data["invoices"][:want]]
    assert len(b.requests) == requests


def test_offset_paging_sends_dollar_params_literally(connect, b):
    b.data["invoices"] = b.data["invoices"][:14]
    connect(entities=_entities({"kind": "offset", "size": 7}, only=("invoices",))).fetch()
    assert [r["raw_query"] for r in b.requests] == ["$top=7&$skip=0", "$top=7&$skip=7", "$top=7&$skip=14"]


def test_params_and_a_query_in_the_path_are_both_sent(connect, b):
    ents = _entities({"kind": "none"}, only=("invoices",))
    ents["invoices"].update(path="api/invoices?status=all", params={"$filter": "Posted eq true", "flag": True})
    connect(entities=ents).fetch()
    assert b.requests[0]["raw_query"] == "status=all&$filter=Posted%20eq%20true&flag=true"


def test_one_connection_is_reused_for_every_page(connect, b):
    connect(entities=_entities({"kind": "page", "size": 5}, only=("invoices",))).fetch()
    assert len(b.requests) > 3 and len({r["port"] for r in b.requests}) == 1


def test_the_same_cursor_twice_is_a_problem_not_an_endless_loop(connect, b):
    b.same_cursor = True
    fetched = connect(entities=_entities({"kind": "cursor", "next": "meta.next_cursor", "size": 5},
                                         only=("invoices",))).fetch()
    (p,) = fetched.problems
    assert "the same next cursor twice; stopped to avoid an endless loop" in p.message and p.page == 2
    assert fetched.tables["invoices"] is None


def test_a_server_that_ignores_the_page_is_a_problem(connect, b):
    b.ignore_paging = True
    fetched = connect(entities=_entities({"kind": "page", "size": 5}, only=("invoices",))).fetch()
    (p,) = fetched.problems
    assert "page 2 is the same as page 1: the server ignores 'page'" in p.message


def test_a_next_link_to_another_server_is_not_followed(connect, b):
    b.foreign_next = True
    fetched = connect(entities=_entities({"kind": "next_link"}, only=("invoices",))).fetch()
    (p,) = fetched.problems
    assert "points to another server (203.0.113.9:81)" in p.message
    assert len(b.requests) == 1


# ------------------------------------------------------------------------------------------------- several sources


def _two_sources(b: Behaviour, **second: Any) -> dict[str, Any]:
    """invoices from api/invoices (the first 15) and api/credit_notes (the rest): one entity, two sources."""
    b.data["credit_notes"] = b.data["invoices"][15:]
    b.data["invoices"] = b.data["invoices"][:15]
    ents = _entities(only=("invoices",))
    ents["invoices"] = [ents["invoices"], {**ents["invoices"], "path": "api/credit_notes", **second}]
    return ents


def test_an_entity_read_from_several_sources_concatenates_them(connect, b):
    fetched = connect(entities=_two_sources(b)).fetch()
    assert fetched.problems == []
    records = fetched.tables["invoices"]
    assert [r.values["id"] for r in records] == [i.id for i in LEDGER.invoices]
    assert str(records[14].where) == "erp: GET api/invoices page 2 record 5"
    assert str(records[15].where) == "erp: GET api/credit_notes page 1 record 1"


def test_one_unusable_source_makes_the_entity_unusable_and_names_that_source(connect, b):
    ents = _two_sources(b)
    b.faults[("credit_notes", 1)] = [("html",)]
    fetched = connect(entities={**ents, **_entities(only=("contracts",))}).fetch()
    (p,) = fetched.problems
    assert (p.source, p.page) == ("erp: GET api/credit_notes", 1) and "the answer is HTML" in p.message
    assert fetched.tables["invoices"] is None and len(fetched.tables["contracts"]) == len(LEDGER.contracts)


def test_each_source_has_its_own_incremental_snapshot(connect, b, tmp_path):
    inc = {"param": "updated_since", "field": "updated_at", "full_every": 5}
    ents = _two_sources(b, incremental=inc)
    ents["invoices"][0]["incremental"] = inc
    c = connect(entities=ents)
    c.fetch()
    c.commit()
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == ["invoices.2.json", "invoices.json"]
    b.data["credit_notes"].append({**b.data["credit_notes"][0], "id": "CN-NEW", "updated_at": 10_000})
    b.requests.clear()
    again = c.fetch()
    assert [(r["path"], r["query"]["updated_since"]) for r in b.requests] == [
        ("/api/invoices", "15"), ("/api/credit_notes", str(len(LEDGER.invoices)))]  # updated_at: the row number
    ids = [r.values["id"] for r in again.tables["invoices"]]
    assert ids == [i.id for i in LEDGER.invoices] + ["CN-NEW"]


def test_two_entities_on_one_path_are_told_apart_by_the_entity(connect, b):
    b.data["query"] = [{"id": "X", "name": "n", "number": "1", "counterparty_id": "X"}]
    ents = {"counterparties": {"path": "api/query", "records": "data", "fields": {"id": "id", "name": "name"}},
            "contracts": {"path": "api/query", "records": "data",
                          "fields": {"id": "id", "number": "number", "counterparty_id": "counterparty_id"}},
            "invoices": _entities(only=("invoices",))["invoices"]}
    fetched = connect(entities=ents).fetch()
    assert fetched.tables["counterparties"][0].where == Where("erp: GET api/query (counterparties)", None, 1, 1)
    assert fetched.tables["contracts"][0].where.source == "erp: GET api/query (contracts)"
    assert fetched.tables["invoices"][0].where.source == "erp: GET api/invoices"  # its path is its own
    b.faults[("query", 1)] = [("status", 503)] * 3
    with pytest.raises(ConnectorUnavailable, match=r"GET api/query \(counterparties\) page 1: HTTP 503 after 3"):
        connect(entities=ents).fetch()


# ------------------------------------------------------------------------------------------------- faults


def test_5xx_mid_paging_is_retried_with_backoff(connect, b):
    b.faults[("invoices", 2)] = [("status", 500), ("status", 503)]
    sleeps: list[float] = []
    fetched = connect(sleeps, entities=_entities(only=("invoices",))).fetch()
    assert fetched.problems == []
    assert len(fetched.tables["invoices"]) == len(LEDGER.invoices)
    assert len(sleeps) == 2 and all(0 < s <= 0.05 for s in sleeps)


def test_the_backoff_doubles_with_each_attempt_with_jitter(connect, b):
    b.faults[("invoices", 1)] = [("status", 503)] * 3
    sleeps: list[float] = []
    fetched = connect(sleeps, retries={"attempts": 4, "backoff": 1, "max_backoff": 100},
                      entities=_entities(only=("invoices",))).fetch()
    assert fetched.problems == [] and len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1 and 1 <= sleeps[1] <= 2 and 2 <= sleeps[2] <= 4


def test_spent_retries_make_the_connector_unavailable(connect, b):
    b.faults[("invoices", 7)] = [("status", 503)] * 5
    with pytest.raises(ConnectorUnavailable) as e:
        connect(entities=_entities(only=("invoices",))).fetch()
    assert e.value.reason == "GET api/invoices page 7: HTTP 503 after 3 attempts; the server said: boom"
    assert str(e.value) == f"connector 'erp' unavailable: {e.value.reason}"


def test_the_unavailable_message_quotes_the_server_briefly_and_without_secrets(connect, b):
    b.faults[("invoices", 1)] = [("echo", 502)] * 3
    with pytest.raises(ConnectorUnavailable) as e:
        connect(entities=_entities(only=("invoices",))).fetch()
    said = e.value.reason.split("; the server said: ", 1)[1]
    assert e.value.reason.startswith("GET api/invoices page 1: HTTP 502 after 3 attempts; the server said: ")
    assert said.startswith("502 Bad Gateway upstream failed; header was Basic *** trace trace")
    assert said.endswith("…") and len(said) <= 161 and "<" not in said and "color" not in said
    _no_secrets(e.value)


def test_429_retry_after_is_honoured_and_capped(connect, b):
    b.faults[("invoices", 1)] = [("retry_after", 429, 2), ("retry_after", 429, 100)]
    sleeps: list[float] = []
    fetched = connect(sleeps, retries={"attempts": 3, "backoff": 0.01, "max_backoff": 30},
                      entities=_entities(only=("invoices",))).fetch()
    assert fetched.problems == [] and sleeps == [2.0, 30.0]


def test_a_read_timeout_is_retried_then_unavailable(connect, b):
    b.faults[("invoices", 1)] = [("sleep", 1.5)] * 2
    with pytest.raises(ConnectorUnavailable, match=r"GET api/invoices page 1: read timeout \(0.2 s\) after 2 "
                                                   r"attempts"):
        connect(timeout={"connect": 1, "read": 0.2}, retries={"attempts": 2, "backoff": 0.01},
                entities=_entities(only=("invoices",))).fetch()


def test_a_server_that_is_down_is_unavailable(connect, b):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(ConnectorUnavailable, match="GET api/invoices page 1: cannot connect to "
                                                       rf"127.0.0.1:{port} .* after 3 attempts"):
            connect(url=f"http://127.0.0.1:{port}/", entities=_entities(only=("invoices",))).fetch()


@pytest.mark.parametrize("fault, message", [
    (("html",), "the answer is HTML, not JSON: probably a login page; check auth (basic: user 'робот', "
                "password from ERP_PASSWORD)"),
    (("malformed",), "the answer is not valid JSON (Expecting property name enclosed in double quotes at line 1 "
                     "column 23)"),
    (("status", 404), "HTTP 404 Not Found: no such resource; check the entity's path and base_url"),
    (("status", 403), "HTTP 403 Forbidden: the user may not read this"),
    (("raw", 400, '{"odata.error": {"code": "-1", "message": {"lang": "ru", "value": "Неверный $filter"}}}'),
     "HTTP 400 Bad Request: the server refused the query; check the entity's path, params and paging; the server "
     "said: Неверный $filter"),
    (("raw", 200, '{"value": []}'), "the answer has no records at 'data' (it has: value); check the records path"),
    (("raw", 200, '{"data": {"id": 1}}'), "the records at 'data' are an object, not a list"),
])
def test_unusable_answers_are_problems_of_that_entity(connect, b, fault, message):
    b.faults[("payments", 2)] = [fault]
    fetched = connect().fetch()
    (p,) = fetched.problems
    assert (p.source, p.page) == ("erp: GET api/payments", 2)
    assert message in p.message
    assert fetched.tables["payments"] is None and fetched.tables["invoices"] is not None
    assert len([r for r in b.requests if r["path"] == "/api/payments"]) == 2  # no retries
    _no_secrets(p)


QUERY_ERROR = '{"error": "Query parse error: syntax error."}'


def test_a_permanent_status_is_not_retried_but_a_problem_with_the_servers_message(connect, b):
    b.faults[("invoices", 2)] = [("raw", 500, QUERY_ERROR)]
    sleeps: list[float] = []
    fetched = connect(sleeps, permanent_statuses=[500], entities=_entities(only=("invoices", "payments"))).fetch()
    (p,) = fetched.problems
    assert (p.source, p.page) == ("erp: GET api/invoices", 2)
    assert p.message == ("HTTP 500 Internal Server Error: the server failed on this request; retrying does not help "
                         "(permanent_statuses), so check the entity's path and params; the server said: Query parse "
                         "error: syntax error.")
    assert fetched.tables["invoices"] is None and fetched.tables["payments"] is not None
    assert sleeps == [] and len([r for r in b.requests if r["path"] == "/api/invoices"]) == 2


def test_other_5xx_are_still_retried_with_permanent_statuses(connect, b):
    b.faults[("invoices", 1)] = [("raw", 503, QUERY_ERROR)] * 2
    fetched = connect(permanent_statuses=[500], entities=_entities(only=("invoices",))).fetch()
    assert fetched.problems == [] and len(fetched.tables["invoices"]) == len(LEDGER.invoices)


def test_a_record_that_is_not_an_object_is_located(connect, b):
    b.data["invoices"] = b.data["invoices"][:12]
    b.data["invoices"][11] = "oops"
    fetched = connect(entities=_entities(only=("invoices",))).fetch()
    (p,) = fetched.problems
    assert str(p) == "erp: GET api/invoices page 2 record 2: the record is text, not an object"
    assert len(fetched.tables["invoices"]) == 11


# ------------------------------------------------------------------------------------------------- TLS


def _pki(folder: Path) -> tuple[Path, Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    start, end = dt.datetime(2026, 1, 1), dt.datetime(2036, 1, 1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Тестовый УЦ")).issuer_name(name("Тестовый УЦ"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("erp.test")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_tls_with_a_private_ca_bundle(tmp_path):
    (tmp_path / "certs").mkdir()
    ca, cert, key = _pki(tmp_path / "certs")
    app = _app()
    with serve(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        base = {"url": url, "entities": _entities(only=("counterparties",))}
        good = RestConnector(_config(base["url"], tls={"ca_bundle": "certs/ca.pem"}, entities=base["entities"]),
                             base_dir=tmp_path, state_dir=tmp_path / "st")
        bad = RestConnector(_config(base["url"], entities=base["entities"]), base_dir=tmp_path,
                            state_dir=tmp_path / "st", sleep=lambda s: None)
        try:
            fetched = good.fetch()
            assert fetched.problems == [] and len(fetched.tables["counterparties"]) == len(LEDGER.counterparties)
            app.state.b.requests.clear()
            refused = bad.fetch()
        finally:
            good.close()
            bad.close()
    (p,) = refused.problems
    assert p.message.startswith("TLS certificate verification failed (")
    assert "set tls.ca_bundle" in p.message
    assert app.state.b.requests == []  # the refused handshake was not retried (and reached no handler)


# ------------------------------------------------------------------------------------------------- incremental


def _incremental(full_every: int = 3) -> dict:
    ents = _entities({"kind": "page", "size": 10}, only=("invoices",))
    ents["invoices"]["incremental"] = {"param": "updated_since", "field": "updated_at", "full_every": full_every}
    return ents


def test_incremental_sync_asks_for_changes_and_merges_them_by_id(connect, b, tmp_path):
    rows = b.data["invoices"]
    c = connect(entities=_incremental())
    first = c.fetch()
    assert "updated_since" not in b.requests[0]["query"]
    assert not (tmp_path / "st" / "invoices.json").exists()  # only commit() writes the cache
    c.commit()
    assert json.loads((tmp_path / "st" / "invoices.json").read_text())["watermark"] == len(rows)

    top = len(rows)
    rows[3] = {**rows[3], "amount": Decimal("999.99"), "updated_at": top + 1}
    rows.append({**rows[0], "id": "INV-NEW", "number": "NEW", "updated_at": top + 2})
    b.requests.clear()
    second = c.fetch()
    assert [r["query"].get("updated_since") for r in b.requests] == [str(top)]
    assert second.problems == []
    got = {r.values["id"]: r for r in second.tables["invoices"]}
    assert len(got) == len(first.tables["invoices"]) + 1
    assert got[rows[3]["id"]].values["amount"] == Decimal("999.99")
    assert str(got[rows[3]["id"]].where) == "erp: GET api/invoices page 1 record 1"
    assert got[rows[5]["id"]].where.source == "erp: GET api/invoices (cached)"
    problems: list = []
    assert len(build_ledger({"invoices": second.tables["invoices"]}, problems).invoices) == len(rows)
    assert problems == []


def test_a_sync_that_is_not_committed_does_not_move_the_watermark(connect, b):
    c = connect(entities=_incremental())
    c.fetch()
    c.commit()
    b.data["invoices"].append({**b.data["invoices"][0], "id": "INV-NEW", "updated_at": 10_000})
    c.fetch()  # ... and the sync is rejected: no commit
    b.requests.clear()
    c.fetch()
    assert b.requests[0]["query"]["updated_since"] == str(len(LEDGER.invoices))


def test_every_full_every_th_fetch_is_full_and_drops_deleted_records(connect, b):
    c = connect(entities=_incremental(full_every=3))
    sent = []
    for n in range(5):
        if n == 1:
            del b.data["invoices"][0]  # deleted in the source: only a full fetch notices
        b.requests.clear()
        fetched = c.fetch()
        c.commit()
        sent.append("updated_since" in b.requests[0]["query"])
        ids = {r.values["id"] for r in fetched.tables["invoices"]}
        assert (LEDGER.invoices[0].id in ids) == (n < 3)
    assert sent == [False, True, True, False, True]


def test_the_cache_keeps_amounts_exact(connect, b, tmp_path):
    b.data["invoices"] = b.data["invoices"][:3]
    b.data["invoices"][0]["amount"] = Decimal("0.10")
    c = connect(entities=_incremental())
    c.fetch()
    c.commit()
    again = c.fetch()
    amount = again.tables["invoices"][0].values["amount"]
    assert (type(amount), str(amount)) == (Decimal, "0.10")
    assert again.tables["invoices"][0].where.source.endswith("(cached)")


# ------------------------------------------------------------------------------------------------- write-back

WRITE_BACK = {
    "block_shipments": {"method": "POST", "path": "api/act/counterparties/{counterparty_id}/block",
                        "json": {"reason": "{reason}", "contract_id": "{contract_id}", "by": "arbots"}},
    "unblock_shipments": {"method": "PUT", "path": "api/act/unblock", "params": {"cp": "{counterparty_id}"},
                          "form": {"contract": "{contract_id}", "why": "{reason}"}},
}


def test_write_back_fills_the_placeholders(connect, b):
    c = connect(write_back=WRITE_BACK)
    r = c.block_shipments("ООО/Ромашка 1", None, "долг 120 дней")
    assert (r.ok, r.action, r.connector_id) == (True, "block_shipments", "erp")
    w = b.writes[0]
    assert w["raw_path"] == b"/api/act/counterparties/%D0%9E%D0%9E%D0%9E%2F%D0%A0%D0%BE%D0%BC%D0%B0%D1%88%D0%BA%D0%B0" \
                           b"%201/block"
    assert json.loads(w["body"]) == {"reason": "долг 120 дней", "contract_id": None, "by": "arbots"}
    c.unblock_shipments("CP-1", "K 7", "оплачено")
    w = b.writes[1]
    assert (w["method"], w["query"], w["type"]) == ("PUT", {"cp": "CP-1"}, "application/x-www-form-urlencoded")
    assert w["body"] == "contract=K+7&why=%D0%BE%D0%BF%D0%BB%D0%B0%D1%87%D0%B5%D0%BD%D0%BE"


def test_an_action_that_is_not_configured_is_unsupported(connect, b):
    with pytest.raises(WriteBackUnsupported, match="no write_back.post_note configured"):
        connect(write_back=WRITE_BACK).post_note("CP-1", None, "text")


def test_a_refused_write_back_is_a_business_error_without_secrets(connect, b):
    b.write_status = 409
    with pytest.raises(BusinessError) as e:
        connect(write_back=WRITE_BACK).block_shipments("CP-1", "K-1", "r")
    assert str(e.value).startswith("connector 'erp': POST api/act/counterparties/CP-1/block: HTTP 409 Conflict: "
                                   "refused; header was Basic ***")
    _no_secrets(e.value)


def test_a_write_back_to_a_failing_server_is_retried_then_unavailable(connect, b):
    b.write_status = 502
    with pytest.raises(ConnectorUnavailable, match="POST api/act/counterparties/CP-1/block: HTTP 502 after 3"):
        connect(write_back=WRITE_BACK).block_shipments("CP-1", None, "r")
    assert len(b.writes) == 3


def test_a_permanent_status_on_write_back_is_a_business_error_at_once(connect, b):
    b.write_status = 500
    with pytest.raises(BusinessError, match="HTTP 500 Internal Server Error: refused; header was Basic \\*\\*\\*"):
        connect(permanent_statuses=[500], write_back=WRITE_BACK).block_shipments("CP-1", None, "r")
    assert len(b.writes) == 1


def test_write_back_logs_in_with_the_form_first(connect, b):
    b.auth = "form"
    r = connect(auth=AUTH["form"], write_back=WRITE_BACK).block_shipments("CP-1", None, "r")
    assert r.ok and len(b.writes) == 1


# ------------------------------------------------------------------------------------------------- config


def test_config_errors_name_the_entity_and_field(server):
    ents = _entities(only=("invoices", "payments"))
    del ents["invoices"]["fields"]["amount"]
    ents["payments"]["fields"]["colour"] = "c"
    with pytest.raises(ValidationError) as e:
        _config(server[1], entities=ents)
    text = str(e.value)
    assert "entities.invoices.fields: missing amount" in text
    assert "entities.payments: 'colour' is not a field of payments" in text


@pytest.mark.parametrize("over, message", [
    ({"headers": {"Authorization": "Bearer x"}}, "header Authorization carries a secret"),
    ({"base_url": "ftp://x/"}, "is not an http(s) URL"),
    ({"auth": {"basic": {"username": "u", "password_env": "A", "password_file": "f"}}}, "give exactly one of"),
    ({"auth": {}}, "give exactly one of basic, bearer, api_key, form_login"),
    ({"write_back": {"post_note": {"path": "n/{who}"}}}, "unknown placeholder {who}"),
    ({"tls": {"verify": False, "ca_bundle": "ca.pem"}}, "ca_bundle is given but verify is false"),
    ({"entities": {"debts": {"path": "x", "fields": {}}}}, "entities.debts: unknown entity"),
    ({"entites": {}}, "Extra inputs are not permitted"),
    ({"permanent_statuses": [200]}, "200 is not an HTTP error status (400 to 599)"),
    ({"entities": {"invoices": []}}, "at least 1 item"),
    ({"entities": {"invoices": [_entities()["invoices"], {"path": "x", "fields": {"id": "id"}}]}},
     "entities.invoices[2].fields: missing number, contract_id, date, amount"),
])
def test_bad_configs_are_refused(server, over, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        _config(server[1], **over)


def test_a_preset_is_merged_under_the_users_keys(tmp_path, monkeypatch):
    (tmp_path / "tiny.yaml").write_text("""
base_url: http://preset.example/odata/
headers: {Accept: application/json, X-Preset: "1"}
retries: {attempts: 9}
entities:
  counterparties:
    path: Catalog_Контрагенты
    records: value
    fields: {id: Ref_Key, name: Description}
  contracts:
    path: Catalog_Договоры
    fields: {id: Ref_Key, number: Номер, counterparty_id: Owner_Key}
""", encoding="utf-8")
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    c = RestConnectorConfig.model_validate({
        "id": "onec", "kind": "rest", "preset": "tiny", "base_url": "http://1c.local/base/odata/",
        "headers": {"X-Mine": "2"}, "entities": {"counterparties": {"fields": {"group": {"const": "key"}}},
                                                 "contracts": None}})
    assert c.base_url == "http://1c.local/base/odata/"
    assert c.headers == {"Accept": "application/json", "X-Preset": "1", "X-Mine": "2"}
    assert c.retries.attempts == 9 and c.preset == "tiny"
    assert list(c.entities) == ["counterparties"]
    assert c.entities["counterparties"].path == "Catalog_Контрагенты"
    assert set(c.entities["counterparties"].fields) == {"id", "name", "group"}


TWO_SOURCES = """
base_url: http://preset.example/odata/
entities:
  invoices:
    - path: sales
      paging: {kind: offset, size: 500}
      fields: {id: Ref_Key, number: Number, contract_id: K, date: Date, amount: Sum}
    - path: notes
      paging: {kind: offset, size: 500}
      fields: {id: Ref_Key, number: Number, contract_id: K, date: Date, amount: Sum}
"""


@pytest.mark.parametrize("invoices, paths, sizes, amounts", [
    ({"paging": {"size": 50}}, ["sales", "notes"], [50, 50], ["Sum", "Sum"]),  # a mapping: into every source
    ([{}, {"fields": {"amount": {"path": "Sum", "negate": True}}}], ["sales", "notes"], [500, 500], ["Sum", "-Sum"]),
    ([{}, None], ["sales"], [500], ["Sum"]),  # null drops a source
    ([None], ["notes"], [500], ["Sum"]),  # sources the list does not reach are kept
    ([{}, {}, {"path": "more", "fields": {"id": "i", "number": "n", "contract_id": "k", "date": "d", "amount": "a"}}],
     ["sales", "notes", "more"], [500, 500, None], ["Sum", "Sum", "a"]),  # and new ones are added
])
def test_a_preset_with_several_sources_per_entity_merges_source_by_source(tmp_path, monkeypatch, invoices, paths,
                                                                          sizes, amounts):
    (tmp_path / "two.yaml").write_text(TWO_SOURCES, encoding="utf-8")
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    c = RestConnectorConfig.model_validate({"id": "x", "kind": "rest", "preset": "two",
                                            "entities": {"invoices": invoices}})
    sources = c.entities["invoices"]
    assert [e.path for e in sources] == paths
    assert [getattr(e.paging, "size", None) for e in sources] == sizes
    assert [("-" if getattr(e.fields["amount"], "negate", False) else "") + getattr(e.fields["amount"], "path",
            e.fields["amount"]) for e in sources] == amounts


def test_an_unknown_preset_lists_the_available_ones(tmp_path, monkeypatch):
    (tmp_path / "tiny.yaml").write_text("base_url: http://x/\n", encoding="utf-8")
    monkeypatch.setattr(presets, "PRESETS_DIR", tmp_path)
    with pytest.raises(ValidationError, match=r"unknown preset 'huge'; available presets: tiny"):
        RestConnectorConfig.model_validate({"id": "x", "kind": "rest", "preset": "huge", "entities": {}})


def test_a_missing_secret_names_the_variable_not_a_value(server, tmp_path, monkeypatch):
    from robots.core.errors import UsageError

    monkeypatch.delenv("ERP_PASSWORD")
    with pytest.raises(UsageError, match="environment variable ERP_PASSWORD is not set"):
        RestConnector(_config(server[1]), base_dir=tmp_path, state_dir=tmp_path)


# ------------------------------------------------------------------------------------------------- demo.erp

DEMO_YAML = """
id: erp
kind: rest
base_url: {url}api/v1/
auth:
  basic: {{username: робот, password_env: ERP_PASSWORD}}
timeout: {{connect: 5, read: 30}}
retries: {{attempts: 3, backoff: 0.01, max_backoff: 0.1}}
entities:
  counterparties:
    path: counterparties
    records: data
    paging: {{kind: page, page_param: page, size_param: per_page, size: 40}}
    fields: {{id: id, name: name, inn: inn, email: email, group: group}}
  contracts:
    path: contracts
    records: data
    paging: {{kind: cursor, cursor_param: cursor, next: meta.next_cursor, size_param: limit, size: 30}}
    fields: {{id: id, number: number, counterparty_id: counterparty_id, payment_days: payment_days,
             currency: currency, penalty_rate_per_day: penalty_rate_per_day}}
  invoices:
    path: invoices
    records: data
    paging: {{kind: next_link, next: links.next}}
    fields: {{id: id, number: number, contract_id: contract_id, date: date, due_date: due_date, amount: amount}}
  payments:
    path: payments
    records: data
    paging: {{kind: page, size: 25}}
    fields: {{id: id, contract_id: contract_id, invoice_id: invoice_id, date: date, amount: amount}}
write_back:
  block_shipments:
    method: POST
    path: "counterparties/{{counterparty_id}}/block"
    json: {{reason: "{{reason}}", contract_id: "{{contract_id}}"}}
  post_note:
    method: POST
    path: "counterparties/{{counterparty_id}}/notes"
    json: {{text: "{{text}}", contract_id: "{{contract_id}}"}}
"""


def test_end_to_end_against_the_demo_accounting_system(tmp_path):
    from ruamel.yaml import YAML

    from demo.erp.app import create_app

    app = create_app(LEDGER, username=USER, password=PASSWORD)
    with serve(app) as url:
        config = RestConnectorConfig.model_validate(YAML(typ="safe").load(DEMO_YAML.format(url=url)))
        with RestConnector(config, base_dir=tmp_path, state_dir=tmp_path / "st") as c:
            fetched = c.fetch()
            problems = list(fetched.problems)
            assert build_ledger(fetched.tables, problems) == LEDGER
            assert problems == []
            cp = LEDGER.counterparties[0].id
            assert c.block_shipments(cp, None, "просрочка 30 дней").ok
            assert c.post_note(cp, LEDGER.contracts[0].id, "звонок").ok
        assert app.state.erp.is_blocked(cp)
        with pytest.raises(BusinessError, match="HTTP 404"):
            RestConnector(config, base_dir=tmp_path, state_dir=tmp_path).block_shipments("NO-SUCH", None, "x")
