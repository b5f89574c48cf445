"""The UI connector: a headless Chromium, driven by Playwright, reads the ledger from an accounting system's web pages.

For systems that have no API (or none we may use), the ops engineer describes in ``schedules.yaml`` what a clerk
would do: log in, open each list, read the table row by row, follow "next page", open a row's detail page for the
fields the list lacks; and which buttons stop or resume shipments. Nothing is parsed here: values are delivered as
the page shows them (text, or an attribute such as ``data-value``), and :func:`connectors.records.build_ledger`
reads Russian money and dates and ISO forms alike. Each record is located as ``Where("<id>: <url path>", page=<page
within the entity>, record=<row on that page>)``.

One browser, one context and one page per connector, started on first use and closed by :meth:`UiConnector.close`;
the login steps run once per connector (a connector lives for one sync or one series of write-backs). Connectors in
the same thread share one Playwright driver (its sync API allows one per thread), each with its own browser. Each
page of a table is read with a single ``eval_on_selector_all`` call that returns every field of every row, the
detail link and the next page's link at once. Field, link and next-page selectors are therefore plain CSS
(relative to the row for fields; ``:scope`` is the row itself); the ``rows`` selector and the step selectors may
use any Playwright selector. Playwright objects belong to the thread that started them: use (and close) a
connector from one thread.

**How failures are classified** (the connector cannot tell a slow system from a wrong selector by waiting, so it
classifies by what happened):

* :class:`~connectors.base.ConnectorUnavailable` (retry later): a step timed out (``wait_for``, a ``click`` or
  ``fill`` whose element never appeared, a page that did not load within ``timeout``), a navigation failed
  (connection refused, DNS, reset), the server answered 5xx or 429, the browser could not start or crashed.
* A :class:`~connectors.base.Problem` in ``Fetched.problems`` (a person must fix the config or the system; the
  sync is rejected): the login was rejected (``login_error`` appeared), a page answered 4xx, the table has no row
  matching ``rows`` on its first page (set ``allow_empty`` when an empty table is normal), a field's selector
  matched in none of a page's rows, a detail field matched on none of the detail pages, a row without its detail
  link, pagination that loops or exceeds ``max_pages``, an invalid selector. An entity with such a problem
  delivers no table (``None``); the other entities are still read.
* A login rejected without ``login_error`` configured can only show up as a timeout of the login's last
  ``wait_for``: an outage. Configure ``login_error``.
* Write-back raises ConnectorUnavailable in the first case, :class:`LoginRejected` (a UsageError) when the login
  is rejected, and :class:`~robots.core.errors.BusinessError` for the other problems (4xx, invalid selector).

Every failure saves evidence into ``state_dir/failures/NNNN/``: ``screenshot.png`` (the full page),
``page.html`` (``page.content()``), ``trace.zip`` (a Playwright trace of the entity or write-back action that failed:
its steps, network and console, with ``trace: snapshots`` also the DOM around every step; open it with ``playwright
show-trace``) and ``error.txt``; the message names the connector, the step (entity, step index and kind, selector)
and that folder. Failures during the login have no trace (see below); ``trace: off`` records none at all.

**Secrets.** The password is read once, from the environment or a file (:func:`connectors.base.read_secret`), and
only ever typed by a ``fill`` step into the login form. Tracing starts after the login steps, so the trace never
holds the typed password; should a page show it later, it is scrubbed (replaced by ``***``) from the trace and
the HTML dump, as from every message and the write-back detail; it is never logged. Steps are described in
messages by their kind and selector, never by the value they type. The trace does record the requests made while
it runs, with the session cookie: the failures folder is created private (0700).
"""

from __future__ import annotations

import html
import itertools
import json
import os
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import structlog

from connectors.base import (
    ENTITIES,
    ConnectorUnavailable,
    Fetched,
    Problem,
    Record,
    Where,
    WriteBackUnsupported,
    WriteResult,
    read_secret,
)
from connectors.ui.config import (  # re-exported: the config lives beside the connector
    BrowserConfig,
    CHROMIUM_ARGS,
    ClickStep,
    DEFAULT_CHROMIUM,
    DetailConfig,
    FieldConst,
    FieldSelector,
    FillStep,
    GotoStep,
    PressStep,
    SelectStep,
    UiConnectorConfig,
    UiCredentials,
    UiEntityConfig,
    UiWriteBackConfig,
    WaitForStep,
    WaitForUrlStep,
    _describe,
    _substitute,
    step_kind,
)
from robots.core.errors import BusinessError, UsageError

