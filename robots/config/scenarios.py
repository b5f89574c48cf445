"""scenarios/*.yaml: each file one scenario, each step validated against its kind in the step registry."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from robots.config.models import ScenarioConfig
from robots.config.secrets import secret_problems
from robots.config.yamlsource import Loc, Problem, YamlSource, plain
from robots.core.expressions import when_problems
from robots.steps import REGISTRY, StepConfig
from robots.steps.base import CheckContext


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    steps: tuple[StepConfig, ...]
    source: str


@dataclass
class LoadedScenarios:
    scenarios: dict[str, Scenario]
    problems: list[Problem]
    #: Scenario ids whose file exists but is broken (so a column naming them is not also "not found").
    broken: set[str]


def load_scenarios(folder: Path, check: CheckContext) -> LoadedScenarios:
    out = LoadedScenarios({}, [], set())
    for file in sorted(folder.glob("*.yaml")):
        before = len(out.problems)
        scenario = _load_one(file, f"{folder.name}/{file.name}", check, out.problems)
        if scenario is not None and len(out.problems) == before:
            out.scenarios[scenario.id] = scenario
        else:
            out.broken.add(file.stem)
    return out


def _load_one(file: Path, name: str, check: CheckContext, problems: list[Problem]) -> Scenario | None:
    src, found = YamlSource.load(file, name)
    problems += found
    if src is None:
        return None
    problems += secret_problems(src)
    raw = plain(src.data)
    if not isinstance(raw, dict):
        problems.append(src.problem((), "a scenario file is a mapping with id, title and steps"))
        return None
    raw.setdefault("id", file.stem)
    try:
        sc = ScenarioConfig.model_validate(raw)
    except ValidationError as exc:
        problems += src.validation_problems(exc, ScenarioConfig)
        return None
    if sc.id != file.stem:
        problems.append(src.problem(("id",), f"id {sc.id!r} must match the file name {file.stem!r}"))
    steps = _load_steps(src, sc.steps, check, problems)
    return Scenario(id=sc.id, title=sc.title, steps=steps, source=name)


def _load_steps(src: YamlSource, raw_steps: Iterable[Any], check: CheckContext,
                problems: list[Problem]) -> tuple[StepConfig, ...]:
    steps: list[StepConfig] = []
    ids: dict[str, int] = {}
    for i, raw in enumerate(raw_steps):
        loc: Loc = ("steps", i)
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or kind not in REGISTRY:
            known = ", ".join(sorted(REGISTRY))
            if kind is None:
                problems.append(src.problem(loc, f"each step needs a kind; known kinds: {known}"))
            else:
                shown = repr(kind) if isinstance(kind, str) else "that is not a name"
                problems.append(src.problem(loc + ("kind",), f"unknown step kind {shown}; known kinds: {known}"))
            continue
        model = REGISTRY[kind].config
        try:
            step = model.model_validate(raw)
        except ValidationError as exc:
            problems += src.validation_problems(exc, model, loc)
            continue
        if step.when is not None:
            problems += [src.problem(loc + ("when",), message)
                         for message in when_problems(step.when, thresholds(check))]
        for sub_loc, message in step.check(check, tuple(steps)):
            problems.append(src.problem(loc + sub_loc, message))
        if step.id:
            if step.id in ids:
                problems.append(src.problem(loc + ("id",), f"step id {step.id!r} is used twice "
                                                           f"(also steps[{ids[step.id]}])"))
            ids.setdefault(step.id, i)
        steps.append(step)
    problems += _signed_before_use(src, steps)
    return tuple(steps)

def thresholds(check: CheckContext) -> Collection[str] | None:
    """The thresholds schedules.yaml defines, or None when its settings have errors of their own."""
    return None if check.settings is None else check.settings.thresholds


def _signed_before_use(src: YamlSource, steps: list[StepConfig]) -> list[Problem]:
    """A document that a later step signs must not be archived (or sent) before it is signed."""
    problems: list[Problem] = []
    signed_at = {s.signed_document(): i for i, s in enumerate(steps) if s.signed_document() is not None}
    for i, step in enumerate(steps):
        doc = getattr(step, "document", None)
        if not step.handles_unsigned and doc in signed_at and i < signed_at[doc]:
            problems.append(src.problem(("steps", i), f"this {step.kind} step uses document {doc!r} before "
                                                      f"steps[{signed_at[doc]}] signs it: the unsigned document would "
                                                      "go out; move the sign step before it"))
    return problems
