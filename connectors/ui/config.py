"""The UI robot's config (``kind: ui`` in schedules.yaml's ``connectors:``): steps, entities, write-back.

Checked in full when schedules.yaml loads: placeholders allowed per section (``{password}`` only in a fill step's
value), a login that ends by waiting for proof that it worked, known field names and a selector for every required
field. The connector itself is :mod:`connectors.ui.connector`; the reference is docs/connectors.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import Discriminator, Field, PositiveFloat, PositiveInt, Tag, field_validator, model_validator

from connectors.base import FIELDS, OPTIONAL_FIELDS
from robots.support.config_types import Frozen, Identifier, SecretRef

#: Chromium flags that work with Debian's chromium in a container and keep it off the network (docs: NOTES.md).
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")
DEFAULT_CHROMIUM = "/usr/bin/chromium"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ACTIONS = {"block_shipments": ("counterparty_id", "contract_id", "reason"),
            "unblock_shipments": ("counterparty_id", "contract_id", "reason"),
            "post_note": ("counterparty_id", "contract_id", "text")}


# ------------------------------------------------------------------------------------------------- config
class FillArgs(Frozen):
    selector: str
    value: str


class PressArgs(Frozen):
    selector: str
    key: str


class SelectArgs(Frozen):
    selector: str
    value: str


class GotoStep(Frozen):
    """Open a URL, relative to ``base_url``; placeholders in it are URL-quoted."""
    goto: str


class FillStep(Frozen):
    fill: FillArgs


class ClickStep(Frozen):
    click: str


class WaitForStep(Frozen):
    """Wait until the selector is visible."""
    wait_for: str


class WaitForUrlStep(Frozen):
    """Wait until the page's URL matches (a glob such as ``**/invoices*``)."""
    wait_for_url: str


class PressStep(Frozen):
    press: PressArgs


class SelectStep(Frozen):
    select: SelectArgs


_STEP_KINDS = {"goto": GotoStep, "fill": FillStep, "click": ClickStep, "wait_for": WaitForStep,
               "wait_for_url": WaitForUrlStep, "press": PressStep, "select": SelectStep}


def _step_tag(v: Any) -> str | None:
    if isinstance(v, Mapping):
        return next(iter(v)) if len(v) == 1 and next(iter(v)) in _STEP_KINDS else None
    return step_kind(v) if isinstance(v, tuple(_STEP_KINDS.values())) else None


Step = Annotated[
    Annotated[GotoStep, Tag("goto")] | Annotated[FillStep, Tag("fill")] | Annotated[ClickStep, Tag("click")]
    | Annotated[WaitForStep, Tag("wait_for")] | Annotated[WaitForUrlStep, Tag("wait_for_url")]
    | Annotated[PressStep, Tag("press")] | Annotated[SelectStep, Tag("select")],
    Discriminator(_step_tag, custom_error_type="step_kind",
                  custom_error_message=f"a step is a mapping with exactly one key of: {', '.join(_STEP_KINDS)}"),
]


def step_kind(step: Any) -> str:
    """The step's kind: goto, fill, click, wait_for, wait_for_url, press or select."""
    return next(iter(type(step).model_fields))


def step_selector(step: Any) -> str:
    """The selector (or URL) the step acts on: what a message shows, never the value typed."""
    arg = getattr(step, step_kind(step))
    return arg if isinstance(arg, str) else arg.selector


def describe_step(n: int, step: Any) -> str:
    """How messages name the ``n``-th step (1-based): its kind and selector, never the value it types."""
    return f"step {n} ({step_kind(step)} '{step_selector(step)}')"


class FieldSelector(Frozen):
    """A CSS selector relative to the row (or the detail page); ``attr`` reads that attribute instead of the text."""
    selector: str
    attr: str | None = None


class FieldConst(Frozen):
    const: str | int


FieldSpec = str | FieldSelector | FieldConst


class DetailConfig(Frozen):
    """Open each row's link (``link``: CSS inside the row) and read more fields there (CSS on the whole page)."""
    link: str
    fields: dict[str, FieldSpec]
    wait_for: str | None = None


class UiEntityConfig(Frozen):
    steps: tuple[Step, ...] = ()
    rows: str
    fields: dict[str, FieldSpec]
    #: A selector waited for (visible) on every list page before it is read; use it when rows render late.
    wait_for: str | None = None
    #: A link (``href``, followed) or a button (clicked; it must navigate) to the next page; absent on the last.
    next_page: str | None = None
    detail: DetailConfig | None = None
    #: An empty first page is a Problem (usually a wrong ``rows`` selector) unless the table may be empty.
    allow_empty: bool = False
    max_pages: PositiveInt = 10_000