log = structlog.get_logger("arbots.connectors.ui")


# ------------------------------------------------------------------------------------------------- errors
class LoginRejected(UsageError):
    """The system refused the configured credentials (write-back; fetch reports it as a Problem)."""


class _Failed(Exception):
    """A failure inside a unit of work, classified: ``unavailable`` (retry later) or a config/data problem."""

    def __init__(self, reason: str, unavailable: bool):
        super().__init__(reason)
        self.reason = reason
        self.unavailable = unavailable


class _Rejected(Exception):
    pass


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


# ------------------------------------------------------------------------------------------------- the page JS
# One round-trip per list page: every field of every row, each row's detail link, the next page's link, and per
# field how many rows had it (a field found in no row means a wrong selector, not missing data).
_READ_ROWS_JS = """(rows, a) => {
  const one = (root, sel) => sel === ':scope' ? root : root.querySelector(sel);
  const pick = (el, attr) => el === null ? null : attr === null ? el.innerText.trim() : el.getAttribute(attr);
  const found = a.fields.map(() => 0);
  let links = 0;
  const out = rows.map(row => {
    const vals = a.fields.map(([sel, attr], i) => {
      const v = pick(one(row, sel), attr);
      if (v !== null) found[i]++;
      return v;
    });
    let link = null;
    if (a.link !== null) {
      const l = row.querySelector(a.link);
      link = l === null ? null : (l.href || l.getAttribute('href'));
      if (link) links++;
    }
    return [vals, link];
  });
  let next = null;
  if (a.next !== null) {
    const n = document.querySelector(a.next);
    if (n !== null) next = {href: n.href || null};
  }
  return {rows: out, found, links, next};
}"""

_READ_DETAIL_JS = """(a) => a.map(([sel, attr]) => {
  const el = document.querySelector(sel);
  return el === null ? null : attr === null ? el.innerText.trim() : el.getAttribute(attr);
})"""


def _js_fields(fields: Mapping[str, Any]) -> tuple[list[str], list[list[str | None]]]:
    names, specs = [], []
    for name, spec in fields.items():
        if isinstance(spec, FieldConst):
            continue
        names.append(name)
        specs.append([spec, None] if isinstance(spec, str) else [spec.selector, spec.attr])
    return names, specs


# ------------------------------------------------------------------------------------------------- the driver
# Playwright's sync API runs one event loop per thread: a second sync_playwright().start() in a thread whose first one
# still runs fails. Connectors in one thread therefore share one driver (each with its own browser); the last
# one to close stops it.
_drivers = threading.local()


def _acquire_driver() -> Any:
    if getattr(_drivers, "users", 0) == 0:
        from playwright.sync_api import sync_playwright

        _drivers.pw = sync_playwright().start()
        _drivers.users = 0
    _drivers.users += 1
    return _drivers.pw


def _release_driver() -> None:
    _drivers.users -= 1
    if _drivers.users == 0:
        pw, _drivers.pw = _drivers.pw, None
        pw.stop()


