"""The REST connector: ledger records from a JSON API (a custom ERP, 1C's OData interface, Fava's query API).

One :class:`httpx.Client` per connector (HTTP/1.1 keep-alive, the session cookie of a form login). Every request
goes through one retry policy: timeouts, connection errors, 5xx, 408 and 429 are retried with exponential backoff
and jitter (429 and 503 honour ``Retry-After`` seconds, capped at ``max_backoff``); when the attempts are spent
the fetch raises :class:`~connectors.base.ConnectorUnavailable` ("GET invoices page 7: HTTP 503 after 5
attempts; the server said: ..."). Answers that retrying cannot fix (401/403/404/400, the statuses listed in
``permanent_statuses``, an HTML login page, malformed JSON, a records path that is not there) become a
:class:`~connectors.base.Problem` for that entity, whose table is then None.

An entity may be read from several sources (a list under ``entities.<entity>``, e.g. sales and credit notes);
their records are concatenated, each located in its own source (``"<id>: GET <path>"``, plus ``(<entity>)`` when
another entity reads the same path, as all of Fava's read ``query``).

Paging stops on a short page (offset and page kinds), an empty page, or a null next link/cursor; a next link or
cursor seen twice, or the same full page twice, is a problem rather than an endless loop. Incremental sync keeps
the last snapshot of an entity in ``state_dir/<entity>.json``, written only by :meth:`RestConnector.commit`
after the ledger was stored. Messages never carry the password, token or key.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import html
import json
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlencode, urljoin

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.base import ENTITIES, ConnectorUnavailable, Fetched, Problem, Record, \
    SyncRejected, Where, WriteBackUnsupported, WriteResult, read_secret, records_of_contract
from connectors.rest.mapping import MISSING, EntityMapping, MappingError, compile_path
from connectors.records import build_ledger
from connectors.rest.config import (  # re-exported: the config lives beside the connector
    BasicAuth,
    BearerAuth,
    ApiKeyAuth,
    FormLogin,
    AuthConfig,
    TimeoutConfig,
    RetryConfig,
    TlsConfig,
    OffsetPaging,
    PagePaging,
    CursorPaging,
    NextLinkPaging,
    NoPaging,
    IncrementalConfig,
    EntityConfig,
    WriteAction,
    WriteBackConfig,
    RestConnectorConfig,
    sources_of,
    mapping_for,
    _key_expr,
    _PLACEHOLDER_RE,
)
from robots.support.config_types import SecretRef
from robots.support.durable import fsync_path, write_atomic
from robots.core.domain import Ledger
from robots.core.errors import BusinessError, UsageError

# ------------------------------------------------------------------------------------------------- errors


class _Transient(Exception):
    """A failure that may pass: retried, then ConnectorUnavailable (with what the server said, if anything)."""

    def __init__(self, reason: str, retry_after: float | None = None, said: str = ""):
        super().__init__(reason)
        self.retry_after = retry_after
        self.said = said


class _Refused(Exception):
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


def _with_params(url: str, params: Mapping[str, Any]) -> str:
    """``url`` plus ``params``, encoded with %20 for spaces and ``$'():`` kept (what OData servers expect)."""
    if not params:
        return url
    query = urlencode({k: _param_text(v) for k, v in params.items()}, quote_via=quote, safe=_SAFE_QUERY)
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _param_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


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


def _excerpt(resp: httpx.Response, limit: int = 200) -> str:
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


# ------------------------------------------------------------------------------------------------- state