class BrowserConfig(Frozen):
    executable_path: Path | None = None  # default: $ARBOTS_CHROMIUM, else /usr/bin/chromium
    headless: bool = True
    args: tuple[str, ...] = ()  # added to CHROMIUM_ARGS


class UiCredentials(SecretRef):
    username: str = ""
    password_env: str | None = None
    password_file: Path | None = None


class UiWriteBackConfig(Frozen):
    block_shipments: tuple[Step, ...] | None = None
    unblock_shipments: tuple[Step, ...] | None = None
    post_note: tuple[Step, ...] | None = None


class UiConnectorConfig(Frozen):
    """``kind: ui`` in ``schedules.yaml``'s ``connectors:``; see the module docstring and docs/connectors.md."""

    id: Identifier
    kind: Literal["ui"]
    base_url: str
    browser: BrowserConfig = BrowserConfig()
    timeout: PositiveFloat = 10.0  # seconds, per step
    credentials: UiCredentials | None = None
    login: tuple[Step, ...] = ()
    #: A selector the login page shows when the login is refused (``.error``): a Problem instead of a timeout.
    login_error: str | None = None
    entities: dict[Literal["counterparties", "contracts", "invoices", "payments"], UiEntityConfig] = \
        Field(min_length=1)
    write_back: UiWriteBackConfig | None = None
    #: A Playwright trace of each entity and write-back action, kept only when it fails: "actions" (steps, network,
    #: console: about +7 % reading time), "snapshots" (also the DOM around every step: about +40 %), or "off".
    trace: Literal["off", "actions", "snapshots"] = "actions"

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"https?://[^/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v if v.endswith("/") else v + "/"

    @model_validator(mode="after")
    def _check(self) -> UiConnectorConfig:
        errors: list[str] = []
        errors += _check_steps("login", self.login, {"username", "password"})
        if self.login and not isinstance(self.login[-1], WaitForStep | WaitForUrlStep):
            errors.append("login: the last step must be wait_for or wait_for_url (what proves the login worked)")
        if any("{password}" in _step_texts(s)[1] for s in self.login) and self.credentials is None:
            errors.append("login uses {password} but no credentials are given")
        for entity, spec in self.entities.items():
            errors += _check_steps(f"entities.{entity}.steps", spec.steps, set())
            detail = spec.detail.fields if spec.detail else {}
            for where, names in ((f"entities.{entity}.fields", spec.fields),
                                 (f"entities.{entity}.detail.fields", detail)):
                unknown = [f for f in names if f not in FIELDS[entity]]
                if unknown:
                    errors.append(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                  f"{entity} has {', '.join(FIELDS[entity])}")
            both = sorted(set(spec.fields) & set(detail))
            if both:
                errors.append(f"entities.{entity}: {', '.join(both)} both in fields and in detail.fields")
            missing = [f for f in FIELDS[entity] if f not in OPTIONAL_FIELDS[entity] and f not in spec.fields
                       and f not in detail]
            if missing:
                errors.append(f"entities.{entity}: no selector for the required field{'s' if len(missing) > 1 else ''}"
                              f" {', '.join(missing)}")
            if any(isinstance(f, FieldConst) for f in detail.values()):
                errors.append(f"entities.{entity}.detail.fields: put const fields in fields")
        for action, names in _ACTIONS.items():
            steps = getattr(self.write_back, action) if self.write_back else None
            if steps is not None:
                if not steps:
                    errors.append(f"write_back.{action}: no steps")
                errors += _check_steps(f"write_back.{action}", steps, set(names))
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _step_texts(step: Any) -> tuple[str, str]:
    """(where placeholders are URL-quoted or inert, where they are typed as is)."""
    arg = getattr(step, step_kind(step))
    if isinstance(arg, str):
        return arg, ""
    return arg.selector, getattr(arg, "value", "")


def _check_steps(where: str, steps: tuple[Any, ...], allowed: set[str]) -> list[str]:
    errors = []
    for n, step in enumerate(steps, 1):
        target, value = _step_texts(step)
        for text, part in ((target, "its selector or URL"), (value, "its value")):
            for name in _PLACEHOLDER.findall(text):
                if name == "password" and part != "its value":
                    errors.append(f"{where}[{n}]: {{password}} may only be typed by a fill step's value")
                elif name not in allowed:
                    known = ", ".join(f"{{{a}}}" for a in sorted(allowed)) or "none"
                    errors.append(f"{where}[{n}]: unknown placeholder {{{name}}} in {part}; allowed here: {known}")
    return errors


def substitute(text: str, values: Mapping[str, str], url: bool = False) -> str:
    """``text`` with its placeholders replaced by ``values`` (URL-quoted with ``url``); unknown ones stay."""
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            return m.group(0)
        v = values[m.group(1)]
        return quote(v, safe="") if url else v
    return _PLACEHOLDER.sub(one, text)