# ------------------------------------------------------------------------------------------------- the connector
class UiConnector:
    """Reads the configured entities from the web UI and performs write-back actions by clicking.

    ``fetch()`` raises :class:`ConnectorUnavailable` on timeouts and navigation failures; problems of the config or
    the system (login rejected, selectors that match nothing) are returned in ``Fetched.problems``.
    """

    def __init__(self, config: UiConnectorConfig, *, base_dir: Path, state_dir: Path,
                 known_groups: frozenset[str] | None = None, environ: Mapping[str, str] | None = None):
        self.config = config
        self.id = config.id
        self.entities = tuple(e for e in ENTITIES if e in config.entities)
        self.known_groups = known_groups
        self.state_dir = Path(state_dir)
        self.base_dir = Path(base_dir)
        environ = os.environ if environ is None else environ
        exe = config.browser.executable_path or Path(environ.get("ARBOTS_CHROMIUM") or DEFAULT_CHROMIUM)
        self.executable = exe if exe.is_absolute() else self.base_dir / exe
        cred = config.credentials
        self._password = read_secret(cred.password_env, cred.password_file, f"connector {self.id}: password",
                                     self.base_dir, environ) if cred else None
        self._values = {"username": cred.username if cred else "", "password": self._password or ""}
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None
        self._logged_in = False
        self._tracing = False
        self._chunk_open = False

    # --- the browser
    def _ensure_page(self) -> Any:
        if self._page is not None:
            return self._page
        from playwright.sync_api import Error

        try:
            self._pw = _acquire_driver()
            self._browser = self._pw.chromium.launch(executable_path=str(self.executable),
                                                     headless=self.config.browser.headless,
                                                     args=[*CHROMIUM_ARGS, *self.config.browser.args])
            self._context = self._browser.new_context()
            ms = self.config.timeout * 1000
            self._context.set_default_timeout(ms)
            self._context.set_default_navigation_timeout(ms)
            self._page = self._context.new_page()
        except Error as e:
            self.close()
            raise ConnectorUnavailable(self.id, f"cannot start Chromium {self.executable}: "
                                                f"{self._scrub(_first_line(e.message))}") from None
        return self._page

    def close(self) -> None:
        """Close the page, context and browser and stop Playwright; safe to call twice."""
        for obj in (self._context, self._browser):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # noqa: BLE001 - closing a dead browser must not mask the real error
                    pass
        if self._pw is not None:
            try:
                _release_driver()
            except Exception:  # noqa: BLE001
                pass
        self._pw = self._browser = self._context = self._page = None
        self._logged_in = self._tracing = self._chunk_open = False

    # --- helpers
    def _secret_forms(self) -> list[str]:
        """The password as a page, a URL, a form body or JSON could spell it, longest first."""
        pw = self._password
        if not pw:
            return []
        forms = {pw, quote(pw, safe=""), quote(pw), quote_plus(pw), html.escape(pw), html.escape(pw, quote=False),
                 json.dumps(pw)[1:-1], json.dumps(pw, ensure_ascii=False)[1:-1]}
        return sorted(forms, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for form in self._secret_forms():
            text = text.replace(form, "***")
        return text

    def _scrub_zip(self, path: Path) -> None:
        """Rewrite the trace without the password, should a page after the login have shown it."""
        forms = [f.encode() for f in self._secret_forms()]
        if not forms:
            return
        with zipfile.ZipFile(path) as z:
            members = [(info, z.read(info)) for info in z.infolist()]
        if not any(f in data for _, data in members for f in forms):
            return
        tmp = path.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for info, data in members:
                for f in forms:
                    data = data.replace(f, b"***")
                z.writestr(info, data)
        tmp.replace(path)

    def _source(self, page: Any) -> str:
        return f"{self.id}: {urlsplit(page.url).path or '/'}"

    def _classify(self, exc: Exception) -> _Failed:
        from playwright.sync_api import Error
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        if isinstance(exc, _Failed):
            return exc
        if isinstance(exc, PlaywrightTimeout):
            return _Failed(f"timed out after {self.config.timeout:g} s ({_first_line(exc.message)})", True)
        if isinstance(exc, Error):
            msg = _first_line(exc.message)
            gone = any(s in msg for s in ("net::", "NS_ERROR", "closed", "crash", "disconnected",
                                          "context was destroyed"))
            return _Failed(msg, gone)
        raise exc

    def _goto(self, page: Any, url: str) -> None:
        response = page.goto(url)
        if response is not None and response.status >= 400:
            status = response.status
            raise _Failed(f"HTTP {status} for {urlsplit(response.url).path}", status >= 500 or status == 429)

    def _run_step(self, page: Any, step: Any, values: Mapping[str, str]) -> None:
        kind = step_kind(step)
        if kind == "goto":
            self._goto(page, urljoin(self.config.base_url, _substitute(step.goto, values, url=True)))
        elif kind == "fill":
            page.fill(_substitute(step.fill.selector, values), _substitute(step.fill.value, values))
        elif kind == "click":
            page.click(_substitute(step.click, values))
        elif kind == "wait_for":
            page.wait_for_selector(_substitute(step.wait_for, values))
        elif kind == "wait_for_url":
            page.wait_for_url(_substitute(step.wait_for_url, values))
        elif kind == "press":
            page.press(_substitute(step.press.selector, values), step.press.key)
        else:
            page.select_option(_substitute(step.select.selector, values), _substitute(step.select.value, values))

    # --- failure evidence
    def _failure_dir(self) -> Path:
        root = self.state_dir / "failures"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        taken = [int(p.name) for p in root.iterdir() if p.name.isdigit()]
        for n in itertools.count(max(taken, default=0) + 1):
            folder = root / f"{n:04d}"
            try:
                folder.mkdir(mode=0o700)
                return folder
            except FileExistsError:  # another process got there first
                continue
        raise AssertionError("unreachable")

    def _save_failure(self, message: str) -> Path:
        """Screenshot, HTML and (after the login) the trace of the current unit; best effort."""
        folder = self._failure_dir()
        page = self._page
        if page is not None:
            try:
                page.screenshot(path=str(folder / "screenshot.png"), full_page=True, timeout=5000)
            except Exception as e:  # noqa: BLE001
                (folder / "screenshot.txt").write_text(f"no screenshot: {self._scrub(_first_line(str(e)))}\n")
            try:
                (folder / "page.html").write_text(self._scrub(page.content()), encoding="utf-8")
            except Exception as e:  # noqa: BLE001
                (folder / "page.txt").write_text(f"no HTML: {self._scrub(_first_line(str(e)))}\n")
        if self._chunk_open:
            self._chunk_open = False
            try:
                self._context.tracing.stop_chunk(path=str(folder / "trace.zip"))
                self._scrub_zip(folder / "trace.zip")
            except Exception as e:  # noqa: BLE001
                (folder / "trace.txt").write_text(f"no trace: {self._scrub(_first_line(str(e)))}\n")
        (folder / "error.txt").write_text(message + "\n", encoding="utf-8")
        return folder

    def _fail(self, what: str, failure: _Failed) -> tuple[str, Path | None]:
        """Save the evidence; the message (secret-free) names the step and the folder."""
        text = self._scrub(f"{what}: {failure.reason}")
        try:
            folder: Path | None = self._save_failure(f"{self.id}: {text}")
            text = f"{text}; artifacts in {folder}"
        except OSError as e:  # a full disk must not hide the failure itself
            folder = None
            text = f"{text}; no artifacts saved ({e.strerror or e} in {self.state_dir / 'failures'})"
        log.warning("ui_failure", connector=self.id, error=text, unavailable=failure.unavailable)
        return text, folder

    # --- tracing: one chunk per unit of work, exported only when the unit fails
    def _start_unit(self, title: str) -> None:
        if self.config.trace == "off" or self._context is None:
            return
        if not self._tracing:
            self._context.tracing.start(snapshots=self.config.trace == "snapshots", screenshots=False, sources=False,
                                        title=title)
            self._tracing = True
        else:
            self._context.tracing.start_chunk(title=title)
        self._chunk_open = True

    def _end_unit(self) -> None:
        if self._chunk_open:
            self._chunk_open = False
            try:
                self._context.tracing.stop_chunk()
            except Exception:  # noqa: BLE001 - a dead browser; the error that killed it is the one to report
                pass

    # --- the login
    def _session(self) -> Any:
        """The logged-in page. Raises ConnectorUnavailable, or _Rejected(message) for a config problem."""
        page = self._ensure_page()
        if self._logged_in:
            return page
        error = self.config.login_error
        for n, step in enumerate(self.config.login, 1):
            what = f"login {_describe(n, step)}"
            try:
                if isinstance(step, WaitForStep) and error:
                    proof = _substitute(step.wait_for, self._values)
                    page.locator(proof).or_(page.locator(error)).first.wait_for()
                    if page.locator(proof).count() == 0:
                        raise _Failed(self._login_refusal(page, error), False)
                else:
                    self._run_step(page, step, self._values)
            except Exception as exc:  # noqa: BLE001 - classified below; anything else is re-raised
                failure = self._classify(exc)
                if error and not failure.reason.startswith("login rejected") and self._visible(page, error):
                    failure = _Failed(self._login_refusal(page, error), False)
                text, _ = self._fail(what, failure)
                if failure.unavailable:
                    raise ConnectorUnavailable(self.id, text) from None
                raise _Rejected(text) from None
        self._logged_in = True
        return page

    def _visible(self, page: Any, selector: str) -> bool:
        try:
            return page.locator(selector).count() > 0
        except Exception:  # noqa: BLE001
            return False

    def _login_refusal(self, page: Any, error: str) -> str:
        try:
            shown = " ".join(page.locator(error).first.inner_text(timeout=1000).split())[:200]
        except Exception:  # noqa: BLE001
            shown = ""
        return f"login rejected on {urlsplit(page.url).path}" + (f": the page says '{shown}'" if shown else "") + \
            "; check the credentials"

    # --- reading
    def fetch(self) -> Fetched:
        """Read every configured entity; see the module docstring for what raises and what becomes a Problem."""
        tables: dict[str, list[Record] | None] = {e: None for e in self.entities}
        problems: list[Problem] = []
        try:
            page = self._session()
        except _Rejected as e:
            problems.append(Problem(f"{self.id}: login", str(e)))
            return Fetched(self.id, tables, problems)
        for entity in self.entities:
            tables[entity] = self._read_entity(page, entity, problems)
        log.info("ui_fetched", connector=self.id, **{e: len(t) for e, t in tables.items() if t is not None})
        return Fetched(self.id, tables, problems)

    def _read_entity(self, page: Any, entity: str, problems: list[Problem]) -> list[Record] | None:
        spec = self.config.entities[entity]
        at = {"what": entity, "page": None}
        try:
            self._start_unit(entity)
            for n, step in enumerate(spec.steps, 1):
                at["what"] = f"{entity} {_describe(n, step)}"
                self._run_step(page, step, {})
            rows = self._read_pages(page, entity, spec, at)
            if spec.detail is not None:
                self._read_details(page, entity, spec.detail, rows, at, problems)
            self._end_unit()
            return [Record(where, values) for where, values, _ in rows]
        except Exception as exc:  # noqa: BLE001 - classified; unexpected errors are re-raised by _classify
            failure = self._classify(exc)
            text, _ = self._fail(at["what"], failure)
            if failure.unavailable:
                raise ConnectorUnavailable(self.id, text) from None
            problems.append(Problem(self._source(page), text, page=at["page"]))
            return None
        finally:
            self._end_unit()

    def _read_pages(self, page: Any, entity: str, spec: UiEntityConfig,
                    at: dict[str, Any]) -> list[tuple[Where, dict[str, Any], str | None]]:
        names, specs = _js_fields(spec.fields)
        consts = {k: v.const for k, v in spec.fields.items() if isinstance(v, FieldConst)}
        arg = {"fields": specs, "link": spec.detail.link if spec.detail else None, "next": spec.next_page}
        out: list[tuple[Where, dict[str, Any], str | None]] = []
        seen = {page.url}
        for page_no in itertools.count(1):
            at["page"] = page_no
            if spec.wait_for:
                at["what"] = f"{entity} page {page_no} (wait_for '{spec.wait_for}')"
                page.wait_for_selector(spec.wait_for)
            at["what"] = f"{entity} page {page_no} (rows '{spec.rows}')"
            data = page.eval_on_selector_all(spec.rows, _READ_ROWS_JS, arg)
            rows = data["rows"]
            if not rows and page_no == 1 and not spec.allow_empty:
                raise _Failed(f"no row matches '{spec.rows}'; if the table may be empty, set allow_empty: true",
                              False)
            for name, sel, hits in zip(names, specs, data["found"], strict=True):
                if rows and not hits:
                    what = f"'{sel[0]}'" + (f" with attribute '{sel[1]}'" if sel[1] else "")
                    raise _Failed(f"field {name}: {what} matches in none of the {len(rows)} rows", False)
            if spec.detail is not None and rows and not data["links"]:
                raise _Failed(f"detail link '{spec.detail.link}' matches in none of the {len(rows)} rows", False)
            source = self._source(page)
            for k, (vals, link) in enumerate(rows, 1):
                values = {n: v for n, v in zip(names, vals, strict=True) if v is not None}
                values.update(consts)
                out.append((Where(source, page=page_no, record=k), values, link))
            nxt = data["next"]
            if nxt is None:
                return out
            if page_no >= spec.max_pages:
                raise _Failed(f"more than max_pages ({spec.max_pages}) pages; raise max_pages if that is right", False)
            at["page"] = page_no + 1
            at["what"] = f"{entity} page {page_no + 1} (next_page '{spec.next_page}')"
            if nxt["href"]:
                if urljoin(page.url, nxt["href"]) in seen:
                    back = urlsplit(nxt["href"])
                    raise _Failed(f"the next page link leads back to {back.path}{'?' if back.query else ''}"
                                  f"{back.query}: pagination loops", False)
                self._goto(page, nxt["href"])
            else:
                with page.expect_navigation():
                    page.click(spec.next_page)
            seen.add(page.url)
        raise AssertionError("unreachable")

    def _read_details(self, page: Any, entity: str, detail: DetailConfig,
                      rows: list[tuple[Where, dict[str, Any], str | None]], at: dict[str, Any],
                      problems: list[Problem]) -> None:
        names, specs = _js_fields(detail.fields)
        hits = [0] * len(names)
        for where, values, link in rows:
            if not link:
                problems.append(Problem.at(where, f"no detail link '{detail.link}' in this row; its detail fields "
                                                  f"({', '.join(names)}) are not read"))
                continue
            at["page"] = where.page
            at["what"] = f"{entity} page {where.page} record {where.record} detail ({urlsplit(link).path})"
            self._goto(page, link)
            if detail.wait_for:
                page.wait_for_selector(detail.wait_for)
            for i, (name, v) in enumerate(zip(names, page.evaluate(_READ_DETAIL_JS, specs), strict=True)):
                if v is not None:
                    values[name] = v
                    hits[i] += 1
        lost = [f"{n} ('{s[0]}')" for n, s, h in zip(names, specs, hits, strict=True) if not h]
        if lost and any(link for _, _, link in rows):
            raise _Failed(f"detail field{'s' if len(lost) > 1 else ''} {', '.join(lost)} matched on none of the "
                          "detail pages", False)

    # --- write-back
    def block_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._write("block_shipments", counterparty_id, contract_id, reason=reason)

    def unblock_shipments(self, counterparty_id: str, contract_id: str | None, reason: str) -> WriteResult:
        return self._write("unblock_shipments", counterparty_id, contract_id, reason=reason)

    def post_note(self, counterparty_id: str, contract_id: str | None, text: str) -> WriteResult:
        return self._write("post_note", counterparty_id, contract_id, text=text)

    def _write(self, action: str, counterparty_id: str, contract_id: str | None, **extra: str) -> WriteResult:
        steps = getattr(self.config.write_back, action) if self.config.write_back else None
        if not steps:
            raise WriteBackUnsupported(f"connector '{self.id}' has no write_back.{action} steps")
        values = {"counterparty_id": counterparty_id, "contract_id": contract_id or "", **extra}
        try:
            page = self._session()
        except _Rejected as e:
            raise LoginRejected(f"connector '{self.id}': {e}") from None
        detail = ""
        what = action
        try:
            self._start_unit(f"{action} {counterparty_id}")
            for n, step in enumerate(steps, 1):
                what = f"{action} {counterparty_id} {_describe(n, step)}"
                self._run_step(page, step, values)
                if isinstance(step, WaitForStep):
                    detail = page.locator(_substitute(step.wait_for, values)).first.inner_text()
        except Exception as exc:  # noqa: BLE001 - classified; unexpected errors are re-raised by _classify
            failure = self._classify(exc)
            text, _ = self._fail(what, failure)
            if failure.unavailable:
                raise ConnectorUnavailable(self.id, text) from None
            raise BusinessError(f"connector '{self.id}': {text}") from None
        finally:
            self._end_unit()
        detail = self._scrub(" ".join(detail.split()))[:200]
        log.info("ui_write_back", connector=self.id, action=action, counterparty=counterparty_id)
        return WriteResult(self.id, action, True, detail)


__all__ = ["CHROMIUM_ARGS", "BrowserConfig", "ClickStep", "DetailConfig", "FieldConst", "FieldSelector", "FillStep",
           "GotoStep", "LoginRejected", "PressStep", "SelectStep", "UiConnector", "UiConnectorConfig",
           "UiCredentials", "UiEntityConfig", "UiWriteBackConfig", "WaitForStep", "WaitForUrlStep"]
