"""The UI connector's failure evidence: screenshots, HTML dumps and Playwright traces, scrubbed of the password.

Every failure saves into ``state_dir/failures/NNNN/``: ``screenshot.png`` (the full page), ``page.html``
(``page.content()``), ``trace.zip`` (a Playwright trace of the entity or write-back action that failed: its steps,
network and console, with ``trace: snapshots`` also the DOM around every step; open it with ``playwright
show-trace``) and ``error.txt``. Tracing runs in one chunk per unit of work, exported only when the unit fails;
it starts after the login steps, so the trace never holds the typed password. Should a page show the password
later, it is scrubbed (replaced by ``***``) from the trace and the HTML dump, as from every message. The trace
does record the requests made while it runs, with the session cookie: the failures folder is created private
(0700).
"""

from __future__ import annotations

import contextlib
import html
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus


def secret_forms(secret: str | None) -> list[str]:
    """The secret as a page, a URL, a form body or JSON could spell it, longest first."""
    if not secret:
        return []
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), html.escape(secret),
             html.escape(secret, quote=False), json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    return sorted(forms, key=len, reverse=True)


def first_line(text: str) -> str:
    """The first line of an error message (Playwright's run on with call logs)."""
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


class Evidence:
    """One UI connector's failure evidence: the trace of the unit of work under way, and what a failure saves."""

    def __init__(self, state_dir: Path, trace: str, secret: str | None):
        self.state_dir = Path(state_dir)
        self._trace = trace
        self._forms = secret_forms(secret)
        self._tracing = False
        self._chunk_open = False

    def scrub(self, text: str) -> str:
        """``text`` with every spelling of the secret replaced by ``***``."""
        for form in self._forms:
            text = text.replace(form, "***")
        return text

    def _scrub_zip(self, path: Path) -> None:
        """Rewrite the trace without the password, should a page after the login have shown it."""
        forms = [f.encode() for f in self._forms]
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

    # --- tracing: one chunk per unit of work, exported only when the unit fails
    def start_unit(self, context: Any, title: str) -> None:
        """Trace the unit of work ``title`` (an entity, a write-back action) in ``context``, unless tracing is off."""
        if self._trace == "off" or context is None:
            return
        if not self._tracing:
            context.tracing.start(snapshots=self._trace == "snapshots", screenshots=False, sources=False,
                                  title=title)
            self._tracing = True
        else:
            context.tracing.start_chunk(title=title)
        self._chunk_open = True

    def end_unit(self, context: Any) -> None:
        """Drop the unit's trace: it succeeded, or its failure was saved already."""
        if self._chunk_open:
            self._chunk_open = False
            with contextlib.suppress(Exception):  # a dead browser; the error that killed it is the one to report
                context.tracing.stop_chunk()

    def reset(self) -> None:
        """The browser was closed, and its tracing with it."""
        self._tracing = self._chunk_open = False

    # --- failures
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

    def save(self, page: Any, context: Any, message: str) -> Path:
        """Screenshot, HTML and (after the login) the trace of the current unit, and ``message``: the folder they
        are in. Best effort: what cannot be saved is replaced by a note saying why; OSError when no folder can be
        made."""
        folder = self._failure_dir()
        if page is not None:
            try:
                page.screenshot(path=str(folder / "screenshot.png"), full_page=True, timeout=5000)
            except Exception as e:
                (folder / "screenshot.txt").write_text(f"no screenshot: {self.scrub(first_line(str(e)))}\n")
            try:
                (folder / "page.html").write_text(self.scrub(page.content()), encoding="utf-8")
            except Exception as e:
                (folder / "page.txt").write_text(f"no HTML: {self.scrub(first_line(str(e)))}\n")
        if self._chunk_open:
            self._chunk_open = False
            try:
                context.tracing.stop_chunk(path=str(folder / "trace.zip"))
                self._scrub_zip(folder / "trace.zip")
            except Exception as e:
                (folder / "trace.txt").write_text(f"no trace: {self.scrub(first_line(str(e)))}\n")
        (folder / "error.txt").write_text(message + "\n", encoding="utf-8")
        return folder
