"""The demo accounting system: a ledger behind a login (HTML pages) and a JSON API, with write-back and faults.

``create_app(ledger, username=..., password=...)`` builds the FastAPI app; ``app.state.erp`` (an
:class:`ErpState`) holds the ledger, the shipment blocks, the notes and the injected faults. Routes are documented
in ``docs/demo-erp.md``. List pages slice rows precomputed by :meth:`ErpState.set_ledger`, so a page costs the
same on a 100,000-invoice ledger as on a small one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hmac
import json
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from demo.erp.faults import DROP, Fault, FaultKind, Faults, Surface
from robots.documents.formatting import NBSP, format_date, format_number, format_percent
from robots.core.discounts import format_discounts
from robots.core.domain import Ledger

ENTITIES = ("counterparties", "contracts", "invoices", "payments")
API = "/api/v1"
#: Entities whose list the JSON API filters by ?contract_id=.
_BY_CONTRACT = ("invoices", "payments")
#: Default and largest page size of the JSON API.
API_PAGE_SIZE, API_MAX_PAGE_SIZE = 100, 10_000
_CENT = Decimal("0.01")


class Kind(enum.Enum):
    TEXT = "text"
    INT = "int"
    MONEY = "money"
    DATE = "date"
    PERCENT = "percent"  # a fraction per day in the ledger, shown and served as percent per day
    DISCOUNTS = "discounts"  # early-payment tiers, shown and served as text: 3%/7; 2%/14


_T, _I, _M, _D, _P = Kind.TEXT, Kind.INT, Kind.MONEY, Kind.DATE, Kind.PERCENT
#: The ledger fields of each entity (the names of connectors.base.FIELDS) in display order, with their kind.
SCHEMA: dict[str, tuple[tuple[str, Kind], ...]] = {
    "counterparties": (("id", _T), ("name", _T), ("inn", _T), ("email", _T), ("group", _T)),
    "contracts": (("id", _T), ("number", _T), ("counterparty_id", _T), ("payment_days", _I), ("currency", _T),
                  ("penalty_rate_per_day", _P), ("discounts", Kind.DISCOUNTS)),
    "invoices": (("id", _T), ("number", _T), ("contract_id", _T), ("date", _D), ("due_date", _D), ("amount", _M)),
    "payments": (("id", _T), ("contract_id", _T), ("invoice_id", _T), ("date", _D), ("amount", _M)),
}
#: Columns of the HTML list pages (the counterparty list hides inn and e-mail: they are on the detail page).
LIST_FIELDS = {e: tuple(f for f, _ in fs if (e != "counterparties" or f in ("id", "name", "group"))
                        and f != "discounts") for e, fs in SCHEMA.items()}
TITLES = {"counterparties": "Контрагенты", "contracts": "Договоры", "invoices": "Счета", "payments": "Платежи"}
LABELS = {"id": "Код", "name": "Наименование", "inn": "ИНН", "email": "Эл. почта", "group": "Группа",
          "number": "Номер", "counterparty_id": "Контрагент", "payment_days": "Отсрочка, дн.",
          "currency": "Валюта", "penalty_rate_per_day": "Пени, % в день", "discounts": "Скидки за досрочную оплату", "contract_id": "Договор", "date": "Дата",
          "due_date": "Срок оплаты", "amount": "Сумма", "invoice_id": "Счёт"}
#: Fields that name another record, shown as a link to it.
_LINKS = {"counterparty_id": "counterparties", "contract_id": "contracts", "invoice_id": "invoices"}
_SIGNS = {"RUB": "₽", "RUR": "₽"}

_json_str = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C string encoder, non-ASCII kept


def _money(v: Decimal) -> str:
    return format(v.quantize(_CENT, rounding=ROUND_HALF_UP), "f")


def _percent(rate: Decimal) -> str:
    return format((rate * 100).normalize(), "f")


def _json_date(d: date) -> str:
    return f'"{d.isoformat()}"'


#: How each kind of field becomes JSON text: amounts are numbers with two decimals, never a float on the way.
_TO_JSON = {Kind.TEXT: _json_str, Kind.INT: lambda v: str(int(v)), Kind.MONEY: _money, Kind.DATE: _json_date,
            Kind.PERCENT: _percent, Kind.DISCOUNTS: lambda v: _json_str(format_discounts(v) or "")}
#: Per entity: ('"field":', field, converter), so that serializing 100,000 records is one tight loop each.
_PLANS = {e: tuple((f'"{name}":', name, _TO_JSON[kind]) for name, kind in fields) for e, fields in SCHEMA.items()}


def _json_any(v: Any) -> str:
    """A corrupted value as JSON text: Decimals stay exact numbers, dates become ISO strings."""
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, date):
        return f'"{v.isoformat()}"'
    return json.dumps(v, ensure_ascii=False)


def _record_json(entity: str, record: Any, version: int, override: dict[str, Any] | None = None) -> str:
    """One record as a JSON object with ``updated_at``; ``override`` replaces (or, with DROP, removes) fields."""
    if not override:
        return "{" + ",".join([key + ("null" if (v := getattr(record, name)) is None else to_json(v))
                               for key, name, to_json in _PLANS[entity]]) + f',"updated_at":{version}}}'
    parts = []
    for key, name, to_json in _PLANS[entity]:
        if name not in override:
            v = getattr(record, name)
            parts.append(key + ("null" if v is None else to_json(v)))
        elif override[name] is not DROP:
            parts.append(key + _json_any(override[name]))
    return "{" + ",".join(parts) + f',"updated_at":{version}}}'


@dataclass
class Table:
    """One entity of the current ledger, ready to serve: records in ledger order and their JSON rows."""

    entity: str
    records: tuple[Any, ...]
    index: dict[str, int]
    versions: tuple[int, ...]
    rows: tuple[str, ...]
    _since: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = field(default_factory=dict)

    def view(self, since: int | None) -> tuple[Sequence[str], Sequence[int]]:
        """(JSON rows, their positions) of the records with ``updated_at > since`` (all when None); cached."""
        if since is None:
            return self.rows, range(len(self.rows))
        hit = self._since.get(since)
        if hit is None:
            pos = tuple(i for i, v in enumerate(self.versions) if v > since)
            hit = self._since[since] = (tuple(self.rows[i] for i in pos), pos)
        return hit

    def get(self, record_id: str) -> Any | None:
        i = self.index.get(record_id)
        return None if i is None else self.records[i]


@dataclass(frozen=True)
class Note:
    id: int
    counterparty_id: str
    contract_id: str | None
    text: str


@dataclass(frozen=True)
class _Snapshot:
    ledger: Ledger
    tables: dict[str, Table]
    currency: dict[str, str]  # contract id -> currency
    contracts_of: dict[str, tuple[Any, ...]]  # counterparty id -> its contracts


class ErpState:
    """The accounting system's data: the ledger (replaceable while serving), shipment blocks, notes, faults.

    ``blocks`` maps (counterparty id, contract id or None for the whole counterparty) to the reason; ``notes`` is
    the list of :class:`Note` in the order they were posted; ``faults`` is a :class:`~demo.erp.faults.Faults`.
    Blocks and notes survive :meth:`set_ledger`.
    """

    def __init__(self, ledger: Ledger, *, page_size: int = 50):
        self.page_size = page_size
        self.faults = Faults()
        self.blocks: dict[tuple[str, str | None], str] = {}
        self.notes: list[Note] = []
        #: The version given to records that changed in the latest set_ledger (1 after the first).
        self.version = 0
        self._lock = threading.Lock()
        self._snap = _Snapshot(Ledger(), {}, {}, {})
        self.set_ledger(ledger)

    @property
    def ledger(self) -> Ledger:
        return self._snap.ledger

    def table(self, entity: str) -> Table:
        return self._snap.tables[entity]

    def set_ledger(self, ledger: Ledger) -> None:
        """Serve ``ledger`` from now on. New and changed records get a new ``updated_at``; deleted ones vanish."""
        with self._lock:
            old = self._snap.tables
            version = self.version + 1
            tables = {}
            for entity in ENTITIES:
                records, index, versions, rows = [], {}, [], []
                before = old.get(entity)
                for r in getattr(ledger, entity):
                    if r.id in index:  # a duplicate id: the first one wins, as a lookup by id would find
                        continue
                    index[r.id] = len(records)
                    records.append(r)
                    i = before.index.get(r.id) if before else None
                    if i is not None and before.records[i] == r:  # unchanged: same version, same JSON
                        versions.append(before.versions[i])
                        rows.append(before.rows[i])
                    else:
                        versions.append(version)
                        rows.append(_record_json(entity, r, version))
                tables[entity] = Table(entity, tuple(records), index, tuple(versions), tuple(rows))
            contracts_of: dict[str, list[Any]] = {}
            for c in tables["contracts"].records:
                contracts_of.setdefault(c.counterparty_id, []).append(c)
            self._snap = _Snapshot(ledger, tables, {c.id: c.currency for c in tables["contracts"].records},
                                   {k: tuple(v) for k, v in contracts_of.items()})
            self.version = version

    def _check(self, counterparty_id: str, contract_id: str | None) -> None:
        snap = self._snap
        if counterparty_id not in snap.tables["counterparties"].index:
            raise LookupError(f"counterparty {counterparty_id} not found")
        if contract_id is not None and contract_id not in {c.id for c in snap.contracts_of.get(counterparty_id, ())}:
            raise LookupError(f"contract {contract_id} of counterparty {counterparty_id} not found")

    def block(self, counterparty_id: str, contract_id: str | None, reason: str) -> bool:
        """Block shipments; True when they were not blocked yet (blocking twice only updates the reason)."""
        self._check(counterparty_id, contract_id)
        key = (counterparty_id, contract_id)
        with self._lock:
            new = key not in self.blocks
            self.blocks[key] = reason
        return new

    def unblock(self, counterparty_id: str, contract_id: str | None) -> bool:
        """Allow shipments again; True when they were blocked."""
        self._check(counterparty_id, contract_id)
        with self._lock:
            return self.blocks.pop((counterparty_id, contract_id), None) is not None

    def add_note(self, counterparty_id: str, contract_id: str | None, text: str) -> Note:
        self._check(counterparty_id, contract_id)
        if not text.strip():
            raise ValueError("a note must not be empty")
        with self._lock:
            note = Note(len(self.notes) + 1, counterparty_id, contract_id, text)
            self.notes.append(note)
        return note

    def is_blocked(self, counterparty_id: str, contract_id: str | None = None) -> bool:
        return (counterparty_id, contract_id) in self.blocks


class _Auth:
    """The one user's credentials and the API secrets; compared in constant time, never shown."""

    def __init__(self, username: str, password: str, token: str | None, api_key: str | None):
        self.username = username
        self._password = password.encode()
        self._token = token.encode() if token else None
        self._api_key = api_key.encode() if api_key else None

    def __repr__(self) -> str:
        return f"_Auth(username={self.username!r}, password=***)"

    def check(self, username: str, password: str) -> bool:
        ok_user = hmac.compare_digest(username.encode(), self.username.encode())
        ok_password = hmac.compare_digest(password.encode(), self._password)
        return ok_user & ok_password

    def api_ok(self, request: Request) -> bool:
        if self.session_user(request):
            return True
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "basic" and value:
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return bool(sep) and self.check(user, password)
        if scheme.lower() == "bearer" and value and self._token is not None:
            return hmac.compare_digest(value.encode(), self._token)
        key = request.headers.get("x-api-key")
        if key and self._api_key is not None:
            return hmac.compare_digest(key.encode(), self._api_key)
        return False

    def session_user(self, request: Request) -> str | None:
        user = request.session.get("user")
        return user if isinstance(user, str) and hmac.compare_digest(user.encode(), self.username.encode()) else None


