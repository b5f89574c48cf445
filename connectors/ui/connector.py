"""The UI connector: a headless Chromium, driven by Playwright, reads the ledger from an accounting system's web pages.

For systems that have no API (or none we may use), the ops engineer describes in ``schedules.yaml`` what a clerk
would do: log in, open each list, read the table row by row, follow "next page", open a row's detail page for the
fields the list lacks; and which buttons stop or resume shipments. Nothing is parsed here: values are delivered as
the page shows them (text, or an attribute such as ``data-value``), and :func:`connectors.records.build_ledger`
reads Russian money and dates and ISO forms alike. Each record is located as ``Where("<id>: <url path>", page=<page
within the entity>, record=<row on that page>)``.

One browser, one context and one page per connector, started on first use and closed by :meth:`UiConnector.close`;
the login steps run once per connector (a connector lives for one sync or one series of write-backs). Launching,
the steps, the page readers and the login are in :mod:`connectors.ui.browser`. Playwright objects belong to the
thread that started them: use (and close) a connector from one thread.

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

Every failure saves evidence into ``state_dir/failures/NNNN/`` (:mod:`connectors.ui.artifacts`: a screenshot, the
HTML, the trace of the entity or write-back action that failed, the error); the message names the connector, the
step (entity, step index and kind, selector) and that folder. Failures during the login have no trace; ``trace:
off`` records none at all.

**Secrets.** The password is read once, from the environment or a file
(:func:`robots.support.secret_refs.read_secret`), and only ever typed by a ``fill`` step into the login form. It is
scrubbed from every message, the HTML dump, the trace and the write-back detail, and never logged. Steps are
described in messages by their kind and selector, never by the value they type.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

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
)
from connectors.ui.artifacts import Evidence, first_line
from connectors.ui.browser import (
    READ_DETAIL_JS,
    READ_ROWS_JS,
    Failed,
    StepFailed,
    acquire_driver,
    classify,
    close_quietly,
    goto,
    js_fields,
    launch,
    log_in,
    release_driver,
    run_step,
)
from connectors.ui.config import (
    DEFAULT_CHROMIUM,
    DetailConfig,
    FieldConst,
    UiConnectorConfig,
    UiEntityConfig,
    WaitForStep,
    describe_step,
    substitute,
)
from robots.core.errors import BusinessError, UsageError
from robots.support.secret_refs import read_secret

log = structlog.get_logger("arbots.connectors.ui")


class LoginRejected(UsageError):
    """The system refused the configured credentials (write-back; fetch reports it as a Problem)."""


class _Rejected(Exception):
    """The login was rejected, or failed for a reason retrying cannot fix: the message (with its artifacts)."""


class UiConnector:
    """Reads the configured entities from the web UI and performs write-back actions by clicking.

    ``fetch()`` raises :class:`ConnectorUnavailable` on timeouts and navigation failures; problems of the config or
    the system (login rejected, selectors that match nothing) are returned in ``Fetched.problems``.
    """

    def __init__(self, config: UiConnectorConfig, *, base_dir: Path, state_dir: Path,
                 known_groups: frozenset[str] | None = None, environ: Mapping[str, str] | None = None):
        self.config = config
        self.id = config.id
        self.entities: tuple[str, ...] = tuple(e for e in ENTITIES if e in config.entities)
        self.known_groups = known_groups
        self.state_dir = Path(state_dir)
        self.base_dir = Path(base_dir)
        environ = os.environ if environ is None else environ
        exe = config.browser.executable_path or Path(environ.get("ARBOTS_CHROMIUM") or DEFAULT_CHROMIUM)
        self.executable = exe if exe.is_absolute() else self.base_dir / exe
        cred = config.credentials
        password = read_secret(cred.password_env, cred.password_file, f"connector {self.id}: password",
                               self.base_dir, environ) if cred else None
        self._values = {"username": cred.username if cred else "", "password": password or ""}
        self._evidence = Evidence(self.state_dir, config.trace, password)
        self._pw: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._page: Any = None
        self._logged_in = False

    # --- the browser
    def _ensure_page(self) -> Any:
        if self._page is not None:
            return self._page
        from playwright.sync_api import Error

        try:
            self._pw = acquire_driver()
            self._browser, self._context, self._page = launch(self._pw, self.executable, self.config)
        except Error as e:
            self.close()
            raise ConnectorUnavailable(self.id, f"cannot start Chromium {self.executable}: "
                                                f"{self._evidence.scrub(first_line(e.message))}") from None
        return self._page

    def close(self) -> None:
        """Close the page, context and browser and stop Playwright; safe to call twice."""
        close_quietly(self._context, self._browser)
        if self._pw is not None:
            with contextlib.suppress(Exception):
                release_driver()
        self._pw = self._browser = self._context = self._page = None
        self._logged_in = False
        self._evidence.reset()

    def _source(self, page: Any) -> str:
        return f"{self.id}: {urlsplit(page.url).path or '/'}"

    def _fail(self, what: str, failure: Failed) -> str:
        """Save the evidence; the message (secret-free) names the step and the folder."""
        text = self._evidence.scrub(f"{what}: {failure.reason}")
        try:
            folder = self._evidence.save(self._page, self._context, f"{self.id}: {text}")
            text = f"{text}; artifacts in {folder}"
        except OSError as e:  # a full disk must not hide the failure itself
            text = f"{text}; no artifacts saved ({e.strerror or e} in {self.state_dir / 'failures'})"
        log.warning("ui_failure", connector=self.id, error=text, unavailable=failure.unavailable)
        return text

    def _session(self) -> Any:
        """The logged-in page. Raises ConnectorUnavailable, or _Rejected(message) for a config problem."""
        page = self._ensure_page()
        if self._logged_in:
            return page
        try:
            log_in(page, self.config, self._values)
        except StepFailed as e:
            text = self._fail(e.what, e.failure)
            if e.failure.unavailable:
                raise ConnectorUnavailable(self.id, text) from None
            raise _Rejected(text) from None
        self._logged_in = True
        return page

    # --- reading
    def fetch(self) -> Fetched:
        """Read every configured entity; see the module docstring for what raises and what becomes a Problem."""
        tables: dict[str, list[Record] | None] = dict.fromkeys(self.entities)
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
            self._evidence.start_unit(self._context, entity)
            for n, step in enumerate(spec.steps, 1):
                at["what"] = f"{entity} {describe_step(n, step)}"
                run_step(page, step, {}, self.config.base_url)
            rows = self._read_pages(page, entity, spec, at)
            if spec.detail is not None:
                self._read_details(page, entity, spec.detail, rows, at, problems)
            self._evidence.end_unit(self._context)
            return [Record(where, values) for where, values, _ in rows]
        except Exception as exc:  # classified; unexpected errors are re-raised by classify
            failure = classify(exc, self.config.timeout)
            text = self._fail(at["what"], failure)
            if failure.unavailable:
                raise ConnectorUnavailable(self.id, text) from None
            problems.append(Problem(self._source(page), text, page=at["page"]))
            return None
        finally:
            self._evidence.end_unit(self._context)

    def _read_pages(self, page: Any, entity: str, spec: UiEntityConfig,
                    at: dict[str, Any]) -> list[tuple[Where, dict[str, Any], str | None]]:
        names, specs = js_fields(spec.fields)
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
            data = page.eval_on_selector_all(spec.rows, READ_ROWS_JS, arg)
            rows = data["rows"]
            if not rows and page_no == 1 and not spec.allow_empty:
                raise Failed(f"no row matches '{spec.rows}'; if the table may be empty, set allow_empty: true",
                             False)
            for name, sel, hits in zip(names, specs, data["found"], strict=True):
                if rows and not hits:
                    what = f"'{sel[0]}'" + (f" with attribute '{sel[1]}'" if sel[1] else "")
                    raise Failed(f"field {name}: {what} matches in none of the {len(rows)} rows", False)
            if spec.detail is not None and rows and not data["links"]:
                raise Failed(f"detail link '{spec.detail.link}' matches in none of the {len(rows)} rows", False)
            source = self._source(page)
            for k, (vals, link) in enumerate(rows, 1):
                values = {n: v for n, v in zip(names, vals, strict=True) if v is not None}
                values.update(consts)
                out.append((Where(source, page=page_no, record=k), values, link))
            nxt = data["next"]
            if nxt is None:
                return out
            if page_no >= spec.max_pages:
                raise Failed(f"more than max_pages ({spec.max_pages}) pages; raise max_pages if that is right", False)
            at["page"] = page_no + 1
            at["what"] = f"{entity} page {page_no + 1} (next_page '{spec.next_page}')"
            if nxt["href"]:
                if urljoin(page.url, nxt["href"]) in seen:
                    back = urlsplit(nxt["href"])
                    raise Failed(f"the next page link leads back to {back.path}{'?' if back.query else ''}"
                                 f"{back.query}: pagination loops", False)
                goto(page, nxt["href"])
            else:
                with page.expect_navigation():
                    page.click(spec.next_page)
            seen.add(page.url)
        raise AssertionError("unreachable")

    def _read_details(self, page: Any, entity: str, detail: DetailConfig,
                      rows: list[tuple[Where, dict[str, Any], str | None]], at: dict[str, Any],
                      problems: list[Problem]) -> None:
        names, specs = js_fields(detail.fields)
        hits = [0] * len(names)
        for where, values, link in rows:
            if not link:
                problems.append(Problem.at(where, f"no detail link '{detail.link}' in this row; its detail fields "
                                                  f"({', '.join(names)}) are not read"))
                continue
            at["page"] = where.page
            at["what"] = f"{entity} page {where.page} record {where.record} detail ({urlsplit(link).path})"
            goto(page, link)
            if detail.wait_for:
                page.wait_for_selector(detail.wait_for)
            for i, (name, v) in enumerate(zip(names, page.evaluate(READ_DETAIL_JS, specs), strict=True)):
                if v is not None:
                    values[name] = v
                    hits[i] += 1
        lost = [f"{n} ('{s[0]}')" for n, s, h in zip(names, specs, hits, strict=True) if not h]
        if lost and any(link for _, _, link in rows):
            raise Failed(f"detail field{'s' if len(lost) > 1 else ''} {', '.join(lost)} matched on none of the "
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
            self._evidence.start_unit(self._context, f"{action} {counterparty_id}")
            for n, step in enumerate(steps, 1):
                what = f"{action} {counterparty_id} {describe_step(n, step)}"
                run_step(page, step, values, self.config.base_url)
                if isinstance(step, WaitForStep):
                    detail = page.locator(substitute(step.wait_for, values)).first.inner_text()
        except Exception as exc:  # classified; unexpected errors are re-raised by classify
            failure = classify(exc, self.config.timeout)
            text = self._fail(what, failure)
            if failure.unavailable:
                raise ConnectorUnavailable(self.id, text) from None
            raise BusinessError(f"connector '{self.id}': {text}") from None
        finally:
            self._evidence.end_unit(self._context)
        detail = self._evidence.scrub(" ".join(detail.split()))[:200]
        log.info("ui_write_back", connector=self.id, action=action, counterparty=counterparty_id)
        return WriteResult(self.id, action, True, detail)

