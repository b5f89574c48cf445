"""Cross-field checks of schedules.yaml, one per section.

Each check reads its own section, validated on its own, so it runs even when another section of the file has a
schema error: the ops engineer gets every problem in one report and fixes them in one round.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.engine import make_url

from robots.config.alerts import alerts_problems
from robots.config.models import CalendarConfig, DaemonConfig, Database, Paths
from robots.config.yamlsource import Problem, YamlSource
from robots.core.domain import PadesLevel
from signing.config import OfficerConfig, SigningConfig

M = TypeVar("M", bound=BaseModel)


def mapping(node: Any) -> dict[Any, Any]:
    return node if isinstance(node, dict) else {}


def section(model: type[M], raw: Mapping[str, Any], key: str) -> M | None:
    """The section ``key`` as ``model``, its default when absent, None when it is itself invalid."""
    try:
        return model.model_validate(mapping(raw.get(key)) if key in raw else {})
    except ValidationError:
        return None


def resolve(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else base / p


def settings_problems(src: YamlSource, raw: Mapping[str, Any], base: Path) -> list[Problem]:
    problems = _connector_problems(src, raw)
    if (db := section(Database, raw, "database")) is not None:
        problems += _database_problems(src, db)
    if (daemon := section(DaemonConfig, raw, "daemon")) is not None:
        problems += _daemon_problems(src, daemon)
    if (calendar := section(CalendarConfig, raw, "calendar")) is not None:
        problems += _calendar_problems(src, calendar)
    problems += _signing_problems(src, raw)
    problems += [src.problem(path, message) for path, message in alerts_problems(raw)]
    if (paths := section(Paths, raw, "paths")) is not None:
        templates = resolve(base, paths.templates)
        if not templates.is_dir():
            problems.append(src.problem(("paths", "templates"), f"folder not found: {templates}"))
    return problems


def group_problems(src: YamlSource, raw: Mapping[str, Any], scenarios: Mapping[str, Any], scenarios_dir: Path,
                   scenario_files_broken: set[str]) -> list[Problem]:
    """Column order, duplicate ids, the default group and scenario references, read from the raw document."""
    problems: list[Problem] = []
    groups = mapping(raw.get("groups"))
    if "groups" in raw and "default" not in groups:
        problems.append(src.problem(("groups",), "a group named 'default' is required: counterparties without a "
                                                 "group (or with an empty one) age by it"))
    for gname, group in groups.items():
        columns = mapping(group).get("columns")
        if not isinstance(columns, list):
            continue
        seen: dict[str, int] = {}
        prev: tuple[int, int] | None = None
        for i, col in enumerate(columns):
            col = mapping(col)
            loc = ("groups", gname, "columns", i)
            cid, offset, scenario = col.get("id"), col.get("offset"), col.get("scenario")
            if isinstance(cid, str):
                if cid in seen:
                    problems.append(src.problem(loc + ("id",), f"column id {cid!r} is used twice in this group "
                                                               f"(also columns[{seen[cid]}])"))
                seen.setdefault(cid, i)
            if isinstance(offset, int) and not isinstance(offset, bool):
                if prev is not None and offset <= prev[1]:
                    problems.append(src.problem(loc + ("offset",), f"must be greater than columns[{prev[0]}].offset "
                                                                   f"({prev[1]}): columns are listed in increasing "
                                                                   "order"))
                prev = (i, offset)
            if isinstance(scenario, str) and scenario not in scenarios and scenario not in scenario_files_broken \
                    and scenarios_dir.is_dir():
                available = ", ".join(sorted(set(scenarios) | scenario_files_broken)) or "none"
                problems.append(src.problem(loc + ("scenario",), f"scenario {scenario!r} not found: there is no "
                                                                 f"{scenarios_dir / (scenario + '.yaml')} "
                                                                 f"(available: {available})"))
    return problems + _reference_problems(src, raw, scenarios, scenarios_dir, scenario_files_broken)


def _reference_problems(src: YamlSource, raw: Mapping[str, Any], scenarios: Mapping[str, Any], scenarios_dir: Path,
                        broken: set[str]) -> list[Problem]:
    """Event scenarios must exist; a role's deputy must be another role."""
    problems: list[Problem] = []
    for event, scenario in mapping(raw.get("events")).items():
        if (isinstance(scenario, str) and scenario not in scenarios and scenario not in broken
                and scenarios_dir.is_dir()):
            available = ", ".join(sorted(set(scenarios) | broken)) or "none"
            problems.append(src.problem(("events", event), f"scenario {scenario!r} not found: there is no "
                                                           f"{scenarios_dir / (scenario + '.yaml')} "
                                                           f"(available: {available})"))
    roles = mapping(raw.get("roles"))
    for name, role in roles.items():
        deputy = mapping(role).get("deputy")
        if isinstance(deputy, str) and (deputy == name or deputy not in roles):
            why = "a role cannot be its own deputy" if deputy == name else \
                f"there is no role {deputy!r} under roles: (defined: {', '.join(sorted(roles))})"
            problems.append(src.problem(("roles", name, "deputy"), why))
    return problems


