"""The connector kinds: which connector reads a ``connectors:`` entry of schedules.yaml, by the entry's ``kind``.

Each kind's package owns its connector and its config model (``connectors/files``, ``rest``, ``ui``); the engine
builds connectors only through :func:`build_connector`, and connectors know nothing of the engine or of how
schedules.yaml is loaded. A new kind is a package with its connector and config, plus one entry in :data:`KINDS`
(and its config model in robots.config's union of connector configs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from connectors.base import Connector
from connectors.files.connector import FileConnector
from connectors.rest.connector import RestConnector
from connectors.ui.connector import UiConnector
from robots.core.errors import UsageError

#: Builds a connector from its config entry: ``build(config, base_dir=, state_dir=, known_groups=)``, relative
#: paths taken from ``base_dir`` (the folder of schedules.yaml), caches and failure artifacts kept in ``state_dir``.
Builder = Callable[..., Connector]

#: ``kind`` → how its connector is built: the connector class when its constructor takes the config, else its
#: ``from_config``.
KINDS: MappingProxyType[str, Builder] = MappingProxyType({
    "file": FileConnector.from_config,
    "rest": RestConnector,
    "ui": UiConnector,
})


def build_connector(config: Any, *, base_dir: Path, state_dir: Path,
                    known_groups: frozenset[str] | None = None) -> Connector:
    """The connector of one ``connectors:`` entry (a FileConnectorConfig, RestConnectorConfig or UiConnectorConfig);
    ``known_groups`` are the debtor groups the ledger may name."""
    build = KINDS.get(config.kind)
    if build is None:  # pragma: no cover - the config model admits no other kind
        raise UsageError(f"connector {config.id}: unknown kind {config.kind!r}")
    return build(config, base_dir=base_dir, state_dir=state_dir, known_groups=known_groups)
