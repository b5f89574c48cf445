"""The demo accounting system assembled: the HTML pages and the JSON API over one state, behind one login.

``create_app(ledger, username=..., password=...)`` builds the FastAPI app; ``app.state.erp`` (an
:class:`~demo.erp.state.ErpState`) holds the ledger, the shipment blocks, the notes and the injected faults.
Routes are documented in ``docs/demo-erp.md``.
"""

from __future__ import annotations

import secrets
from functools import partial

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from demo.erp import api, pages
from demo.erp.api import API
from demo.erp.auth import ErpAuth
from demo.erp.schema import ENTITIES
from demo.erp.state import ErpState
from robots.core.domain import Ledger


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
    app.state.auth = ErpAuth(username, password, token, api_key)
    app.add_middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32),
                       session_cookie="erp_session", same_site="lax")
    add = app.router.add_route
    add("/login", pages.login_form, methods=["GET"])
    add("/login", pages.login_submit, methods=["POST"])
    add("/logout", pages.logout, methods=["GET", "POST"])
    add("/", pages.home, methods=["GET"])
    for entity in ENTITIES:
        add(f"/{entity}", partial(pages.entity_list, entity=entity), methods=["GET"], name=entity)
    add("/counterparties/{record_id:path}/shipments", pages.shipments_submit, methods=["POST"])
    add("/counterparties/{record_id:path}/notes", pages.note_submit, methods=["POST"])
    for entity in ENTITIES:
        add(f"/{entity}/{{record_id:path}}", partial(pages.entity_detail, entity=entity), methods=["GET"],
            name=f"{entity}-detail")
    add(f"{API}/blocks", api.api_blocks, methods=["GET"])
    add(f"{API}/notes", api.api_notes, methods=["GET"])
    for action in ("block", "unblock", "notes"):
        add(f"{API}/counterparties/{{record_id:path}}/{action}", partial(api.api_write, action=action),
            methods=["POST"], name=f"api-{action}")
    add(f"{API}/{{entity}}", api.api_list, methods=["GET"])
    add(f"{API}/{{entity}}/{{record_id:path}}", api.api_record, methods=["GET"])
    return app
