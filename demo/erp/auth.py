"""Who gets into the demo accounting system: one user, by the login form (a session cookie) or HTTP Basic.

The HTML pages want a session (:meth:`ErpAuth.session_user`, else :func:`login_redirect`); the JSON API also
takes HTTP Basic, a bearer token or an ``X-API-Key`` (:meth:`ErpAuth.api_ok`). Secrets are compared in constant
time and never shown.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse


class ErpAuth:
    """The one user's credentials and the API secrets; ``token``/``api_key`` None turn those API auths off."""

    def __init__(self, username: str, password: str, token: str | None, api_key: str | None):
        self.username = username
        self._password = password.encode()
        self._token = token.encode() if token else None
        self._api_key = api_key.encode() if api_key else None

    def __repr__(self) -> str:
        return f"ErpAuth(username={self.username!r}, password=***)"

    def check(self, username: str, password: str) -> bool:
        """True for the user's name and password (both compared, so timing tells nothing)."""
        ok_user = hmac.compare_digest(username.encode(), self.username.encode())
        ok_password = hmac.compare_digest(password.encode(), self._password)
        return ok_user & ok_password

    def log_in(self, request: Request, username: str, password: str) -> bool:
        """Start a fresh session for the user when the credentials are right; False (and no session) when not."""
        if not self.check(username, password):
            return False
        request.session.clear()
        request.session["user"] = self.username
        return True

    def session_user(self, request: Request) -> str | None:
        """The user logged in on this request's session, or None."""
        user = request.session.get("user")
        return user if isinstance(user, str) and hmac.compare_digest(user.encode(), self.username.encode()) else None

    def api_ok(self, request: Request) -> bool:
        """The API guard: a session, HTTP Basic, the bearer token or the API key lets the request in."""
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


def auth_of(request: Request) -> ErpAuth:
    """The credentials of the app serving ``request`` (set by create_app)."""
    return request.app.state.auth


def login_redirect(request: Request) -> RedirectResponse:
    """To the login form, which then leads back to the page asked for."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


def safe_next(value: Any) -> str:
    """Only a local path may follow the login (no open redirect to another site)."""
    return value if isinstance(value, str) and value.startswith("/") and not value.startswith("//") else "/"
