"""schedules.yaml and scenarios/*.yaml as typed, frozen objects: :func:`load_config` gives a :class:`Config`.

The loader sits above the step kinds (it validates each scenario step against its kind's model); the sections that
adapters read live with them (connectors/*/config.py, signing/config.py, robots/mail/config.py).
"""

from robots.config.loader import Config, Scenario, load_config

__all__ = ["Config", "Scenario", "load_config"]
