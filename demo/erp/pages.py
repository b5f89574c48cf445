"""The HTML pages of the demo accounting system: the login, the home page, list and detail pages, write-back forms.

Every page but the login wants a session, else it redirects to the login form. List pages slice the rows
precomputed by :meth:`~demo.erp.state.ErpState.set_ledger`; cells carry what they show and a ``data-value``
(what the JSON API serves), and link to the records they name. The counterparty page also blocks and allows
shipments and takes notes (POST forms answering 303 with a flash message).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from demo.erp.auth import auth_of, login_redirect, safe_next
from demo.erp.faults import DROP, Surface
from demo.erp.respond import apply_fault, fault_response, int_param, not_found, render
from demo.erp.schema import ENTITIES, SCHEMA, TITLES, Kind, money_value, percent_value
from demo.erp.state import Snapshot, erp_of
from robots.core.discounts import format_discounts
from robots.documents.formatting import NBSP, format_date, format_number, format_percent

#: Columns of the HTML list pages (the counterparty list hides inn and e-mail: they are on the detail page).
LIST_FIELDS = {e: tuple(f for f, _ in fs if (e != "counterparties" or f in ("id", "name", "group"))
                        and f != "discounts") for e, fs in SCHEMA.items()}
LABELS = {"id": "Код", "name": "Наименование", "inn": "ИНН", "email": "Эл. почта", "group": "Группа",
          "number": "Номер", "counterparty_id": "Контрагент", "payment_days": "Отсрочка, дн.",
          "currency": "Валюта", "penalty_rate_per_day": "Пени, % в день", "discounts": "Скидки за досрочную оплату",
          "contract_id": "Договор", "date": "Дата", "due_date": "Срок оплаты", "amount": "Сумма", "invoice_id": "Счёт"}
#: Fields that name another record, shown as a link to it.
_LINKS = {"counterparty_id": "counterparties", "contract_id": "contracts", "invoice_id": "invoices"}
_SIGNS = {"RUB": "₽", "RUR": "₽"}


def _href(entity: str, record_id: str) -> str:
    return f"/{entity}/{quote(record_id, safe='')}"


def _cell(snap: Snapshot, entity: str, record: Any, name: str, kind: Kind, override: dict[str, Any] | None) -> dict:
    """A table cell or a detail value: what it shows, its data-value, and a link when it names a record."""
    if override and name in override:
        v = "" if override[name] is None else str(override[name])
        return {"field": name, "text": v, "value": v, "href": None}
    v = getattr(record, name)
    text, value, href = ("" if v is None else str(v)), None, None
    if kind is Kind.MONEY:
        cur = snap.currency.get(record.contract_id, "RUB")
        text, value = f"{format_number(v)}{NBSP}{_SIGNS.get(cur, cur)}", money_value(v)
    elif kind is Kind.DATE:
        text, value = format_date(v), v.isoformat()
    elif kind is Kind.PERCENT:
        text, value = ("", "") if v is None else (format_percent(v), percent_value(v))
    elif kind is Kind.DISCOUNTS:
        text = value = format_discounts(v) or ""
    if name == "id":
        href = _href(entity, v)
    elif name in _LINKS and v is not None and snap.tables[_LINKS[name]].get(v) is not None:
        href = _href(_LINKS[name], v)
    return {"field": name, "text": text, "value": value, "href": href}


async def login_form(request: Request) -> Response:
    return render(request, "login.html", user=None, error=None, username="",
                  next=safe_next(request.query_params.get("next")))


async def login_submit(request: Request) -> Response:
    form = await request.form()
    username, password = form.get("username"), form.get("password")
    target = safe_next(form.get("next"))
    if isinstance(username, str) and isinstance(password, str) and auth_of(request).log_in(request, username,
                                                                                           password):
        return RedirectResponse(target, status_code=303)
    # The password is never echoed back; the user name is, so that only the password needs retyping.
    return render(request, "login.html", status=401, user=None, error="Неверное имя пользователя или пароль",
                  username=username if isinstance(username, str) else "", next=target)


async def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def home(request: Request) -> Response:
    if not auth_of(request).session_user(request):
        return login_redirect(request)
    counts = erp_of(request).ledger.counts()
    return render(request, "index.html", title="Демо-ERP", counts=[(e, TITLES[e], counts[e]) for e in ENTITIES])


async def entity_list(request: Request, entity: str) -> Response:
    if not auth_of(request).session_user(request):
        return login_redirect(request)
    erp = erp_of(request)
    try:
        page = int_param(request, "page", 1, 1) or 1
    except ValueError:
        return not_found(request, "Такой страницы нет.")
    fault = await apply_fault(erp, Surface.UI, entity, page)
    if fault is not None:
        return fault_response(request, fault, Surface.UI)
    snap = erp.snapshot
    table = snap.tables[entity]
    size = erp.page_size
    pages = max(1, -(-len(table.records) // size))
    corrupt = erp.faults.corruptions(entity)
    kinds = dict(SCHEMA[entity])
    rows = [[_cell(snap, entity, r, f, kinds[f], corrupt.get(r.id)) for f in LIST_FIELDS[entity]
             if corrupt.get(r.id, {}).get(f) is not DROP] for r in table.records[(page - 1) * size: page * size]]
    return render(request, "list.html", title=TITLES[entity], entity=entity, page=page, pages=pages,
                  total=len(table.records), headers_=[(f, LABELS[f]) for f in LIST_FIELDS[entity]], rows=rows,
                  prev=f"/{entity}?page={page - 1}" if page > 1 else None,
                  next=f"/{entity}?page={page + 1}" if page < pages else None)


async def entity_detail(request: Request, entity: str) -> Response:
    if not auth_of(request).session_user(request):
        return login_redirect(request)
    erp = erp_of(request)
    snap = erp.snapshot
    record_id = request.path_params["record_id"]
    record = snap.tables[entity].get(record_id)
    if record is None:
        return not_found(request, f"{TITLES[entity]}: запись {record_id} не найдена.")
    override = erp.faults.corruptions(entity).get(record_id)
    fields = [(LABELS[f], _cell(snap, entity, record, f, k, override)) for f, k in SCHEMA[entity]
              if (override or {}).get(f) is not DROP]
    context: dict[str, Any] = {"title": f"{TITLES[entity]}: {record_id}", "entity": entity, "fields": fields,
                               "flash": request.session.pop("flash", None)}
    if entity != "counterparties":
        return render(request, "detail.html", **context)
    contracts = [{"id": c.id, "number": c.number, "href": _href("contracts", c.id),
                  "blocked": erp.is_blocked(record_id, c.id), "reason": erp.blocks.get((record_id, c.id))}
                 for c in snap.contracts_of.get(record_id, ())]
    return render(request, "counterparty.html", **context, record_id=record_id, href=_href(entity, record_id),
                  blocked=erp.is_blocked(record_id), reason=erp.blocks.get((record_id, None)), contracts=contracts,
                  notes=[n for n in erp.notes if n.counterparty_id == record_id])


def _contract_field(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


async def shipments_submit(request: Request) -> Response:
    if not auth_of(request).session_user(request):
        return login_redirect(request)
    erp = erp_of(request)
    record_id = request.path_params["record_id"]
    form = await request.form()
    action = form.get("action")
    if action not in ("block", "unblock"):
        action = "unblock" if "unblock" in form else "block"
    fault = await apply_fault(erp, Surface.UI, action, None)
    if fault is not None:
        return fault_response(request, fault, Surface.UI)
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
            return not_found(request, f"Контрагенты: запись {record_id} не найдена.")
        request.session["flash"] = {"kind": "error", "text": f"Ошибка: {e}"}
    else:
        where = f" по договору {contract_id}" if contract_id else ""
        request.session["flash"] = {"kind": "ok", "text": f"{text}{where}."}
    return RedirectResponse(_href("counterparties", record_id), status_code=303)


async def note_submit(request: Request) -> Response:
    if not auth_of(request).session_user(request):
        return login_redirect(request)
    erp = erp_of(request)
    record_id = request.path_params["record_id"]
    form = await request.form()
    fault = await apply_fault(erp, Surface.UI, "notes", None)
    if fault is not None:
        return fault_response(request, fault, Surface.UI)
    text = form.get("note")
    try:
        erp.add_note(record_id, _contract_field(form.get("contract_id")), text if isinstance(text, str) else "")
    except LookupError as e:
        if record_id not in erp.table("counterparties").index:
            return not_found(request, f"Контрагенты: запись {record_id} не найдена.")
        request.session["flash"] = {"kind": "error", "text": f"Ошибка: {e}"}
    except ValueError:
        request.session["flash"] = {"kind": "error", "text": "Заметка пустая: напишите текст."}
    else:
        request.session["flash"] = {"kind": "ok", "text": "Заметка добавлена."}
    return RedirectResponse(_href("counterparties", record_id), status_code=303)