def _dump_state(state: Mapping[str, Any]) -> bytes:
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return {"$decimal": str(o)}  # exact, and read back as Decimal
        raise TypeError(f"{type(o).__name__} cannot be cached")

    return json.dumps(state, default=default, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _load_state_bytes(raw: bytes) -> Any:
    def hook(d: dict) -> Any:
        if len(d) == 1 and "$decimal" in d:
            return Decimal(d["$decimal"])
        return d

    return json.loads(raw, object_hook=hook)


# ------------------------------------------------------------------------------------------------- connector


@dataclass(frozen=True)
class _Source:
    """One source of an entity, ready to read: its config, compiled mapping and names."""

    entity: str
    spec: EntityConfig
    mapping: EntityMapping
    #: The path, plus the entity (and its source number) when another source reads the same path: what
    #: Where.source and messages show after "GET ".
    label: str
    #: The incremental snapshot's file in state_dir.
    state_file: str


def _plan_sources(config: RestConnectorConfig, entities: tuple[str, ...]) -> dict[str, tuple[_Source, ...]]:
    specs = {entity: sources_of(config, entity) for entity in entities}
    by_path: dict[str, list[str]] = {}
    for entity, sources in specs.items():
        for e in sources:
            by_path.setdefault(e.path, []).append(entity)
    planned = {}
    for entity, sources in specs.items():
        out = []
        for n, e in enumerate(sources, 1):
            readers = by_path[e.path]
            label = e.path
            if readers.count(entity) > 1:
                label = f"{e.path} ({entity} {n})"
            elif len(readers) > 1:
                label = f"{e.path} ({entity})"
            out.append(_Source(entity, e, mapping_for(config, entity, e), label,
                               f"{entity}.json" if n == 1 else f"{entity}.{n}.json"))
        planned[entity] = tuple(out)
    return planned


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while records pile up: they hold no cycles, and with hundreds of thousands of
    live objects the collector's passes cost more than the mapping itself (measured: 2.5x on map + Record).

    At the end, what the fetch allocated goes straight to the oldest generation (freeze + unfreeze splice the
    generations' lists, O(1)) instead of being walked by the young collection that enable() would soon run: 45 ms
    per 100,000 records, for records that are freed by reference counting once the sync is over. Skipped when the
    process froze objects itself (unfreeze would thaw them).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


class RestConnector:
    """Reads the ledger's entities from a JSON API per :class:`RestConnectorConfig`, and writes back to it."""

    def __init__(self, config: RestConnectorConfig, *, base_dir: Path, state_dir: Path,
                 known_groups: frozenset[str] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.id = config.id
        self.entities = tuple(e for e in ENTITIES if e in config.entities)
        self.known_groups = known_groups
        self.base_dir, self.state_dir = Path(base_dir), Path(state_dir)
        self._sleep = sleep
        self._sources = _plan_sources(config, self.entities)
        self._permanent = frozenset(config.permanent_statuses)
        self._secrets: list[str] = []
        self._form_password: str | None = None
        self._logged_in = False
        self._pending: dict[str, dict[str, Any]] = {}
        headers = {"Accept": "application/json", "User-Agent": "arbots-rest-connector", **config.headers}
        headers.update(self._auth_headers())
        timeout = httpx.Timeout(connect=config.timeout.connect, read=config.timeout.read,
                                write=config.timeout.read, pool=config.timeout.connect)
        self._client = httpx.Client(headers=headers, timeout=timeout, verify=self._verify(), follow_redirects=True,
                                    max_redirects=10)
        self._origin = self._origin_of(config.base_url)

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

    @staticmethod
    def _origin_of(url: str) -> tuple[str, str]:
        parts = httpx.URL(url)
        return parts.scheme, f"{parts.host}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    def _redact(self, text: str) -> str:
        for s in self._secrets:
            if s:
                for form in {s, quote(s, safe=""), quote_plus(s)}:
                    text = text.replace(form, "***")
        return text

    # -- the protocol
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RestConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self) -> Fetched:
        """Read every configured entity. Raises ConnectorUnavailable when the server cannot be reached after the
        retries; answers that cannot be used become problems (that entity's table is None)."""
        with _gc_paused():
            return self._fetch()

    def _fetch(self) -> Fetched:
        problems: list[Problem] = []
        tables: dict[str, list[Record] | None] = {}
        self._pending = {}
        try:
            self._ensure_login()
        except _Refused as e:
            source = f"{self.id}: POST {self.config.auth.form_login.url}"  # type: ignore[union-attr]
            problems.append(Problem(source, self._redact(str(e))))
            return Fetched(self.id, {e: None for e in self.entities}, problems)
        for entity in self.entities:
            records: list[Record] | None = []
            for src in self._sources[entity]:
                source = f"{self.id}: GET {src.label}"
                try:
                    got = self._fetch_source(src, source, problems)
                except _Refused as e:
                    problems.append(Problem(source, self._redact(str(e)), page=e.page))
                    records = None  # one source unusable: the entity is (its other sources are still checked)
                    continue
                if records is not None:
                    records.extend(got)
            if records is None:
                for src in self._sources[entity]:
                    self._pending.pop(src.state_file, None)
            tables[entity] = records
        return Fetched(self.id, tables, problems)

    def commit(self) -> None:
        """Save the incremental snapshots of the last fetch. Call it after the ledger was stored: a rejected sync
        must not move the watermark."""
        for name, state in self._pending.items():
            write_atomic(self.state_dir / name, _dump_state(state))
            fsync_path(self.state_dir)
        self._pending = {}

    def pull(self) -> Ledger:
        """Fetch and validate on its own (a connector that delivers all four entities): the Ledger, or
        SyncRejected with every problem."""
        fetched = self.fetch()
        problems = list(fetched.problems)
        ledger = build_ledger(fetched.tables, problems, self.known_groups)
        if problems:
            raise SyncRejected(self.id, tuple(problems))
        return ledger

    # -- HTTP
    def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        """One request under the retry policy; ConnectorUnavailable when the attempts are spent."""
        try:  # the first attempt outside tenacity: most requests need no retry, and its machinery costs per call
            return self._send_once(method, url, **kwargs)
        except _Transient as e:
            failed = e
        cfg = self.config.retries
        if cfg.attempts > 1:
            self._sleep(self._backoff(failed, 1))
            retrying = Retrying(stop=stop_after_attempt(cfg.attempts - 1), wait=self._wait, sleep=self._sleep,
                                retry=retry_if_exception_type(_Transient), reraise=True)
            try:
                return retrying(self._send_once, method, url, **kwargs)
            except _Transient as e:
                failed = e
        n = cfg.attempts
        said = f"; the server said: {failed.said}" if failed.said else ""
        raise ConnectorUnavailable(self.id, self._redact(f"{what}: {failed} after {n} attempt{'s' if n > 1 else ''}"
                                                         f"{said}")) from None

    def _wait(self, state: RetryCallState) -> float:
        """tenacity's wait after its attempt n, which is attempt n + 1 of the request (_send made the first)."""
        exc = state.outcome.exception() if state.outcome is not None else None
        return self._backoff(exc, state.attempt_number + 1)

    def _backoff(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds to wait after the failed ``attempt`` (1-based): Retry-After if the server said, else exponential
        with "equal jitter" (spread, never ~0), at most max_backoff."""
        cfg = self.config.retries
        if isinstance(exc, _Transient) and exc.retry_after is not None:
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
            raise _Transient(f"{kind} timeout ({limit:g} s)") from None
        except httpx.ConnectError as e:
            if (reason := _cert_error(e)) is not None:
                raise _Refused(f"TLS certificate verification failed ({reason}); if the server's certificate comes "
                               "from a private CA, set tls.ca_bundle to that CA's PEM file") from None
            raise _Transient(f"cannot connect to {self._origin[1]} ({e})") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as e:
            raise _Transient(f"connection broken ({type(e).__name__}: {e})") from None
        except httpx.TransportError as e:  # an unsupported scheme, a proxy or protocol misconfiguration
            raise _Refused(f"the request cannot be made: {type(e).__name__}: {e}") from None
        status = resp.status_code
        if (status >= 500 or status in (408, 429)) and status not in self._permanent:
            raise _Transient(f"HTTP {status}", _retry_after(resp) if status in (429, 503) else None,
                             _excerpt(resp, 160))
        return resp

    def _ensure_login(self, again: bool = False) -> None:
        auth = self.config.auth
        if auth is None or auth.form_login is None or (self._logged_in and not again):
            return
        form = auth.form_login
        url = urljoin(self.config.base_url, form.url)
        self._client.cookies.clear()
        resp = self._send("POST", url, f"POST {form.url} (login)",
                          data={form.username_field: form.username, form.password_field: self._form_password},
                          headers={"Accept": "text/html,application/json"})
        secret = form.password_env or form.password_file
        if resp.status_code >= 400 or self._at_login_page(resp):
            why = f"HTTP {resp.status_code}" if resp.status_code >= 400 else "the answer is the login page again"
            raise _Refused(f"login at {form.url} failed ({why}); check form_login.username ('{form.username}') "
                           f"and the password in {secret}")
        self._logged_in = True

    def _at_login_page(self, resp: httpx.Response) -> bool:
        auth = self.config.auth
        if auth is None or auth.form_login is None:
            return False
        login_path = httpx.URL(urljoin(self.config.base_url, auth.form_login.url)).path
        return resp.url.path == login_path

    def _get_json(self, url: str, what: str, page: int) -> tuple[httpx.Response, Any]:
        resp = self._send("GET", url, what)
        if self._logged_in and (resp.status_code == 401 or self._at_login_page(resp)):
            self._ensure_login(again=True)  # the session expired: log in once more, then ask again
            resp = self._send("GET", url, what)
        status = resp.status_code
        if not 200 <= status < 300:
            hint = _STATUS_HINTS.get(status, "the server refused the request")
            if status in self._permanent and (status >= 500 or status in (408, 429)):
                hint = ("the server failed on this request; retrying does not help (permanent_statuses), so check "
                        "the entity's path and params")
            if status == 401 and self.config.auth is not None:
                hint += self._auth_hint()
            excerpt = _excerpt(resp)
            raise _Refused(f"HTTP {status} {resp.reason_phrase}: {hint}" + (f"; the server said: {excerpt}"
                                                                            if excerpt else ""), page)
        if not resp.content or resp.content.isspace():  # isspace stops at the first other byte; strip would copy
            raise _Refused(f"the answer is empty (HTTP {status}), not JSON", page)
        if _is_html(resp):
            raise _Refused("the answer is HTML, not JSON: probably a login page; check auth" + self._auth_hint(),
                           page)
        try:
            charset = (resp.charset_encoding or "utf-8").lower().replace("_", "-")
            data = resp.content if charset in ("utf-8", "utf8") else resp.text
            return resp, json.loads(data, parse_float=Decimal)
        except ValueError as e:
            where = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
            raise _Refused(f"the answer is not valid JSON ({getattr(e, 'msg', e)}{where}); the server sent a broken "
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

    # -- reading
    def _pages(self, src: _Source, params: Mapping[str, Any]) -> Iterator[tuple[int, list[Any]]]:
        """(page number, raw records) for every page of one source; _Refused on an unusable answer."""
        e = src.spec
        mapping = src.mapping
        paging = e.paging
        base = urljoin(self.config.base_url, e.path)
        params = {**e.params, **params}
        next_of = compile_path(paging.next) if isinstance(paging, (CursorPaging, NextLinkPaging)) else None
        seen: set[str] = set()
        previous: list[Any] | None = None
        position = paging.first if isinstance(paging, PagePaging) else 0
        follow: str | None = None
        page = 1
        while True:
            if isinstance(paging, OffsetPaging):
                url = _with_params(base, {**params, paging.limit_param: paging.size, paging.offset_param: position})
            elif isinstance(paging, PagePaging):
                extra = {paging.size_param: paging.size} if paging.size_param else {}
                url = _with_params(base, {**params, paging.page_param: position, **extra})
            elif isinstance(paging, CursorPaging):
                extra = {paging.size_param: paging.size} if paging.size_param and paging.size else {}
                if follow is not None:
                    extra[paging.cursor_param] = follow
                url = _with_params(base, {**params, **extra})
            else:
                url = follow if follow is not None else _with_params(base, params)
            resp, body = self._get_json(url, f"GET {src.label} page {page}", page)
            try:
                rows = mapping.rows(body)
            except MappingError as exc:
                raise _Refused(str(exc), page) from None
            yield page, rows
            n = len(rows)
            if isinstance(paging, NoPaging) or n == 0:
                return
            if isinstance(paging, (OffsetPaging, PagePaging)):
                if n < paging.size:
                    return
                # The records, not a hash of the answer: comparing stops at the first differing record, and a
                # server that ignores the page but changes its envelope (a page number in meta) is caught too.
                if rows == previous:
                    raise _Refused(f"page {page} is the same as page {page - 1}: the server ignores "
                                   f"'{paging.offset_param if isinstance(paging, OffsetPaging) else paging.page_param}'"
                                   "; check the paging settings", page)
                previous = rows
                position += n if isinstance(paging, OffsetPaging) else 1
            else:
                assert next_of is not None
                nxt = next_of(body)
                if nxt is MISSING or nxt is None or nxt == "":
                    return
                if not isinstance(nxt, (str, int)) or isinstance(nxt, bool):
                    raise _Refused(f"the next {'cursor' if isinstance(paging, CursorPaging) else 'link'} at "
                                   f"'{paging.next}' is not text", page)
                nxt = str(nxt)
                if isinstance(paging, NextLinkPaging):
                    nxt = urljoin(str(resp.url), nxt)
                    if self._origin_of(nxt) != self._origin:
                        raise _Refused(f"the next link points to another server ({self._origin_of(nxt)[1]}); the "
                                       "credentials are not sent there", page)
                if nxt in seen:
                    what = "cursor" if isinstance(paging, CursorPaging) else "link"
                    raise _Refused(f"the server sent the same next {what} twice; stopped to avoid an endless loop",
                                   page)
                seen.add(nxt)
                follow = nxt
            page += 1

    def _fetch_source(self, src: _Source, source: str, problems: list[Problem]) -> list[Record]:
        if src.spec.incremental is not None:
            return self._fetch_incremental(src, source, problems)
        map_page = src.mapping.map_page
        records: list[Record] = []
        for page, rows in self._pages(src, {}):
            mapped, bad = map_page(rows, source, page)
            records += mapped
            if bad:
                problems += bad
        return records

    # -- incremental
    def _fingerprint(self, src: _Source) -> str:
        e = src.spec
        inc = e.incremental
        assert inc is not None
        parts = [self.config.base_url, e.path, sorted((k, _param_text(v)) for k, v in e.params.items()), e.records,
                 e.columns, _key_expr(e), inc.field, inc.param]
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:16]

    def _load_state(self, src: _Source) -> dict[str, Any] | None:
        try:
            state = _load_state_bytes((self.state_dir / src.state_file).read_bytes())
        except (OSError, ValueError):
            return None  # no cache, or an unreadable one: a full fetch rebuilds it
        if not isinstance(state, dict) or state.get("fingerprint") != self._fingerprint(src) \
                or not isinstance(state.get("records"), dict):
            return None
        return state

    def _fetch_incremental(self, src: _Source, source: str, problems: list[Problem]) -> list[Record]:
        e = src.spec
        inc = e.incremental
        assert inc is not None
        key_of = compile_path(_key_expr(e))
        mark_of = compile_path(inc.field)
        state = self._load_state(src)
        since = 0 if state is None else int(state.get("since_full", 0)) + 1
        full = state is None or state.get("watermark") is None or since >= inc.full_every
        params = {} if full else {inc.param: state["watermark"]}  # type: ignore[index]
        rows: list[Any] = []
        wheres: list[Where] = []
        snapshot: dict[str, Any] = {} if full else dict(state["records"])  # type: ignore[index]
        fresh: dict[str, int] = {}
        for page, page_rows in self._pages(src, params):
            for i, raw in enumerate(page_rows):
                key = key_of(raw)
                key = f"\x00{page}:{i}" if key is MISSING or key is None else str(key)  # reported by build_ledger
                snapshot[key] = raw
                if full:
                    rows.append(raw)
                    wheres.append(Where(source, None, page, i + 1))
                else:
                    fresh[key] = len(wheres)
                    wheres.append(Where(source, None, page, i + 1))
        if not full:
            changed = wheres
            rows, wheres = [], []
            cached = f"{source} (cached)"
            for n, (key, raw) in enumerate(snapshot.items(), 1):
                rows.append(raw)
                wheres.append(changed[fresh[key]] if key in fresh else Where(cached, None, None, n))
        marks = [m for raw in snapshot.values() if (m := mark_of(raw)) is not MISSING and m is not None]
        try:
            watermark = max(marks) if marks else None
        except TypeError:
            watermark = max(marks, key=str)
        self._pending[src.state_file] = {"format": 1, "fingerprint": self._fingerprint(src), "watermark": watermark,
                                         "since_full": 0 if full else since, "records": snapshot}
        mapped, bad = src.mapping.map_rows(rows)
        problems.extend(Problem.at(wheres[i], msg) for i, msg in bad)
        return [Record(wheres[i], v) for i, v in mapped]

    # -- the pre-send reconciliation
    def payments_for(self, contract_id: str) -> Fetched:
        """One contract's payments, read now: each payments source with its ``reconcile`` request, or in full (never
        from the incremental cache, whose state is left alone). Records of other contracts are dropped."""
        problems: list[Problem] = []
        if "payments" not in self.entities:
            return Fetched(self.id, {}, problems)
        try:
            self._ensure_login()
        except _Refused as e:
            source = f"{self.id}: POST {self.config.auth.form_login.url}"  # type: ignore[union-attr]
            problems.append(Problem(source, self._redact(str(e))))
            return Fetched(self.id, {"payments": None}, problems)
        records: list[Record] | None = []
        for src in self._sources["payments"]:
            rec = src.spec.reconcile
            spec = src.spec.model_copy(update={"incremental": None})
            if rec is not None:
                values = {"contract_id": contract_id}
                path = _fill(rec.path, values, lambda v: quote(v, safe="")) if rec.path else spec.path
                spec = spec.model_copy(update={"path": path,
                                               "params": {**spec.params, **_fill(rec.params, values, str)}})
            one = replace(src, spec=spec, label=f"{spec.path} (payments of {contract_id})" if rec else src.label)
            source = f"{self.id}: GET {one.label}"
            try:
                got = self._fetch_source(one, source, problems)
            except _Refused as e:
                problems.append(Problem(source, self._redact(str(e)), page=e.page))
                records = None
                continue
            if records is not None:
                records.extend(records_of_contract(got, contract_id) or ())
        return Fetched(self.id, {"payments": records}, problems)

    # -- write-back
    def block_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._write("block_shipments", counterparty_id, contract_id, reason=reason)

    def unblock_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._write("unblock_shipments", counterparty_id, contract_id, reason=reason)

    def post_note(self, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult:
        return self._write("post_note", counterparty_id, contract_id, text=text)

    def _write(self, action: str, counterparty_id: str, contract_id: str | None, *, reason: str = "",
               text: str = "") -> WriteResult:
        act = getattr(self.config.write_back, action, None) if self.config.write_back else None
        if act is None:
            raise WriteBackUnsupported(f"connector '{self.id}' has no write_back.{action} configured")
        values = {"counterparty_id": counterparty_id, "contract_id": contract_id, "reason": reason, "text": text}
        path = _fill(act.path, values, lambda s: quote(s, safe=""))
        url = _with_params(urljoin(self.config.base_url, path), _fill(act.params, values, str))
        kwargs: dict[str, Any] = {}
        if act.json_ is not None:
            kwargs["json"] = _fill(act.json_, values, str, json_nulls=True)
        if act.form:
            kwargs["data"] = _fill(act.form, values, str)
        what = f"{act.method} {path}"
        try:
            self._ensure_login()
            resp = self._send(act.method, url, what, **kwargs)
            if self._logged_in and (resp.status_code == 401 or self._at_login_page(resp)):
                self._ensure_login(again=True)
                resp = self._send(act.method, url, what, **kwargs)
        except _Refused as e:
            raise BusinessError(self._redact(f"connector '{self.id}': {what}: {e}")) from None
        if self._at_login_page(resp):
            raise BusinessError(f"connector '{self.id}': {what}: the answer is the login page; check auth")
        if 200 <= resp.status_code < 300:
            return WriteResult(self.id, action, True, f"HTTP {resp.status_code}")
        excerpt = self._redact(_excerpt(resp))
        raise BusinessError(f"connector '{self.id}': {what}: HTTP {resp.status_code} {resp.reason_phrase}"
                            + (f": {excerpt}" if excerpt else ""))


def _fill(template: Any, values: Mapping[str, str | None], encode: Callable[[str], str], *,
          json_nulls: bool = False) -> Any:
    """Substitute the placeholders in every string of ``template`` (keys included), each value through ``encode``."""
    if isinstance(template, str):
        if json_nulls:
            whole = _PLACEHOLDER_RE.fullmatch(template)
            if whole and values.get(whole.group(1)) is None:
                return None
        return _PLACEHOLDER_RE.sub(lambda m: encode(values.get(m.group(1)) or ""), template)
    if isinstance(template, Mapping):
        return {_fill(k, values, encode): _fill(v, values, encode, json_nulls=json_nulls)
                for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return [_fill(v, values, encode, json_nulls=json_nulls) for v in template]
    return template


__all__ = ["ApiKeyAuth", "AuthConfig", "BasicAuth", "BearerAuth", "CursorPaging", "EntityConfig", "FormLogin",
           "IncrementalConfig", "NextLinkPaging", "NoPaging", "OffsetPaging", "PagePaging", "RestConnector",
           "RestConnectorConfig", "RetryConfig", "TimeoutConfig", "TlsConfig", "WriteAction", "WriteBackConfig",
           "mapping_for", "sources_of"]
