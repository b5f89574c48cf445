"""The REST connector's config (``kind: rest`` in schedules.yaml's ``connectors:``): auth, paging, entities and their
field mappings, write-back requests and their placeholders; presets are merged in before validation. The connector is
:mod:`connectors.rest.connector`; the reference is docs/connectors.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from connectors.base import ENTITIES, FIELDS, OPTIONAL_FIELDS
from connectors.presets import apply_preset
from connectors.rest.mapping.entity import EntityMapping
from connectors.rest.mapping.fields import FieldExpr
from connectors.rest.mapping.paths import compile_path
from robots.support.config_types import Frozen, Identifier, SecretRef


class BasicAuth(SecretRef):
    username: str
    password_env: str | None = None
    password_file: Path | None = None


class BearerAuth(SecretRef):
    token_env: str | None = None
    token_file: Path | None = None


class ApiKeyAuth(SecretRef):
    header: str = "X-API-Key"
    key_env: str | None = None
    key_file: Path | None = None


class FormLogin(SecretRef):
    """POST a login form (relative to base_url), follow the redirect and keep the session cookie."""

    url: str = "login"
    username_field: str = "username"
    password_field: str = "password"
    username: str
    password_env: str | None = None
    password_file: Path | None = None


class AuthConfig(Frozen):
    basic: BasicAuth | None = None
    bearer: BearerAuth | None = None
    api_key: ApiKeyAuth | None = None
    form_login: FormLogin | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if sum(v is not None for _, v in self) != 1:
            raise ValueError("give exactly one of basic, bearer, api_key, form_login")
        return self


class TimeoutConfig(Frozen):
    """Seconds: to connect, and to wait for each read (and write) of an answer."""

    connect: float = Field(5.0, gt=0)
    read: float = Field(30.0, gt=0)


class RetryConfig(Frozen):
    """``attempts`` in all (1 = no retry); waits grow from ``backoff`` seconds, doubling, at most ``max_backoff``."""

    attempts: int = Field(5, ge=1, le=50)
    backoff: float = Field(0.5, ge=0)
    max_backoff: float = Field(30.0, ge=0)


class TlsConfig(Frozen):
    verify: bool = True
    #: PEM file of the CA that signed the server's certificate (a private CA), relative to schedules.yaml.
    ca_bundle: Path | None = None

    @model_validator(mode="after")
    def _bundle_needs_verify(self):
        if self.ca_bundle is not None and not self.verify:
            raise ValueError("ca_bundle is given but verify is false; drop one of them")
        return self


class OffsetPaging(Frozen):
    """``$top``/``$skip`` style. ``size`` must not exceed the server's largest page: a short page ends paging."""

    kind: Literal["offset"]
    limit_param: str = "$top"
    offset_param: str = "$skip"
    size: int = Field(1000, ge=1)


class PagePaging(Frozen):
    kind: Literal["page"]
    page_param: str = "page"
    size_param: str | None = "per_page"
    size: int = Field(100, ge=1)
    first: int = Field(1, ge=0)


class CursorPaging(Frozen):
    kind: Literal["cursor"]
    cursor_param: str = "cursor"
    #: Path in the answer to the next cursor; null, empty or absent ends paging.
    next: str = "next_cursor"
    size_param: str | None = "limit"
    size: int | None = Field(500, ge=1)


class NextLinkPaging(Frozen):
    kind: Literal["next_link"]
    #: Path in the answer to the next page's URL (absolute, or relative to the current one); null ends paging.
    next: str = "links.next"


class NoPaging(Frozen):
    kind: Literal["none"] = "none"


Paging = Annotated[OffsetPaging | PagePaging | CursorPaging | NextLinkPaging | NoPaging, Field(discriminator="kind")]
ParamValue = str | int | float | bool | Decimal


class IncrementalConfig(Frozen):
    """Ask only for records changed since the last sync: ``param=<max of field>``; every ``full_every``-th fetch
    asks for everything (that is when deleted records disappear)."""

    param: str
    field: str
    full_every: int = Field(24, ge=1)
    #: Path of the record's unique key in the raw record; default: the entity's ``id`` field. Needed with explode.
    key: str | None = None


class ReconcileRequest(Frozen):
    """How to ask this source for one contract's payments only (the ``reconcile`` step's fresh read): ``params``
    added to the source's own (``{contract_id: "{contract_id}"}``), and optionally another ``path``. The
    placeholder {contract_id} is URL-quoted in ``path`` and substituted as text in ``params``. Records of other
    contracts in the answer are dropped, so a server that ignores the filter is only slower, never wrong."""

    path: str | None = None
    params: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self):
        for text in _strings([self.path, self.params]):
            unknown = set(_PLACEHOLDER_RE.findall(text)) - {"contract_id"}
            if unknown:
                raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in '{text}'; the only one here is "
                                 "{contract_id}")
        if not self.params and self.path is None:
            raise ValueError("give params (e.g. {contract_id: \"{contract_id}\"}) or a path that names the contract")
        return self


class EntityConfig(Frozen):
    """One source of an entity's records: a path, how to page through it and how to map its records."""

    path: str
    params: dict[str, ParamValue] = {}
    records: str | None = None
    columns: str | None = None
    paging: Paging = NoPaging()
    explode: str | None = None
    where: dict[str, Any] = {}
    fields: dict[str, FieldExpr]
    incremental: IncrementalConfig | None = None
    #: Payments only: how to read one contract's payments (else the reconcile step reads this source in full).
    reconcile: ReconcileRequest | None = None


#: An entity read from one path, or from several (sales and credit notes) whose records are concatenated.
EntitySources = EntityConfig | Annotated[list[EntityConfig], Field(min_length=1)]


