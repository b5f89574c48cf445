"""Driving Chromium for the UI connector: the shared Playwright driver, launching, steps, the page readers, the
login, and how a failure is classified.

Connectors in the same thread share one Playwright driver (its sync API allows one per thread), each with its own
browser. Each page of a table is read with a single ``eval_on_selector_all`` call that returns every field of every
row, the detail link and the next page's link at once (:data:`READ_ROWS_JS`). Field, link and next-page selectors
are therefore plain CSS (relative to the row for fields; ``:scope`` is the row itself); the ``rows`` selector and the
step selectors may use any Playwright selector. Playwright is imported only when a browser is started.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from connectors.ui.artifacts import first_line
from connectors.ui.config import (
    CHROMIUM_ARGS,
    FieldConst,
    UiConnectorConfig,
    WaitForStep,
    describe_step,
    step_kind,
    substitute,
)


class Failed(Exception):
    """A failure inside a unit of work, classified: ``unavailable`` (retry later) or a config/data problem."""

    def __init__(self, reason: str, unavailable: bool):
        super().__init__(reason)
        self.reason = reason
        self.unavailable = unavailable


class StepFailed(Exception):
    """A login step failed: ``what`` names the step, ``failure`` says how (the evidence is still on the page)."""

    def __init__(self, what: str, failure: Failed):
        super().__init__(what)
        self.what = what
        self.failure = failure


# ------------------------------------------------------------------------------------------------- the driver
# Playwright's sync API runs one event loop per thread: a second sync_playwright().start() in a thread whose first one
# still runs fails. Connectors in one thread therefore share one driver (each with its own browser); the last
# one to close stops it.
_drivers = threading.local()


def acquire_driver() -> Any:
    """The thread's Playwright driver, started by its first user."""
    if getattr(_drivers, "users", 0) == 0:
        from playwright.sync_api import sync_playwright

        _drivers.pw = sync_playwright().start()
        _drivers.users = 0
    _drivers.users += 1
    return _drivers.pw


def release_driver() -> None:
    """One user less of the thread's driver; the last one stops it."""
    _drivers.users -= 1
    if _drivers.users == 0:
        pw, _drivers.pw = _drivers.pw, None
        pw.stop()


def launch(pw: Any, executable: Path, config: UiConnectorConfig) -> tuple[Any, Any, Any]:
    """(browser, context, page): Chromium started on the driver ``pw``, with the config's timeouts. Raises
    Playwright's Error when it cannot start, having closed what it had started."""
    from playwright.sync_api import Error

    browser = context = None
    try:
        browser = pw.chromium.launch(executable_path=str(executable), headless=config.browser.headless,
                                     args=[*CHROMIUM_ARGS, *config.browser.args])
        context = browser.new_context()
        ms = config.timeout * 1000
        context.set_default_timeout(ms)
        context.set_default_navigation_timeout(ms)
        return browser, context, context.new_page()
    except Error:
        close_quietly(context, browser)
        raise


def close_quietly(*objs: Any) -> None:
    """Close each of ``objs`` that is not None (pages, contexts, browsers), ignoring errors."""
    for obj in objs:
        if obj is not None:
            with contextlib.suppress(Exception):  # closing a dead browser must not mask the real error
                obj.close()


# ------------------------------------------------------------------------------------------------- steps
def classify(exc: Exception, timeout: float) -> Failed:
    """What a failure of Playwright means: a timeout, or a navigation that found no server or a crashed browser,
    is ``unavailable`` (retry later); any other error of Playwright is a problem of the config or the system.
    Anything that is not Playwright's is raised again."""
    from playwright.sync_api import Error
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if isinstance(exc, Failed):
        return exc
    if isinstance(exc, PlaywrightTimeout):
        return Failed(f"timed out after {timeout:g} s ({first_line(exc.message)})", True)
    if isinstance(exc, Error):
        msg = first_line(exc.message)
        gone = any(s in msg for s in ("net::", "NS_ERROR", "closed", "crash", "disconnected",
                                      "context was destroyed"))
        return Failed(msg, gone)
    raise exc


