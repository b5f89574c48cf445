"""The REST connector's HTTP client: auth (basic, bearer, API key, form login), TLS, retries and error answers.

One :class:`httpx.Client` per connector (HTTP/1.1 keep-alive, the session cookie of a form login). Every request
goes through one retry policy: timeouts, connection errors, 5xx, 408 and 429 are retried with exponential backoff
and jitter (429 and 503 honour ``Retry-After`` seconds, capped at ``max_backoff``); when the attempts are spent
the request raises :class:`ConnectorDown` ("GET invoices page 7: HTTP 503 after 5 attempts; the server said: ..."),
both a :class:`~connectors.base.ConnectorUnavailable` and an :class:`~robots.core.errors.Unavailable` of the system
named by the connector's id: a sync keeps the old ledger and a write-back step waits, neither fails. Its
``maybe_applied`` says whether the server may have acted on the request before the failure (a read timeout, a
connection broken after the request went out, a gateway's 502/504): a write-back must then read the state back or
repeat an idempotent request before it decides anything. Answers that retrying cannot fix (401/403/404/400, the
statuses listed in ``permanent_statuses``, an HTML login page, malformed JSON) raise :class:`Refused`, which the
connector turns into a :class:`~connectors.base.Problem` of the entity (fetch) or a BusinessError (write-back).
Messages never carry the password, token or key: :meth:`RestClient.redact` scrubs them.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
import ssl
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urljoin

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.base import ConnectorUnavailable
from connectors.rest.config import RestConnectorConfig
from robots.core.errors import Unavailable, UsageError
from robots.support.breaker import scrub
from robots.support.config_types import SecretRef
from robots.support.secret_refs import read_secret


class Transient(Exception):
    """A failure that may pass: retried, then ConnectorDown (with what the server said, if anything).
    ``maybe_applied``: the server may have acted on the request (it went out, and no answer came back)."""

    def __init__(self, reason: str, retry_after: float | None = None, said: str = "", *,
                 maybe_applied: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.said = said
        self.maybe_applied = maybe_applied


class ConnectorDown(ConnectorUnavailable, Unavailable):
    """The connector's server cannot be used now (after the retries): a ConnectorUnavailable, and an Unavailable
    of the system ``connector_id`` (the run waits). ``maybe_applied``: see the module's docstring."""

    def __init__(self, connector_id: str, reason: str, *, maybe_applied: bool = False):
        reason = scrub(reason)
        Unavailable.__init__(self, connector_id, None, reason)
        self.connector_id = connector_id
        self.args = (f"connector '{connector_id}' unavailable: {reason}",)
        self.maybe_applied = maybe_applied

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):
        return (_down, (self.connector_id, self.reason, self.maybe_applied))


def _down(connector_id: str, reason: str, maybe_applied: bool) -> ConnectorDown:
    return ConnectorDown(connector_id, reason, maybe_applied=maybe_applied)


class Refused(Exception):
    """An answer retrying cannot fix: a Problem of the entity (fetch) or a BusinessError (write-back)."""

    def __init__(self, message: str, page: int | None = None):
        super().__init__(message)
        self.page = page


_STATUS_HINTS = {
    400: "the server refused the query; check the entity's path, params and paging",
    401: "the server refused the credentials; check auth",
    403: "the user may not read this; grant it the rights in the accounting system",
    404: "no such resource; check the entity's path and base_url",
}
_SAFE_QUERY = "$'(),:/@!*"
#: Where error answers keep their message: 1C's OData, then common JSON API shapes.
_ERROR_PATHS = (("odata.error", "message", "value"), ("error", "message", "value"), ("error", "message"), ("error",),
                ("message",), ("detail",))


def with_params(url: str, params: Mapping[str, Any]) -> str:
    """``url`` plus ``params``, encoded with %20 for spaces and ``$'():`` kept (what OData servers expect)."""
    if not params:
        return url
    query = urlencode({k: param_text(v) for k, v in params.items()}, quote_via=quote, safe=_SAFE_QUERY)
    return f"{url}{'&' if '?' in url else '?'}{query}"


