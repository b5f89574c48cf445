"""The JSON API of the demo accounting system (``/api/v1``): the ledger's entities, and the write-back.

Lists page three ways (``page``/``per_page``, ``offset``/``limit``, or ``cursor``/``limit``) with ``meta`` and
``links.next``; ``updated_since`` asks for what changed after a version, ``contract_id`` for one contract's
invoices or payments. The rows are the ones the state precomputed; only corrupted records are written anew.
The write-back blocks and allows shipments and posts notes. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from demo.erp.auth import auth_of, login_redirect
from demo.erp.faults import FaultKind, Surface
from demo.erp.respond import apply_fault, fault_response, int_param
from demo.erp.schema import ENTITIES, record_json
from demo.erp.state import ErpState, Note, erp_of

API = "/api/v1"
#: Entities whose list the JSON API filters by ?contract_id=.
_BY_CONTRACT = ("invoices", "payments")
#: Default and largest page size of the JSON API.
API_PAGE_SIZE, API_MAX_PAGE_SIZE = 100, 10_000


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _unauthorized(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return login_redirect(request)
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
        size = int_param(request, "limit", API_PAGE_SIZE, 1, API_MAX_PAGE_SIZE) or API_PAGE_SIZE
        cursor = q.get("cursor") or ""
        return "cursor", _decode_cursor(cursor) if cursor else 0, size
    if "offset" in q:
        size = int_param(request, "limit", API_PAGE_SIZE, 1, API_MAX_PAGE_SIZE) or API_PAGE_SIZE
        return "offset", int_param(request, "offset", 0, 0) or 0, size
    size = int_param(request, "per_page", API_PAGE_SIZE, 1, API_MAX_PAGE_SIZE) or API_PAGE_SIZE
    page = int_param(request, "page", 1, 1) or 1
    return "page", (page - 1) * size, size


def _api_refusal(request: Request, entity: str) -> Response | None:
    """404 for an unknown entity, 401 without credentials; None when the request may go on."""
    if entity not in ENTITIES:
        return _error(404, f"unknown entity {entity!r}; known: {', '.join(ENTITIES)}")
    if not auth_of(request).api_ok(request):
        return _unauthorized(request)
    return None


async def api_list(request: Request) -> Response:
    entity = request.path_params["entity"]
    if (refused := _api_refusal(request, entity)) is not None:
        return refused
    erp = erp_of(request)
    try:
        style, start, size = _paging(request)
        since = int_param(request, "updated_since", None, 0)
    except ValueError as e:
        return _error(400, str(e))
    fault = await apply_fault(erp, Surface.API, entity, start // size + 1)
    if fault is not None:
        return fault_response(request, fault, Surface.API)
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
                chunk[k] = record_json(entity, table.records[i], table.versions[i], override)
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
    erp = erp_of(request)
    table = erp.table(entity)
    i = table.index.get(request.path_params["record_id"])
    if i is None:
        return _error(404, f"{entity}: {request.path_params['record_id']} not found")
    override = erp.faults.corruptions(entity).get(table.records[i].id)
    row = record_json(entity, table.records[i], table.versions[i], override) if override else table.rows[i]
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
    if not auth_of(request).api_ok(request):
        return _unauthorized(request)
    erp = erp_of(request)
    fault = await apply_fault(erp, Surface.API, action, None)
    late = 0.0
    if fault is not None and fault.kind is FaultKind.APPLY_LATE:
        late = fault.seconds  # applied below, answered late
    elif fault is not None:
        return fault_response(request, fault, Surface.API)
    response = await _write(request, erp, action)
    if late > 0:
        await asyncio.sleep(late)
    return response


async def _write(request: Request, erp: ErpState, action: str) -> Response:
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
    if not auth_of(request).api_ok(request):
        return _unauthorized(request)
    blocks = list(erp_of(request).blocks.items())
    return JSONResponse({"data": [{"counterparty_id": cp, "contract_id": ct, "reason": reason}
                                  for (cp, ct), reason in blocks]})


async def api_notes(request: Request) -> Response:
    if not auth_of(request).api_ok(request):
        return _unauthorized(request)
    return JSONResponse({"data": [_note_json(n) for n in list(erp_of(request).notes)]})
