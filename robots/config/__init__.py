"""schedules.yaml and scenarios/*.yaml as typed, frozen objects.

The names are loaded lazily: connector modules import :mod:`robots.support.config_types` for their config models, and
the settings model imports those connector modules in turn; an eager import here would make that a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robots.config.loader import Config, Scenario, load_config

__all__ = ["Config", "Scenario", "load_config"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from robots.config import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'robots.config' has no attribute {name!r}")