def goto(page: Any, url: str) -> None:
    """Open ``url``; an answer of 4xx fails (5xx and 429: unavailable)."""
    response = page.goto(url)
    if response is not None and response.status >= 400:
        status = response.status
        raise Failed(f"HTTP {status} for {urlsplit(response.url).path}", status >= 500 or status == 429)


def run_step(page: Any, step: Any, values: Mapping[str, str], base_url: str) -> None:
    """Do one configured step, its placeholders filled from ``values``."""
    kind = step_kind(step)
    if kind == "goto":
        goto(page, urljoin(base_url, substitute(step.goto, values, url=True)))
    elif kind == "fill":
        page.fill(substitute(step.fill.selector, values), substitute(step.fill.value, values))
    elif kind == "click":
        page.click(substitute(step.click, values))
    elif kind == "wait_for":
        page.wait_for_selector(substitute(step.wait_for, values))
    elif kind == "wait_for_url":
        page.wait_for_url(substitute(step.wait_for_url, values))
    elif kind == "press":
        page.press(substitute(step.press.selector, values), step.press.key)
    else:
        page.select_option(substitute(step.select.selector, values), substitute(step.select.value, values))


# ------------------------------------------------------------------------------------------------- the login
def log_in(page: Any, config: UiConnectorConfig, values: Mapping[str, str]) -> None:
    """Run the login steps. With ``login_error`` configured, a waiting step also watches for it, and the login is
    rejected (not unavailable) as soon as it shows. Raises StepFailed naming the step that failed."""
    error = config.login_error
    for n, step in enumerate(config.login, 1):
        what = f"login {describe_step(n, step)}"
        try:
            if isinstance(step, WaitForStep) and error:
                proof = substitute(step.wait_for, values)
                page.locator(proof).or_(page.locator(error)).first.wait_for()
                if page.locator(proof).count() == 0:
                    raise Failed(_login_refusal(page, error), False)
            else:
                run_step(page, step, values, config.base_url)
        except Exception as exc:  # classified below; anything else is re-raised
            failure = classify(exc, config.timeout)
            if error and not failure.reason.startswith("login rejected") and _visible(page, error):
                failure = Failed(_login_refusal(page, error), False)
            raise StepFailed(what, failure) from None


def _visible(page: Any, selector: str) -> bool:
    try:
        return page.locator(selector).count() > 0
    except Exception:
        return False


def _login_refusal(page: Any, error: str) -> str:
    try:
        shown = " ".join(page.locator(error).first.inner_text(timeout=1000).split())[:200]
    except Exception:
        shown = ""
    return f"login rejected on {urlsplit(page.url).path}" + (f": the page says '{shown}'" if shown else "") + \
        "; check the credentials"


# ------------------------------------------------------------------------------------------------- the page JS
# One round-trip per list page: every field of every row, each row's detail link, the next page's link, and per
# field how many rows had it (a field found in no row means a wrong selector, not missing data).
READ_ROWS_JS = """(rows, a) => {
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

#: The detail page's fields, each by its selector and attribute (null: the text).
READ_DETAIL_JS = """(a) => a.map(([sel, attr]) => {
  const el = document.querySelector(sel);
  return el === null ? null : attr === null ? el.innerText.trim() : el.getAttribute(attr);
})"""


def js_fields(fields: Mapping[str, Any]) -> tuple[list[str], list[list[str | None]]]:
    """The names of the fields a page shows (constants left out), and their [selector, attribute] for the JS."""
    names, specs = [], []
    for name, spec in fields.items():
        if isinstance(spec, FieldConst):
            continue
        names.append(name)
        specs.append([spec, None] if isinstance(spec, str) else [spec.selector, spec.attr])
    return names, specs