_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _erp(request: Request) -> ErpState:
    return request.app.state.erp


def _auth(request: Request) -> _Auth:
    return request.app.state.auth


def _render(request: Request, name: str, status: int = 200, headers: dict[str, str] | None = None,
            **context: Any) -> HTMLResponse:
    context.setdefault("user", _auth(request).session_user(request))
    context.setdefault("entities", [(e, TITLES[e]) for e in ENTITIES])
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=status, headers=headers)


def _href(entity: str, record_id: str) -> str:
    return f"/{entity}/{quote(record_id, safe='')}"


def _cell(snap: _Snapshot, entity: str, record: Any, name: str, kind: Kind, override: dict[str, Any] | None) -> dict:
    """A table cell or a detail value: what it shows, its data-value, and a link when it names a record."""
    if override and name in override:
        v = "" if override[name] is None else str(override[name])
        return {"field": name, "text": v, "value": v, "href": None}
    v = getattr(record, name)
    text, value, href = ("" if v is None else str(v)), None, None
    if kind is Kind.MONEY:
        cur = snap.currency.get(record.contract_id, "RUB")
        text, value = f"{format_number(v)}{NBSP}{_SIGNS.get(cur, cur)}", _money(v)
    elif kind is Kind.DATE:
        text, value = format_date(v), v.isoformat()
    elif kind is Kind.PERCENT:
        text, value = ("", "") if v is None else (format_percent(v), _percent(v))
    elif kind is Kind.DISCOUNTS:
        text = value = format_discounts(v) or ""
    if name == "id":
        href = _href(entity, v)
    elif name in _LINKS and v is not None and snap.tables[_LINKS[name]].get(v) is not None:
        href = _href(_LINKS[name], v)
    return {"field": name, "text": text, "value": value, "href": href}


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def _safe_next(value: Any) -> str:
    """Only a local path may follow the login (no open redirect to another site)."""
    return value if isinstance(value, str) and value.startswith("/") and not value.startswith("//") else "/"


