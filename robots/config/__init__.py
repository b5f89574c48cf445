"""schedules.yaml and scenarios/*.yaml as typed, frozen objects."""

from robots.config.loader import Config, Scenario, load_config

__all__ = ["Config", "Scenario", "load_config"]
