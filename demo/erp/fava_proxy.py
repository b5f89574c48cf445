"""A tiny login gate in front of Fava: Fava has no users, real accounting systems do.

A Starlette app that shows a login form (``GET /login``: ``input[name=username]``, ``input[name=password]``,
``button[type=submit]``), and after a good ``POST /login`` sets a signed session cookie and reverse-proxies every
other request to the Fava behind it (an ``httpx`` client). Without the cookie, HTML requests are redirected to
``/login`` and the rest get 401 JSON. A wrong password shows the form again with ``.error``. ``/logout`` ends the
session. Logged-in pages are Fava's own, unchanged.

Run it in front of a running Fava (the password from an environment variable, never the command line)::

    FAVA_PASSWORD=... python -m demo.erp.fava_proxy --upstream http://127.0.0.1:5000/ --port 8790 --username робот
"""

from __future__ import annotations

import argparse
import hmac
import html
import os
import secrets
from urllib.parse import quote, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

# Hop-by-hop headers (RFC 9110 7.6.1) and those httpx has already acted on (it decodes gzip, knows the length).
_DROP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                   "transfer-encoding", "upgrade", "content-encoding", "content-length", "host"})

_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Вход — Fava</title></head>
<body>
<main>
<h1>Вход в учётную систему</h1>
{error}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label>Пользователь <input name="username" autocomplete="username" value="{username}"></label>
<label>Пароль <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Войти</button>
</form>
</main>
</body></html>
"""


def _safe_next(target: str) -> str:
    """Only local paths: a login form must not redirect to another site."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(error: str = "", next_: str = "/", username: str = "", status: int = 200) -> HTMLResponse:
    block = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(_PAGE.format(error=block, next=html.escape(next_, quote=True),
                                     username=html.escape(username, quote=True)), status_code=status)


def create_app(upstream: str, username: str, password: str, *, secret_key: str | None = None,
               timeout: float = 30.0) -> Starlette:
    """The login gate for the Fava at ``upstream`` (``http://127.0.0.1:5000/``), with one user.

    ``secret_key`` signs the session cookie; by default a random one, so sessions end when the process does.
    """
    base = upstream.rstrip("/")
    expected_user, expected_password = username.encode(), password.encode()

    async def login_form(request: Request) -> Response:
        return _login_page(next_=_safe_next(request.query_params.get("next", "/")))

    async def login(request: Request) -> Response:
        form = await request.form()
        user, given = str(form.get("username", "")), str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "/")))
        # Compare both in constant time, and both always: the answer must not tell which one was wrong.
        ok_user = hmac.compare_digest(user.encode(), expected_user)
        ok_password = hmac.compare_digest(given.encode(), expected_password)
        if not (ok_user and ok_password):
            return _login_page("Неверное имя пользователя или пароль", target, user, status=401)
        request.session.clear()
        request.session["user"] = user
        return RedirectResponse(target, status_code=303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def proxy(request: Request) -> Response:
        if request.session.get("user") is None:
            if "text/html" in request.headers.get("accept", ""):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            return JSONResponse({"error": "not logged in"}, status_code=401)
        # The query string goes on byte for byte: BQL in it must reach Fava exactly as the browser sent it.
        target = request.scope["raw_path"].decode("latin-1")
        if request.scope["query_string"]:
            target += "?" + request.scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP | {"cookie"}]
        try:
            # A client per request: no state to set up or close, whether the server runs a lifespan or not.
            async with httpx.AsyncClient(base_url=base, timeout=timeout, follow_redirects=False) as client:
                answer = await client.request(request.method, target, headers=headers,
                                              content=await request.body())
        except httpx.HTTPError as exc:
            return JSONResponse({"error": f"Fava is not reachable: {type(exc).__name__}"}, status_code=502)
        out = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in _DROP]
        response = Response(answer.content, status_code=answer.status_code)
        response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out] + [
            (b"content-length", str(len(answer.content)).encode())]
        return response

    app = Starlette(
        routes=[Route("/login", login_form, methods=["GET"]), Route("/login", login, methods=["POST"]),
                Route("/logout", logout, methods=["GET", "POST"]),
                Route("/{path:path}", proxy, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])],
        middleware=[Middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32),
                               session_cookie="fava_session", same_site="strict")],
    )
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser(description="A login gate in front of Fava (the password from an environment "
                                            "variable).")
    p.add_argument("--upstream", required=True, help="Fava's base URL, e.g. http://127.0.0.1:5000/")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument("--username", required=True)
    p.add_argument("--password-env", default="FAVA_PASSWORD", help="the variable holding the password")
    args = p.parse_args(argv)
    password = os.environ.get(args.password_env)
    if not password:
        p.error(f"environment variable {args.password_env} is not set")
    uvicorn.run(create_app(args.upstream, args.username, password), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
