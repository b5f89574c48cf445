"""The sources a REST connector reads, planned once per connector: one or more per entity, each with its
compiled mapping, the label its records and messages show, and its incremental snapshot's file.

An entity may be read from several sources (a list under ``entities.<entity>``, e.g. sales and credit notes);
their records are concatenated, each located in its own source (``"<id>: GET <label>"``). The label is the path,
plus ``(<entity>)`` when another entity reads the same path, as all of Fava's read ``query``, or ``(<entity> <n>)``
when the entity itself reads it more than once.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.rest.config import EntityConfig, RestConnectorConfig, mapping_for, sources_of
from connectors.rest.mapping.entity import EntityMapping


@dataclass(frozen=True)
class Source:
    """One source of an entity, ready to read: its config, compiled mapping and names."""

    entity: str
    spec: EntityConfig
    mapping: EntityMapping
    #: The path, plus the entity (and its source number) when another source reads the same path: what
    #: Where.source and messages show after "GET ".
    label: str
    #: The incremental snapshot's file in state_dir.
    state_file: str


def plan_sources(config: RestConnectorConfig, entities: tuple[str, ...]) -> dict[str, tuple[Source, ...]]:
    """The sources of each of ``entities``, in their configured order."""
    specs = {entity: sources_of(config, entity) for entity in entities}
    by_path: dict[str, list[str]] = {}
    for entity, sources in specs.items():
        for e in sources:
            by_path.setdefault(e.path, []).append(entity)
    planned = {}
    for entity, sources in specs.items():
        out = []
        for n, e in enumerate(sources, 1):
            readers = by_path[e.path]
            label = e.path
            if readers.count(entity) > 1:
                label = f"{e.path} ({entity} {n})"
            elif len(readers) > 1:
                label = f"{e.path} ({entity})"
            out.append(Source(entity, e, mapping_for(config, entity, e), label,
                              f"{entity}.json" if n == 1 else f"{entity}.{n}.json"))
        planned[entity] = tuple(out)
    return planned