class WriteAction(Frozen):
    """One write-back request. Placeholders {counterparty_id} {contract_id} {reason} {text}: URL-quoted in
    ``path``, substituted as text in ``json``/``params``/``form`` (a JSON value that is only ``{contract_id}``
    becomes null when there is no contract)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str
    json_: Any = Field(None, alias="json")
    params: dict[str, str] = {}
    form: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self):
        if self.json_ is not None and self.form:
            raise ValueError("give json or form, not both")
        for text in _strings([self.path, self.json_, self.params, self.form]):
            unknown = set(_PLACEHOLDER_RE.findall(text)) - set(PLACEHOLDERS)
            if unknown:
                raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in '{text}'; known: "
                                 + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
        return self


class WriteBackConfig(Frozen):
    block_shipments: WriteAction | None = None
    unblock_shipments: WriteAction | None = None
    post_note: WriteAction | None = None


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class RestConnectorConfig(Frozen):
    """``kind: rest`` in schedules.yaml's ``connectors:`` list (docs/connectors.md)."""

    id: Identifier
    kind: Literal["rest"]
    preset: str | None = None
    base_url: str
    auth: AuthConfig | None = None
    headers: dict[str, str] = {}
    timeout: TimeoutConfig = TimeoutConfig()
    retries: RetryConfig = RetryConfig()
    tls: TlsConfig = TlsConfig()
    empty_values: tuple[str | int, ...] = ()
    date_formats: tuple[str, ...] = ()
    #: HTTP statuses that are not retried but reported as the entity's problem with the server's message, for a
    #: server that answers a bad query with a 5xx (Fava: HTTP 500 {"error": "Query parse error..."}).
    permanent_statuses: tuple[int, ...] = ()
    entities: dict[str, EntitySources] = Field(min_length=1)
    write_back: WriteBackConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        return apply_preset(data)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"'{v}' is not an http(s) URL such as http://erp.local:8780/api/v1/")
        if parts.username or parts.password:
            raise ValueError("the URL must not hold a user or password; use auth with *_env or *_file")
        return v if v.endswith("/") else v + "/"  # so that relative paths stay below it

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        secret = sorted(h for h in v if h.lower() in _SECRET_HEADERS)
        if secret:
            raise ValueError(f"header {secret[0]} carries a secret; configure it under auth (with *_env or *_file)")
        return v

    @field_validator("date_formats")
    @classmethod
    def _formats(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for fmt in v:
            if "%" not in fmt:
                raise ValueError(f"'{fmt}' is not a strptime format (e.g. %d.%m.%Y %H:%M)")
        return v

    @field_validator("permanent_statuses")
    @classmethod
    def _statuses(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        for status in v:
            if not 400 <= status <= 599:
                raise ValueError(f"{status} is not an HTTP error status (400 to 599)")
        return v

    @model_validator(mode="after")
    def _entities(self):
        errors = []
        for entity, value in self.entities.items():
            if entity not in ENTITIES:
                errors.append(f"entities.{entity}: unknown entity; use any of {', '.join(ENTITIES)}")
                continue
            many = isinstance(value, list)
            for n, e in enumerate(sources_of(self, entity), 1):
                at = f"entities.{entity}[{n}]" if many else f"entities.{entity}"
                missing = [f for f in FIELDS[entity] if f not in e.fields and f not in OPTIONAL_FIELDS[entity]]
                if missing:
                    errors.append(f"{at}.fields: missing {', '.join(missing)}")
                if e.reconcile is not None and entity != "payments":
                    errors.append(f"{at}.reconcile: only payments are re-read before sending; remove it here")
                try:
                    mapping_for(self, entity, e)
                    if e.incremental is not None:
                        key_expr(e)
                        compile_path(e.incremental.field)
                except ValueError as exc:
                    errors.append(f"{at}: {exc}")
        if errors:
            raise ValueError("; ".join(errors))
        return self


def sources_of(config: RestConnectorConfig, entity: str) -> tuple[EntityConfig, ...]:
    """The sources of one entity, in order (one, unless the entity is given as a list)."""
    value = config.entities[entity]
    return tuple(value) if isinstance(value, list) else (value,)


def mapping_for(config: RestConnectorConfig, entity: str, e: EntityConfig) -> EntityMapping:
    return EntityMapping(entity, e.fields, records=e.records, columns=e.columns, explode=e.explode, where=e.where,
                         empty_values=config.empty_values, date_formats=config.date_formats)


def key_expr(e: EntityConfig) -> str:
    """The path of an incremental source's unique record key: ``incremental.key``, else the plain path of the ``id``
    field; ValueError when neither will do."""
    assert e.incremental is not None
    if e.incremental.key is not None:
        return e.incremental.key
    expr = e.fields.get("id")
    if e.explode or not isinstance(expr, str) or expr.startswith("^."):
        raise ValueError("incremental.key is needed (the path of the raw record's unique key): the id field is "
                         "not a plain path of the raw record")
    return expr


PLACEHOLDERS = ("counterparty_id", "contract_id", "reason", "text")
_PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(template: Any, values: Mapping[str, str | None], encode: Callable[[str], str], *,
         json_nulls: bool = False) -> Any:
    """Substitute the placeholders in every string of ``template`` (keys included), each value through ``encode``;
    with ``json_nulls``, a string that is one placeholder whose value is None becomes None."""
    if isinstance(template, str):
        if json_nulls:
            whole = _PLACEHOLDER_RE.fullmatch(template)
            if whole and values.get(whole.group(1)) is None:
                return None
        return _PLACEHOLDER_RE.sub(lambda m: encode(values.get(m.group(1)) or ""), template)
    if isinstance(template, Mapping):
        return {fill(k, values, encode): fill(v, values, encode, json_nulls=json_nulls)
                for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return [fill(v, values, encode, json_nulls=json_nulls) for v in template]
    return template


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