def _int_param(request: Request, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d{1,12}", raw):
        raise ValueError(f"{name} must be an integer, not {raw!r}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be between {low} and {high}" if high else f"{name} must be at least {low}")
    return value


async def _apply_fault(erp: ErpState, surface: Surface, target: str, page: int | None) -> Fault | None:
    wait, fault = erp.faults.take(surface, target, page)
    if wait > 0:
        await asyncio.sleep(wait)
    return fault


def _fault_response(request: Request, fault: Fault, surface: Surface) -> Response:
    headers = {"Retry-After": str(fault.retry_after)} if fault.kind is FaultKind.RATE_LIMIT else None
    if fault.kind is FaultKind.HTML:
        return _render(request, "login.html", user=None, error=None, username="", next="/")
    if fault.kind is FaultKind.MALFORMED:
        return Response('{"data": [{"id": "', media_type="application/json")
    if surface is Surface.UI:
        return _render(request, "error.html", status=fault.status, headers=headers, title="Ошибка сервера",
                       message=f"Сервис временно недоступен (HTTP {fault.status}).")
    return JSONResponse({"error": f"injected fault: HTTP {fault.status}"}, status_code=fault.status, headers=headers)


# ---- HTML pages ----------------------------------------------------------------------------------------------

async def login_form(request: Request) -> Response:
    return _render(request, "login.html", user=None, error=None, username="",
                   next=_safe_next(request.query_params.get("next")))


async def login_submit(request: Request) -> Response:
    form = await request.form()
    username, password = form.get("username"), form.get("password")
    target = _safe_next(form.get("next"))
    if isinstance(username, str) and isinstance(password, str) and _auth(request).check(username, password):
        request.session.clear()
        request.session["user"] = _auth(request).username
        return RedirectResponse(target, status_code=303)
    # The password is never echoed back; the user name is, so that only the password needs retyping.
    return _render(request, "login.html", status=401, user=None, error="Неверное имя пользователя или пароль",
                   username=username if isinstance(username, str) else "", next=target)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    if not _auth(request).session_user(request):
        return _login_redirect(request)
    counts = _erp(request).ledger.counts()
    return _render(request, "index.html", title="Демо-ERP", counts=[(e, TITLES[e], counts[e]) for e in ENTITIES])


def _not_found(request: Request, message: str) -> HTMLResponse:
    return _render(request, "error.html", status=404, title="Не найдено", message=message)


async def entity_list(request: Request, entity: str) -> Response:
    if not _auth(request).session_user(request):
        return _login_redirect(request)
    erp = _erp(request)
    try:
        page = _int_param(request, "page", 1, 1) or 1
    except ValueError:
        return _not_found(request, "Такой страницы нет.")
    fault = await _apply_fault(erp, Surface.UI, entity, page)
    if fault is not None:
        return _fault_response(request, fault, Surface.UI)
    snap = erp._snap
    table = snap.tables[entity]
    size = erp.page_size
    pages = max(1, -(-len(table.records) // size))
    corrupt = erp.faults.corruptions(entity)
    kinds = dict(SCHEMA[entity])
    rows = [[_cell(snap, entity, r, f, kinds[f], corrupt.get(r.id)) for f in LIST_FIELDS[entity]
             if corrupt.get(r.id, {}).get(f) is not DROP] for r in table.records[(page - 1) * size: page * size]]
    return _render(request, "list.html", title=TITLES[entity], entity=entity, page=page, pages=pages,
                   total=len(table.records), headers_=[(f, LABELS[f]) for f in LIST_FIELDS[entity]], rows=rows,
                   prev=f"/{entity}?page={page - 1}" if page > 1 else None,
                   next=f"/{entity}?page={page + 1}" if page < pages else None)


async def entity_detail(request: Request, entity: str) -> Response:
    if not _auth(request).session_user(request):
        return _login_redirect(request)
    erp = _erp(request)
    snap = erp._snap
    record_id = request.path_params["record_id"]
    record = snap.tables[entity].get(record_id)
    if record is None:
        return _not_found(request, f"{TITLES[entity]}: запись {record_id} не найдена.")
    override = erp.faults.corruptions(entity).get(record_id)
    fields = [(LABELS[f], _cell(snap, entity, record, f, k, override)) for f, k in SCHEMA[entity]
              if (override or {}).get(f) is not DROP]
    context: dict[str, Any] = {"title": f"{TITLES[entity]}: {record_id}", "entity": entity, "fields": fields,
                               "flash": request.session.pop("flash", None)}
    if entity != "counterparties":
        return _render(request, "detail.html", **context)
    contracts = [{"id": c.id, "number": c.number, "href": _href("contracts", c.id),
                  "blocked": erp.is_blocked(record_id, c.id), "reason": erp.blocks.get((record_id, c.id))}
                 for c in snap.contracts_of.get(record_id, ())]
    return _render(request, "counterparty.html", **context, record_id=record_id, href=_href(entity, record_id),
                   blocked=erp.is_blocked(record_id), reason=erp.blocks.get((record_id, None)), contracts=contracts,
                   notes=[n for n in erp.notes if n.counterparty_id == record_id])


def _contract_field(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


async def shipments_submit(request: Request) -> Response:
    if not _auth(request).session_user(request):
        return _login_redirect(request)
    erp = _erp(request)
    record_id = request.path_params["record_id"]
    form = await request.form()
    action = form.get("action")
    if action not in ("block", "unblock"):
        action = "unblock" if "unblock" in form else "block"
    fault = await _apply_fault(erp, Surface.UI, action, None)
    if fault is not None:
        return _fault_response(request, fault, Surface.UI)
    contract_id = _contract_field(form.get("contract_id"))
    reason = form.get("reason")
    try:
        if action == "block":
            erp.block(record_id, contract_id, reason.strip() if isinstance(reason, str) else "")
            text = "Отгрузки заблокированы"
        else:
            erp.unblock(record_id, contract_id)
            text = "Отгрузки разрешены"
    except LookupError as e:
        if record_id not in erp.table("counterparties").index:
            return _not_found(request, f"Контрагенты: запись {record_id} не найдена.")
        request.session["flash"] = {"kind": "error", "text": f"Ошибка: {e}"}
    else:
        where = f" по договору {contract_id}" if contract_id else ""
        request.session["flash"] = {"kind": "ok", "text": f"{text}{where}."}
    return RedirectResponse(_href("counterparties", record_id), status_code=303)


async def note_submit(request: Request) -> Response:
    if not _auth(request).session_user(request):
        return _login_redirect(request)
    erp = _erp(request)
    record_id = request.path_params["record_id"]
    form = await request.form()
    fault = await _apply_fault(erp, Surface.UI, "notes", None)
    if fault is not None:
        return _fault_response(request, fault, Surface.UI)
    text = form.get("note")
    try:
        erp.add_note(record_id, _contract_field(form.get("contract_id")), text if isinstance(text, str) else "")
    except LookupError as e:
        if record_id not in erp.table("counterparties").index:
            return _not_found(request, f"Контрагенты: запись {record_id} не найдена.")
        request.session["flash"] = {"kind": "error", "text": f"Ошибка: {e}"}
    except ValueError:
        request.session["flash"] = {"kind": "error", "text": "Заметка пустая: напишите текст."}
    else:
        request.session["flash"] = {"kind": "ok", "text": "Заметка добавлена."}
    return RedirectResponse(_href("counterparties", record_id), status_code=303)


# ---- JSON API ------------------------------------------------------------------------------------------------

def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _unauthorized(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return _login_redirect(request)
    given = any(request.headers.get(h) for h in ("authorization", "x-api-key"))
    return _error(401, "invalid credentials" if given else
                  "authentication required: HTTP Basic, a bearer token, an X-API-Key or a session cookie",
                  headers={"WWW-Authenticate": 'Basic realm="demo-erp", charset="UTF-8"'})


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not re.fullmatch(r"o\d{1,12}", raw):
        raise ValueError(f"cursor {cursor!r} is not one this API gave out")
    return int(raw[1:])


def _paging(request: Request) -> tuple[str, int, int]:
    """(style, first position, page size) from the query: page/per_page, cursor/limit or offset/limit."""
    q = request.query_params
    if "cursor" in q or ("limit" in q and "offset" not in q and "page" not in q):
        size = _int_param(request, "limit", API_PAGE_SIZE, 1, API_MAX_PAGE_SIZE) or API_PAGE_SIZE
        cursor = q.get("cursor") or ""
        return "cursor", _decode_cursor(cursor) if cursor else 0, size
    if "offset" in q:
        size = _int_param(request, "limit", API_PAGE_SIZE, 1, API_MAX_PAGE_SIZE) or API_PAGE_SIZE
        return "offset", _int_param(request, "offset", 0, 0) or 0, size
    size = _int_param(request, "per_page", API_PAGE_SIZE, 1, API_MAX_PAGE_SIZE) or API_PAGE_SIZE
    page = _int_param(request, "page", 1, 1) or 1
    return "page", (page - 1) * size, size


def _api_refusal(request: Request, entity: str) -> Response | None:
    """404 for an unknown entity, 401 without credentials; None when the request may go on."""
    if entity not in ENTITIES:
        return _error(404, f"unknown entity {entity!r}; known: {', '.join(ENTITIES)}")
    if not _auth(request).api_ok(request):
        return _unauthorized(request)
    return None


async def api_list(request: Request) -> Response:
    entity = request.path_params["entity"]
    if (refused := _api_refusal(request, entity)) is not None:
        return refused
    erp = _erp(request)
    try:
        style, start, size = _paging(request)
        since = _int_param(request, "updated_since", None, 0)
    except ValueError as e:
        return _error(400, str(e))
    fault = await _apply_fault(erp, Surface.API, entity, start // size + 1)
    if fault is not None:
        return _fault_response(request, fault, Surface.API)
    table = erp.table(entity)
    rows, positions = table.view(since)
    contract = request.query_params.get("contract_id")
    if contract is not None:  # one contract's records (the robots' pre-send reconciliation asks for payments)
        if entity not in _BY_CONTRACT:
            return _error(400, f"contract_id filters {' and '.join(_BY_CONTRACT)} only, not {entity}")
        positions = [i for i in positions if table.records[i].contract_id == contract]
        rows = [table.rows[i] for i in positions]
    extra_filter = {} if contract is None else {"contract_id": contract}
    total, end = len(rows), min(start + size, len(rows))
    chunk = list(rows[start:end])
    corrupt = erp.faults.corruptions(entity)
    if corrupt:
        for k, i in enumerate(positions[start:end]):
            override = corrupt.get(table.records[i].id)
            if override:
                chunk[k] = _record_json(entity, table.records[i], table.versions[i], override)
    extra = {**extra_filter, **({} if since is None else {"updated_since": since})}
    more = end < total
    if style == "page":
        page = start // size + 1
        meta: dict[str, Any] = {"page": page, "per_page": size, "total": total}
        nxt = {"page": page + 1, "per_page": size} if more else None
    elif style == "offset":
        meta = {"offset": start, "limit": size, "total": total}
        nxt = {"offset": end, "limit": size} if more else None
    else:
        meta = {"limit": size, "total": total, "next_cursor": _encode_cursor(end) if more else None}
        nxt = {"cursor": meta["next_cursor"], "limit": size} if more else None
    links = {"next": f"{API}/{entity}?{urlencode({**nxt, **extra})}" if nxt else None}
    body = '{"data":[' + ",".join(chunk) + '],"meta":' + json.dumps(meta) + ',"links":' + json.dumps(links) + "}"
    return Response(body, media_type="application/json")


async def api_record(request: Request) -> Response:
    entity = request.path_params["entity"]
    if (refused := _api_refusal(request, entity)) is not None:
        return refused
    erp = _erp(request)
    table = erp.table(entity)
    i = table.index.get(request.path_params["record_id"])
    if i is None:
        return _error(404, f"{entity}: {request.path_params['record_id']} not found")
    override = erp.faults.corruptions(entity).get(table.records[i].id)
    row = _record_json(entity, table.records[i], table.versions[i], override) if override else table.rows[i]
    return Response('{"data":' + row + "}", media_type="application/json")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"the body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _opt_str(body: dict[str, Any], name: str) -> str | None:
    v = body.get(name)
    if v is not None and not isinstance(v, str):
        raise ValueError(f"{name} must be a string or null")
    return v


async def api_write(request: Request, action: str) -> Response:
    if not _auth(request).api_ok(request):
        return _unauthorized(request)
    erp = _erp(request)
    fault = await _apply_fault(erp, Surface.API, action, None)
    if fault is not None:
        return _fault_response(request, fault, Surface.API)
    record_id = request.path_params["record_id"]
    try:
        body = await _json_body(request)
        contract_id = _opt_str(body, "contract_id") or None
        if action == "notes":
            note = erp.add_note(record_id, contract_id, _opt_str(body, "text") or "")
            return JSONResponse({"ok": True, "note": _note_json(note)}, status_code=201)
        if action == "block":
            changed = erp.block(record_id, contract_id, _opt_str(body, "reason") or "")
        else:
            changed = erp.unblock(record_id, contract_id)
    except LookupError as e:
        return _error(404, str(e.args[0]))
    except ValueError as e:
        return _error(400, str(e))
    return JSONResponse({"ok": True, "counterparty_id": record_id, "contract_id": contract_id,
                         "blocked": action == "block", "changed": changed})


def _note_json(n: Note) -> dict[str, Any]:
    return {"id": n.id, "counterparty_id": n.counterparty_id, "contract_id": n.contract_id, "text": n.text}


async def api_blocks(request: Request) -> Response:
    if not _auth(request).api_ok(request):
        return _unauthorized(request)
    blocks = list(_erp(request).blocks.items())
    return JSONResponse({"data": [{"counterparty_id": cp, "contract_id": ct, "reason": reason}
                                  for (cp, ct), reason in blocks]})


async def api_notes(request: Request) -> Response:
    if not _auth(request).api_ok(request):
        return _unauthorized(request)
    return JSONResponse({"data": [_note_json(n) for n in list(_erp(request).notes)]})


def create_app(ledger: Ledger, *, username: str, password: str, token: str | None = None,
               api_key: str | None = None, page_size: int = 50, secret_key: str | None = None) -> FastAPI:
    """The demo accounting system serving ``ledger`` to one user; ``token``/``api_key`` enable those API auths.

    ``secret_key`` signs the session cookie (a random one when None: sessions then end with the process).
    """
    if not username or not password:
        raise ValueError("the demo accounting system needs a user name and a password")
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    app = FastAPI(title="Демо-ERP", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.erp = ErpState(ledger, page_size=page_size)
    app.state.auth = _Auth(username, password, token, api_key)
    app.add_middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32),
                       session_cookie="erp_session", same_site="lax")
    add = app.router.add_route
    add("/login", login_form, methods=["GET"])
    add("/login", login_submit, methods=["POST"])
    add("/logout", logout, methods=["GET", "POST"])
    add("/", home, methods=["GET"])
    for entity in ENTITIES:
        add(f"/{entity}", partial(entity_list, entity=entity), methods=["GET"], name=entity)
    add("/counterparties/{record_id:path}/shipments", shipments_submit, methods=["POST"])
    add("/counterparties/{record_id:path}/notes", note_submit, methods=["POST"])
    for entity in ENTITIES:
        add(f"/{entity}/{{record_id:path}}", partial(entity_detail, entity=entity), methods=["GET"],
            name=f"{entity}-detail")
    add(f"{API}/blocks", api_blocks, methods=["GET"])
    add(f"{API}/notes", api_notes, methods=["GET"])
    for action in ("block", "unblock", "notes"):
        add(f"{API}/counterparties/{{record_id:path}}/{action}", partial(api_write, action=action), methods=["POST"],
            name=f"api-{action}")
    add(f"{API}/{{entity}}", api_list, methods=["GET"])
    add(f"{API}/{{entity}}/{{record_id:path}}", api_record, methods=["GET"])
    return app
