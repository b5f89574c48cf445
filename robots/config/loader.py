"""Load schedules.yaml and the scenarios it names into one frozen :class:`Config`, or report every problem.

All problems are collected and raised together as one :class:`~robots.core.errors.ConfigError`, each line saying
file, line, YAML path and what to do, e.g.
``schedules.yaml:42 groups.default.columns[3].offset: must be greater than columns[2].offset (10)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap
from sqlalchemy.engine import make_url

from robots.config.checks import group_problems, mapping, resolve, section, settings_problems
from robots.config.models import Paths, Settings
from robots.config.scenarios import Scenario, load_scenarios
from robots.config.secrets import secret_problems
from robots.config.yamlsource import Problem, YamlSource, plain
from robots.core.domain import AgingPolicy, Column, GroupSchedule
from robots.core.errors import ConfigError
from robots.core.workdays import WorkCalendar, production_calendar
from robots.steps.base import CheckContext

__all__ = ["Config", "Scenario", "load_config"]


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    scenarios: Mapping[str, Scenario]

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, p: Path) -> Path:
        return resolve(self.base_dir, p)

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
                message = f"environment variable {db.url_env} (database.url_env) is not set"
                raise ConfigError(message, (message,))
        else:
            url = db.url or "sqlite:///var/arbots.db"
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            parsed = parsed.set(database=str(self.resolve(Path(parsed.database))))
        return parsed.render_as_string(hide_password=False)

    def policy(self) -> AgingPolicy:
        s = self.settings
        groups = {
            name: GroupSchedule(name=name, days=g.days,
                                columns=tuple(Column(c.id, c.offset, c.scenario, c.title, c.days or g.days)
                                              for c in g.columns))
            for name, g in s.groups.items()
        }
        return AgingPolicy(groups=groups, tolerance=s.aging.tolerance, catch_up=s.aging.catch_up,
                           rearm_on_due_date_change=s.aging.rearm_on_due_date_change)

    def calendar(self) -> WorkCalendar:
        """The production calendar of ``calendar:`` (country, the company's extra days off and working days)."""
        c = self.settings.calendar
        return production_calendar(c.country, c.extra_non_working_days, c.extra_working_days)


def load_config(path: Path) -> Config:
    """Load and check everything; raise ConfigError listing every problem found."""
    path = Path(path).resolve()
    src, problems = YamlSource.load(path)
    if src is None:
        raise _error(problems)
    if not isinstance(src.data, CommentedMap):
        raise _error([src.problem((), "the top level must be a mapping of keys (company:, groups:, ...)")])
    secrets = secret_problems(src)
    problems += secrets
    raw = plain(src.data)
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        hidden = {p.path for p in secrets}  # a refused secret is not also an "unknown key"
        problems += [p for p in src.validation_problems(exc, Settings) if p.path not in hidden]

    base = path.parent
    paths = section(Paths, raw, "paths") or Paths()
    scenarios_dir = resolve(base, paths.scenarios)
    roles = frozenset(settings.roles if settings else mapping(raw.get("roles")))
    officers = frozenset(settings.officers if settings else mapping(raw.get("officers")))
    tsa = bool(mapping(mapping(raw.get("signing")).get("timestamp")).get("url"))
    loaded = load_scenarios(scenarios_dir, CheckContext(resolve(base, paths.templates), roles, officers, tsa,
                                                                   settings))
    if not scenarios_dir.is_dir():
        problems.append(src.problem(("paths", "scenarios"), f"folder not found: {scenarios_dir}"))
    problems += loaded.problems
    problems += group_problems(src, raw, loaded.scenarios, scenarios_dir, loaded.broken)
    problems += settings_problems(src, raw, base)
    if problems or settings is None:
        raise _error(problems)
    return Config(path=path, settings=settings, scenarios=MappingProxyType(dict(loaded.scenarios)))


def _error(problems: list[Problem]) -> ConfigError:
    ordered = sorted(set(problems), key=lambda p: ("/" in p.file, p.file, p.line or 0, p.path, p.message))
    lines = tuple(str(p) for p in ordered)
    n = len(lines)
    head = f"{n} problem{'s' if n != 1 else ''} in the configuration; nothing was done:"
    return ConfigError("\n".join((head, *("  " + line for line in lines))), lines)