def param_text(v: Any) -> str:
    """A query parameter's value as the URL carries it (JSON's true/false for booleans)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def origin_of(url: str) -> tuple[str, str]:
    """(scheme, host:port) of ``url``: where credentials may be sent."""
    parts = httpx.URL(url)
    return parts.scheme, f"{parts.host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date would need the clock: the backoff is used instead
    return max(seconds, 0.0)


def _cert_error(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or str(seen)
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return text if "CERTIFICATE_VERIFY_FAILED" in text else None


_TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)


def excerpt(resp: httpx.Response, limit: int = 200) -> str:
    """What the server said, briefly: the message of a JSON error (1C's odata.error, {error}, {message}), the text
    of an HTML page (a proxy's error page), or the text itself."""
    text = resp.text
    if _is_html(resp):
        return _shorten(html.unescape(_TAG_RE.sub(" ", text)), limit)
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for path in _ERROR_PATHS:
            node: Any = body
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, str) and node.strip():
                text = node
                break
    return _shorten(text, limit)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


_MARKUP_RE = re.compile(rb"\s*<")


def _is_html(resp: httpx.Response) -> bool:
    # a match, not content.lstrip(): that would copy every page of the answer once more
    return "html" in resp.headers.get("content-type", "").lower() or _MARKUP_RE.match(resp.content) is not None


class RestClient:
    """The HTTP session of one REST connector: its headers and credentials, the retry policy, the form login."""

    def __init__(self, config: RestConnectorConfig, *, base_dir: Path, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.id = config.id
        self.base_dir = Path(base_dir)
        self._sleep = sleep
        self._permanent = frozenset(config.permanent_statuses)
        self._secrets: list[str] = []
        self._form_password: str | None = None
        #: True once a form login succeeded: a 401 or the login page after it means the session expired.
        self.logged_in = False
        headers = {"Accept": "application/json", "User-Agent": "arbots-rest-connector", **config.headers}
        headers.update(self._auth_headers())
        timeout = httpx.Timeout(connect=config.timeout.connect, read=config.timeout.read,
                                write=config.timeout.read, pool=config.timeout.connect)
        self._client = httpx.Client(headers=headers, timeout=timeout, verify=self._verify(), follow_redirects=True,
                                    max_redirects=10)
        self.origin = origin_of(config.base_url)

    # -- set-up
    def _secret(self, ref: SecretRef, field: str, what: str) -> str:
        value = read_secret(getattr(ref, f"{field}_env"), getattr(ref, f"{field}_file"), what, self.base_dir)
        self._secrets.append(value)
        return value

    def _auth_headers(self) -> dict[str, str]:
        auth = self.config.auth
        what = f"connector '{self.id}' auth"
        if auth is None:
            return {}
        if auth.basic is not None:
            password = self._secret(auth.basic, "password", f"{what}.basic password")
            # UTF-8, not latin-1: 1C logins are often Cyrillic (RFC 7617 charset="UTF-8").
            token = base64.b64encode(f"{auth.basic.username}:{password}".encode()).decode("ascii")
            self._secrets.append(token)
            return {"Authorization": f"Basic {token}"}
        if auth.bearer is not None:
            return {"Authorization": f"Bearer {self._secret(auth.bearer, 'token', f'{what}.bearer token')}"}
        if auth.api_key is not None:
            return {auth.api_key.header: self._secret(auth.api_key, "key", f"{what}.api_key key")}
        assert auth.form_login is not None
        self._form_password = self._secret(auth.form_login, "password", f"{what}.form_login password")
        return {}

    def _verify(self) -> ssl.SSLContext | bool:
        tls = self.config.tls
        if not tls.verify:
            return False
        if tls.ca_bundle is None:
            return True
        path = tls.ca_bundle if tls.ca_bundle.is_absolute() else self.base_dir / tls.ca_bundle
        try:
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as e:
            raise UsageError(f"connector '{self.id}' tls.ca_bundle: cannot load {path} "
                             f"({getattr(e, 'strerror', None) or e})") from None

    def redact(self, text: str) -> str:
        """``text`` with every secret of this connector (as is, and URL-encoded) replaced by ``***``."""
        for s in self._secrets:
            if s:
                for form in {s, quote(s, safe=""), quote_plus(s)}:
                    text = text.replace(form, "***")
        return text

    def close(self) -> None:
        self._client.close()

    # -- requests
    def send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        """One request under the retry policy; ConnectorUnavailable when the attempts are spent."""
        try:  # the first attempt outside tenacity: most requests need no retry, and its machinery costs per call
            return self._send_once(method, url, **kwargs)
        except Transient as e:
            failed = e
        cfg = self.config.retries
        if cfg.attempts > 1:
            self._sleep(self._backoff(failed, 1))
            retrying = Retrying(stop=stop_after_attempt(cfg.attempts - 1), wait=self._wait, sleep=self._sleep,
                                retry=retry_if_exception_type(Transient), reraise=True)
            try:
                return retrying(self._send_once, method, url, **kwargs)
            except Transient as e:
                failed = e
        n = cfg.attempts
        said = f"; the server said: {failed.said}" if failed.said else ""
        raise ConnectorDown(self.id, self.redact(f"{what}: {failed} after {n} attempt{'s' if n > 1 else ''}{said}"),
                            maybe_applied=failed.maybe_applied) from None

    def request(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        """:meth:`send`, and once more after logging in again when the form login's session expired."""
        resp = self.send(method, url, what, **kwargs)
        if self.logged_in and (resp.status_code == 401 or self.at_login_page(resp)):
            self.ensure_login(again=True)
            resp = self.send(method, url, what, **kwargs)
        return resp

    def _wait(self, state: RetryCallState) -> float:
        """tenacity's wait after its attempt n, which is attempt n + 1 of the request (send made the first)."""
        exc = state.outcome.exception() if state.outcome is not None else None
        return self._backoff(exc, state.attempt_number + 1)

    def _backoff(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait after the failed ``attempt`` (1-based): Retry-After if the server said, else exponential
        with "equal jitter" (spread, never ~0), at most max_backoff."""
        cfg = self.config.retries
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, cfg.max_backoff)
        step = cfg.backoff * 2 ** (attempt - 1)
        return min(cfg.max_backoff, step / 2 + random.uniform(0, step / 2))

    def _send_once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as e:
            kind = {httpx.ConnectTimeout: "connect", httpx.PoolTimeout: "connect",
                    httpx.WriteTimeout: "read"}.get(type(e), "read")
            limit = self.config.timeout.connect if kind == "connect" else self.config.timeout.read
            raise Transient(f"{kind} timeout ({limit:g} s)", maybe_applied=kind == "read") from None
        except httpx.ConnectError as e:
            if (reason := _cert_error(e)) is not None:
                raise Refused(f"TLS certificate verification failed ({reason}); if the server's certificate comes "
                              "from a private CA, set tls.ca_bundle to that CA's PEM file") from None
            raise Transient(f"cannot connect to {self.origin[1]} ({e})") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as e:
            raise Transient(f"connection broken ({type(e).__name__}: {e})", maybe_applied=True) from None
        except httpx.TransportError as e:  # an unsupported scheme, a proxy or protocol misconfiguration
            raise Refused(f"the request cannot be made: {type(e).__name__}: {e}") from None
        status = resp.status_code
        if (status >= 500 or status in (408, 429)) and status not in self._permanent:
            raise Transient(f"HTTP {status}", _retry_after(resp) if status in (429, 503) else None,
                            excerpt(resp, 160), maybe_applied=status in (502, 504))
        return resp

    # -- the form login
    def ensure_login(self, again: bool = False) -> None:
        """Log in with the form (once, or ``again`` when the session expired); Refused when the login fails."""
        auth = self.config.auth
        if auth is None or auth.form_login is None or (self.logged_in and not again):
            return
        form = auth.form_login
        url = urljoin(self.config.base_url, form.url)
        self._client.cookies.clear()
        resp = self.send("POST", url, f"POST {form.url} (login)",
                         data={form.username_field: form.username, form.password_field: self._form_password},
                         headers={"Accept": "text/html,application/json"})
        secret = form.password_env or form.password_file
        if resp.status_code >= 400 or self.at_login_page(resp):
            why = f"HTTP {resp.status_code}" if resp.status_code >= 400 else "the answer is the login page again"
            raise Refused(f"login at {form.url} failed ({why}); check form_login.username ('{form.username}') "
                          f"and the password in {secret}")
        self.logged_in = True

    def at_login_page(self, resp: httpx.Response) -> bool:
        """Whether ``resp`` is the form login's page (where a server sends a request without a session)."""
        auth = self.config.auth
        if auth is None or auth.form_login is None:
            return False
        login_path = httpx.URL(urljoin(self.config.base_url, auth.form_login.url)).path
        return resp.url.path == login_path

    # -- reading JSON
    def get_json(self, url: str, what: str, page: int) -> tuple[httpx.Response, Any]:
        """GET ``url``: the answer and its JSON (numbers as Decimal); Refused, with a hint, for an unusable answer."""
        resp = self.request("GET", url, what)
        status = resp.status_code
        if not 200 <= status < 300:
            hint = _STATUS_HINTS.get(status, "the server refused the request")
            if status in self._permanent and (status >= 500 or status in (408, 429)):
                hint = ("the server failed on this request; retrying does not help (permanent_statuses), so check "
                        "the entity's path and params")
            if status == 401 and self.config.auth is not None:
                hint += self._auth_hint()
            said = excerpt(resp)
            raise Refused(f"HTTP {status} {resp.reason_phrase}: {hint}" + (f"; the server said: {said}"
                                                                           if said else ""), page)
        if not resp.content or resp.content.isspace():  # isspace stops at the first other byte; strip would copy
            raise Refused(f"the answer is empty (HTTP {status}), not JSON", page)
        if _is_html(resp):
            raise Refused("the answer is HTML, not JSON: probably a login page; check auth" + self._auth_hint(),
                          page)
        try:
            charset = (resp.charset_encoding or "utf-8").lower().replace("_", "-")
            data = resp.content if charset in ("utf-8", "utf8") else resp.text
            return resp, json.loads(data, parse_float=Decimal)
        except ValueError as e:
            where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
            raise Refused(f"the answer is not valid JSON ({getattr(e, 'msg', e)}{where}); the server sent a broken "
                          "answer, or this URL is not the API", page) from None

    def _auth_hint(self) -> str:
        auth = self.config.auth
        if auth is None:
            return " (no auth is configured)"
        if auth.basic is not None:
            b = auth.basic
            return f" (basic: user '{b.username}', password from {b.password_env or b.password_file})"
        if auth.bearer is not None:
            return f" (bearer token from {auth.bearer.token_env or auth.bearer.token_file})"
        if auth.api_key is not None:
            return f" (header {auth.api_key.header} from {auth.api_key.key_env or auth.api_key.key_file})"
        fl = auth.form_login
        assert fl is not None
        return f" (form login as '{fl.username}', password from {fl.password_env or fl.password_file})"
