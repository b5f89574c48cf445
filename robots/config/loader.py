"""Load schedules.yaml and the scenarios it names into one frozen :class:`Config`, or report every problem.

All problems are collected and raised together as one :class:`~robots.errors.ConfigError`, each line saying
file, line, YAML path and what to do, e.g.
``schedules.yaml:42 groups.default.columns[3].offset: must be greater than columns[2].offset (10)``.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from sqlalchemy.engine import make_url

from robots.config.models import Paths, ScenarioConfig, Settings
from robots.config.yamlsource import Loc, Problem, YamlSource
from robots.domain import AgingPolicy, Column, GroupSchedule
from robots.errors import ConfigError
from robots.steps import REGISTRY, StepConfig
from robots.steps.base import CheckContext

SECRET_KEY = re.compile(r"(password|passwd|passphrase|pin|secret|token|api_?key)$", re.IGNORECASE)


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    steps: tuple[StepConfig, ...]
    source: str


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    scenarios: Mapping[str, Scenario]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def archive_dir(self) -> Path:
        return self.resolve(self.settings.paths.archive)

    @property
    def work_dir(self) -> Path:
        return self.resolve(self.settings.paths.work)

    @property
    def templates_dir(self) -> Path:
        return self.resolve(self.settings.paths.templates)

    def database_url(self, environ: Mapping[str, str] = os.environ) -> str:
        db = self.settings.database
        if db.url_env:
            url = environ.get(db.url_env)
            if not url:
                raise ConfigError(f"environment variable {db.url_env} (database.url_env) is not set")
        else:
            url = db.url or "sqlite:///var/arbots.db"
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            parsed = parsed.set(database=str(self.resolve(Path(parsed.database))))
        return parsed.render_as_string(hide_password=False)

    def policy(self) -> AgingPolicy:
        s = self.settings
        groups = {
            name: GroupSchedule(
                name=name,
                days=g.days,
                columns=tuple(Column(c.id, c.offset, c.scenario, c.title) for c in g.columns),
            )
            for name, g in s.groups.items()
        }
        return AgingPolicy(
            groups=groups,
            tolerance=s.aging.tolerance,
            catch_up=s.aging.catch_up,
            rearm_on_due_date_change=s.aging.rearm_on_due_date_change,
        )


def load_config(path: Path) -> Config:
    """Load and check everything; raise ConfigError listing every problem found."""
    path = Path(path).resolve()
    src, problems = YamlSource.load(path)
    if src is None:
        raise _error(problems)
    problems += _secret_problems(src, src.data, ())
    if not isinstance(src.data, CommentedMap):
        raise _error([src.problem((), "the top level must be a mapping of keys (company:, groups:, ...)")])
    raw = _plain(src.data)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        problems += src.validation_problems(exc, Settings)
    # The checks below read the raw document, so they report alongside schema errors elsewhere in the file:
    # one round of fixes is enough.
    paths = settings.paths if settings else _raw_paths(raw)
    roles = frozenset(settings.roles) if settings else frozenset(_mapping(raw.get("roles")))
    scenarios_dir = _resolve(path.parent, paths.scenarios)
    scenarios, scenario_problems = _load_scenarios(scenarios_dir, _resolve(path.parent, paths.templates), roles)
    problems += scenario_problems
    problems += _group_problems(src, raw, scenarios, scenarios_dir, problems)
    if settings is not None:
        problems += _settings_problems(src, settings, path.parent)
    if problems:
        raise _error(problems)
    assert settings is not None
    return Config(path=path, settings=settings, scenarios=scenarios)


def _error(problems: list[Problem]) -> ConfigError:
    ordered = sorted(problems, key=lambda p: ("/" in p.file, p.file, p.line or 0))
    lines = tuple(str(p) for p in ordered)
    n = len(lines)
    head = f"{n} problem{'s' if n != 1 else ''} in the configuration; nothing was done:"
    return ConfigError("\n".join((head, *("  " + line for line in lines))), lines)


def _resolve(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else base / p


def _plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (pydantic validates those)."""
    if isinstance(node, CommentedMap):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    return node


def _secret_problems(src: YamlSource, node: Any, loc: Loc) -> list[Problem]:
    """Secrets only by reference: a key like ``password:`` with a value is refused wherever it stands."""
    problems: list[Problem] = []
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            here = loc + (key,)
            if isinstance(key, str) and SECRET_KEY.search(key) and value not in (None, ""):
                problems.append(
                    src.problem(
                        here,
                        f"secrets are never written in the config; put it in an environment variable and write "
                        f"{key}_env: VAR_NAME, or in a file readable only by arbots and write {key}_file: PATH",
                    )
                )
            else:
                problems += _secret_problems(src, value, here)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            problems += _secret_problems(src, value, loc + (i,))
    return problems


