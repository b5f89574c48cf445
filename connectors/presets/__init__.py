"""Presets for the REST connector: ready-made ``kind: rest`` sections for known accounting systems.

``preset: 1c-odata`` in a connector's config loads ``connectors/presets/1c-odata.yaml`` and deep-merges the keys
given in schedules.yaml over it: mappings merge key by key, anything else (text, numbers, lists) given by the user
replaces the preset's. An entity set to null (``counterparties: null``) drops that entity of the preset.

An entity the preset reads from several sources (a list, e.g. 1c-odata's invoices: sales, then credit notes) takes
either a mapping, merged into every source (``invoices: {paging: {size: 100}}``), or a list, merged source by
source in order: ``{}`` keeps a source as it is, null drops it (``invoices: [{}, null]``: no credit notes), sources
the list does not reach are kept, and sources beyond the preset's are added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Where presets live; tests point it at a folder of their own.
PRESETS_DIR = Path(__file__).resolve().parent
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]*$")


def available_presets(folder: Path | None = None) -> list[str]:
    """The names of the presets in ``folder`` (default :data:`PRESETS_DIR`), sorted."""
    folder = PRESETS_DIR if folder is None else folder
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_preset(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The preset ``name`` as plain dicts and lists. ValueError naming the available presets when unknown."""
    from ruamel.yaml import YAML, YAMLError

    folder = PRESETS_DIR if folder is None else folder
    path = folder / f"{name}.yaml"
    if not isinstance(name, str) or not _NAME_RE.match(name) or not path.is_file():
        names = ", ".join(available_presets(folder)) or "(none)"
        raise ValueError(f"unknown preset '{name}'; available presets: {names}")
    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except YAMLError as e:
        raise ValueError(f"preset '{name}' ({path}) is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"preset '{name}' ({path}) must be a mapping of connector keys")
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge recursively, every other value of ``override`` wins."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_preset(data: Any) -> Any:
    """For a model_validator(mode="before"): the connector's raw keys merged over its preset, if it names one."""
    if not isinstance(data, Mapping) or data.get("preset") is None:
        return data
    preset = load_preset(data["preset"])
    preset.pop("preset", None)
    preset.pop("id", None)  # a preset never names the connector
    entities = data.get("entities")
    merged = deep_merge(preset, {k: v for k, v in data.items() if k != "entities"})
    if isinstance(entities, Mapping) and isinstance(preset.get("entities"), Mapping):
        merged["entities"] = {**preset["entities"]}
        for entity, value in entities.items():
            merged["entities"][entity] = merge_entity(preset["entities"].get(entity), value)
    elif "entities" in data:
        merged["entities"] = entities
    if isinstance(merged.get("entities"), Mapping):
        merged["entities"] = {k: v for k, v in merged["entities"].items() if v is not None}
    return merged


def merge_entity(base: Any, override: Any) -> Any:
    """An entity's keys over the preset's: see the module docstring for sources given as a list."""
    if override is None or base is None:
        return override
    if isinstance(base, list) and isinstance(override, Mapping):
        return [deep_merge(b, override) if isinstance(b, Mapping) else b for b in base]
    if isinstance(base, list) and isinstance(override, list):
        merged = []
        for i in range(max(len(base), len(override))):
            if i >= len(override):
                merged.append(base[i])  # not mentioned: kept
            elif i >= len(base):
                merged.append(override[i])
            elif isinstance(override[i], Mapping) and isinstance(base[i], Mapping):
                merged.append(deep_merge(base[i], override[i]))
            elif override[i] is not None:
                merged.append(override[i])
        return merged
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        return deep_merge(base, override)
    return override


__all__ = ["PRESETS_DIR", "apply_preset", "available_presets", "deep_merge", "load_preset", "merge_entity"]