def _connector_problems(src: YamlSource, raw: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    connectors = raw.get("connectors")
    if not isinstance(connectors, list):
        return problems
    seen: dict[str, int] = {}
    for i, c in enumerate(connectors):
        cid = mapping(c).get("id")
        if isinstance(cid, str):
            if cid in seen:
                problems.append(src.problem(("connectors", i, "id"),
                                            f"connector id {cid!r} is used twice (also connectors[{seen[cid]}])"))
            seen.setdefault(cid, i)
    provided: set[str] = set()
    for c in connectors:
        provided |= _entities_of(mapping(c))
    missing = [e for e in ("counterparties", "contracts", "invoices", "payments") if e not in provided]
    if missing and provided:
        problems.append(src.problem(("connectors",), f"no connector delivers {', '.join(missing)}; every ledger "
                                                     "needs counterparties, contracts, invoices and payments (add "
                                                     "them to a connector's entities)"))
    return problems


def _entities_of(c: Mapping[str, Any]) -> set[str]:
    """What a raw connector block delivers: its ``entities`` list or mapping, else its preset's, else all four
    (a file connector's default)."""
    entities = c.get("entities")
    if isinstance(entities, list):
        return {e for e in entities if isinstance(e, str)}
    names = set(mapping(entities)) if isinstance(entities, Mapping) else set()
    preset = c.get("preset")
    if isinstance(preset, str):
        try:
            from connectors.presets import load_preset

            names |= set(mapping(load_preset(preset).get("entities")))
        except Exception:  # an unknown preset is reported by the connector's own model
            return {"counterparties", "contracts", "invoices", "payments"}
    if entities is None and preset is None:
        return {"counterparties", "contracts", "invoices", "payments"}
    return names


def _database_problems(src: YamlSource, db: Database) -> list[Problem]:
    problems: list[Problem] = []
    if db.url and db.url_env:
        problems.append(src.problem(("database",), "give either url or url_env, not both"))
    if db.url:
        try:
            if make_url(db.url).password:
                problems.append(src.problem(("database", "url"), "the URL contains a password; put the whole URL "
                                                                  "in an environment variable and write url_env: VAR"))
        except Exception:  # sqlalchemy raises ArgumentError for malformed URLs; its text would echo the URL
            problems.append(src.problem(("database", "url"), "not a database URL; write e.g. "
                                                              "sqlite:///var/arbots.db or postgresql+psycopg://host/db"))
    return problems


def _daemon_problems(src: YamlSource, daemon: DaemonConfig) -> list[Problem]:
    from apscheduler.triggers.cron import CronTrigger

    problems: list[Problem] = []
    try:
        zoneinfo.ZoneInfo(daemon.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(src.problem(("daemon", "timezone"), f"unknown time zone {daemon.timezone!r}; "
                                                            "write e.g. Europe/Moscow"))
    for i, tick in enumerate(daemon.ticks):
        try:
            CronTrigger.from_crontab(tick.cron)
        except ValueError as exc:
            problems.append(src.problem(("daemon", "ticks", i, "cron"), f"not a crontab line ({exc}); "
                                                                        "write e.g. '0 8 * * mon-fri'"))
    for name in type(daemon.housekeeping).model_fields:
        job = getattr(daemon.housekeeping, name)
        if job is None:
            continue
        try:
            CronTrigger.from_crontab(job.cron)
        except ValueError as exc:
            problems.append(src.problem(("daemon", "housekeeping", name), f"not a crontab line ({exc}); "
                                                                          "write e.g. '0 7 * * *'"))
    if daemon.stale_after_seconds < 2 * daemon.heartbeat_seconds:
        problems.append(src.problem(("daemon", "stale_after_seconds"),
                                    f"{daemon.stale_after_seconds:g} s is less than two heartbeats "
                                    f"(daemon.heartbeat_seconds: {daemon.heartbeat_seconds:g}): live daemons would "
                                    "look stale and their ticks be taken over; make it at least "
                                    f"{2 * daemon.heartbeat_seconds:g}"))
    ids = [t.id for t in daemon.ticks]
    for i, tick_id in enumerate(ids):
        if tick_id in ids[:i]:
            problems.append(src.problem(("daemon", "ticks", i, "id"), f"tick id {tick_id!r} is used twice; each "
                                                                      "tick needs its own (trigger tick:<id>)"))
    return problems


def _calendar_problems(src: YamlSource, calendar: CalendarConfig) -> list[Problem]:
    import holidays

    if calendar.country not in holidays.list_supported_countries():
        return [src.problem(("calendar", "country"), f"unknown country {calendar.country!r}; write an ISO code "
                                                     "such as RU")]
    return []


def _signing_problems(src: YamlSource, raw: Mapping[str, Any]) -> list[Problem]:
    """Deputies that exist, levels that have the timestamp authority they need, trust roots for officers."""
    problems: list[Problem] = []
    signing = section(SigningConfig, raw, "signing")
    officers = mapping(raw.get("officers"))
    tsa = signing is not None and signing.timestamp is not None
    if signing is not None:
        if signing.default_level not in (None, PadesLevel.B_B) and not tsa:
            problems.append(src.problem(("signing", "default_level"), needs_tsa(signing.default_level)))
        if signing.timestamp and not signing.timestamp.url.startswith(("http://", "https://")):
            problems.append(src.problem(("signing", "timestamp", "url"), "write an http:// or https:// URL of an "
                                                                         "RFC 3161 timestamp authority"))
        if officers and not signing.trust_roots:
            problems.append(src.problem(("signing",), "officers are configured but signing.trust_roots is empty: "
                                                      "list the root CA certificate files (PEM) their certificates "
                                                      "must chain to, e.g. trust_roots: [pki/root.pem]"))
    for oid, raw_officer in officers.items():
        try:
            officer = OfficerConfig.model_validate(mapping(raw_officer))
        except ValidationError:
            continue  # reported by the schema check
        if officer.deputy is not None:
            if officer.deputy == oid:
                problems.append(src.problem(("officers", oid, "deputy"), "an officer cannot be their own deputy"))
            elif officer.deputy not in officers:
                problems.append(src.problem(("officers", oid, "deputy"), f"no officer {officer.deputy!r} "
                                            f"(officers: {', '.join(sorted(map(str, officers)))})"))
        elif officer.deputy_fallback:
            problems.append(src.problem(("officers", oid, "deputy_fallback"), "is true but no deputy is named"))
        if signing is not None and officer.level not in (None, PadesLevel.B_B) and not tsa:
            problems.append(src.problem(("officers", oid, "level"), needs_tsa(officer.level)))
    return problems


def needs_tsa(level: PadesLevel) -> str:
    return (f"level {level.value} needs a timestamp authority: configure signing.timestamp.url, or use level "
            "B-B")
