"""What the HTML pages and the JSON API answer alike: pages from the templates, and the faults that replace answers.

An injected fault (:mod:`demo.erp.faults`) first waits (delays add up), then may replace the answer: an HTTP
error (an HTML error page on the UI, a JSON error on the API), a login page where JSON was expected, or JSON cut
off in the middle. The integers of a query string (page numbers, sizes) are read the same way on both.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from demo.erp.auth import auth_of
from demo.erp.faults import Fault, FaultKind, Surface
from demo.erp.schema import ENTITIES, TITLES
from demo.erp.state import ErpState

_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                                autoescape=True, trim_blocks=True, lstrip_blocks=True)


def render(request: Request, name: str, status: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    """The template ``name`` as a page; the logged-in user and the navigation are in the context unless given."""
    context.setdefault("user", auth_of(request).session_user(request))
    context.setdefault("entities", [(e, TITLES[e]) for e in ENTITIES])
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=status, headers=headers)


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "error.html", status=404, title="Не найдено", message=message)


def int_param(request: Request, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    """The query parameter ``name`` as an integer in [low, high] (``default`` when absent or empty).

    Raises ValueError, with a message for the API's 400, for anything else."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d{1,12}", raw):
        raise ValueError(f"{name} must be an integer, not {raw!r}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be between {low} and {high}" if high else f"{name} must be at least {low}")
    return value


async def apply_fault(erp: ErpState, surface: Surface, target: str, page: int | None) -> Fault | None:
    """Count the request, wait the delays that hit it, and return the fault that replaces its answer, if any."""
    wait, fault = erp.faults.take(surface, target, page)
    if wait > 0:
        await asyncio.sleep(wait)
    return fault


def fault_response(request: Request, fault: Fault, surface: Surface) -> Response:
    """The answer ``fault`` puts in place of the real one on ``surface``."""
    headers = {"Retry-After": str(fault.retry_after)} if fault.kind is FaultKind.RATE_LIMIT else None
    if fault.kind is FaultKind.HTML:
        return render(request, "login.html", user=None, error=None, username="", next="/")
    if fault.kind is FaultKind.MALFORMED:
        return Response('{"data": [{"id": "', media_type="application/json")
    if surface is Surface.UI:
        return render(request, "error.html", status=fault.status, headers=headers, title="Ошибка сервера",
                      message=f"Сервис временно недоступен (HTTP {fault.status}).")
    return JSONResponse({"error": f"injected fault: HTTP {fault.status}"}, status_code=fault.status, headers=headers)