def _settings_problems(src: YamlSource, s: Settings, base: Path) -> list[Problem]:
    problems: list[Problem] = []
    ids = [c.id for c in s.connectors]
    for i, cid in enumerate(ids):
        if cid in ids[:i]:
            problems.append(src.problem(("connectors", i, "id"), f"connector id {cid!r} is used twice"))
    if s.database.url and s.database.url_env:
        problems.append(src.problem(("database",), "give either url or url_env, not both"))
    if s.database.url:
        try:
            if make_url(s.database.url).password:
                problems.append(src.problem(("database", "url"), "the URL contains a password; put the whole URL "
                                                                  "in an environment variable and write url_env: VAR"))
        except Exception as exc:  # sqlalchemy raises ArgumentError for malformed URLs
            problems.append(src.problem(("database", "url"), f"not a database URL: {exc}"))
    try:
        zoneinfo.ZoneInfo(s.daemon.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(src.problem(("daemon", "timezone"), f"unknown time zone {s.daemon.timezone!r}; "
                                                            "write e.g. Europe/Moscow"))
    from apscheduler.triggers.cron import CronTrigger

    for i, tick in enumerate(s.daemon.ticks):
        try:
            CronTrigger.from_crontab(tick.cron)
        except ValueError as exc:
            problems.append(src.problem(("daemon", "ticks", i, "cron"), f"not a crontab line ({exc}); "
                                                                        "write e.g. '0 8 * * mon-fri'"))
    import holidays

    if s.calendar.country not in holidays.list_supported_countries():
        problems.append(src.problem(("calendar", "country"), f"unknown country {s.calendar.country!r}; write an "
                                                             "ISO code such as RU"))
    templates = _resolve(base, s.paths.templates)
    if not templates.is_dir():
        problems.append(src.problem(("paths", "templates"), f"folder not found: {templates}"))
    return problems


def _load_scenarios(folder: Path, templates: Path, roles: frozenset[str]) -> tuple[dict[str, Scenario], list[Problem]]:
    problems: list[Problem] = []
    scenarios: dict[str, Scenario] = {}
    if not folder.is_dir():
        return {}, [Problem("schedules.yaml", None, "paths.scenarios", f"folder not found: {folder}")]
    check = CheckContext(templates_dir=templates, roles=roles)
    for file in sorted(folder.glob("*.yaml")):
        name = f"{folder.name}/{file.name}"
        src, found = YamlSource.load(file, name)
        problems += found
        if src is None:
            continue
        problems += _secret_problems(src, src.data, ())
        raw = _plain(src.data)
        if not isinstance(raw, dict):
            problems.append(src.problem((), "a scenario file is a mapping with id, title and steps"))
            continue
        raw.setdefault("id", file.stem)
        try:
            sc = ScenarioConfig.model_validate(raw)
        except ValidationError as exc:
            problems += src.validation_problems(exc, ScenarioConfig)
            continue
        if sc.id != file.stem:
            problems.append(src.problem(("id",), f"id {sc.id!r} must match the file name {file.stem!r}"))
        steps, step_problems = _load_steps(src, sc.steps, check)
        problems += step_problems
        scenarios[sc.id] = Scenario(id=sc.id, title=sc.title, steps=steps, source=name)
    return scenarios, problems


def _mapping(node: Any) -> dict[Any, Any]:
    return node if isinstance(node, dict) else {}


def _raw_paths(raw: dict[str, Any]) -> Paths:
    """The paths section as far as it is valid, for checks that run although the schema failed elsewhere."""
    try:
        return Paths.model_validate(_mapping(raw.get("paths")))
    except ValidationError:
        return Paths()


def _group_problems(src: YamlSource, raw: dict[str, Any], scenarios: Mapping[str, Scenario], scenarios_dir: Path,
                    found: list[Problem]) -> list[Problem]:
    """Column order, duplicate ids, the default group and scenario references, read from the raw document."""
    problems: list[Problem] = []
    groups = _mapping(raw.get("groups"))
    if "groups" in raw and "default" not in groups:
        problems.append(src.problem(("groups",), "a group named 'default' is required: counterparties without a "
                                                 "group (or with an empty one) age by it"))
    for gname, group in groups.items():
        columns = _mapping(group).get("columns")
        if not isinstance(columns, list):
            continue
        seen: dict[Any, int] = {}
        prev: tuple[int, int] | None = None
        for i, col in enumerate(columns):
            col = _mapping(col)
            loc = ("groups", gname, "columns", i)
            cid, offset, scenario = col.get("id"), col.get("offset"), col.get("scenario")
            if isinstance(cid, str) and cid in seen:
                problems.append(src.problem(loc + ("id",), f"column id {cid!r} is used twice in this group "
                                                           f"(also columns[{seen[cid]}])"))
            if isinstance(cid, str):
                seen.setdefault(cid, i)
            if isinstance(offset, int) and not isinstance(offset, bool):
                if prev is not None and offset <= prev[1]:
                    problems.append(src.problem(loc + ("offset",), f"must be greater than columns[{prev[0]}].offset "
                                                                   f"({prev[1]}): columns are listed in increasing "
                                                                   "order"))
                prev = (i, offset)
            if isinstance(scenario, str) and scenario not in scenarios and \
                    not any(p.file.endswith(f"/{scenario}.yaml") for p in found):
                available = ", ".join(sorted(scenarios)) or "none"
                problems.append(src.problem(loc + ("scenario",), f"scenario {scenario!r} not found: there is no "
                                                                 f"{scenarios_dir / (scenario + '.yaml')} "
                                                                 f"(available: {available})"))
    return problems


def _load_steps(src: YamlSource, raw_steps: Iterable[Any], check: CheckContext) -> tuple[tuple[StepConfig, ...],
                                                                                         list[Problem]]:
    problems: list[Problem] = []
    steps: list[StepConfig] = []
    for i, raw in enumerate(raw_steps):
        loc: Loc = ("steps", i)
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if kind not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            what = f"unknown step kind {kind!r}" if kind else "each step needs a kind"
            problems.append(src.problem(loc + (("kind",) if kind else ()), f"{what}; known kinds: {known}"))
            continue
        model = REGISTRY[kind].config
        try:
            step = model.model_validate(raw)
        except ValidationError as exc:
            problems += src.validation_problems(exc, model, loc)
            continue
        for sub_loc, message in step.check(check, tuple(steps)):
            problems.append(src.problem(loc + sub_loc, message))
        steps.append(step)
    ids = [s.id for s in steps if s.id]
    for i, sid in enumerate(ids):
        if sid in ids[:i]:
            problems.append(src.problem(("steps",), f"step id {sid!r} is used twice"))
    return tuple(steps), problems
