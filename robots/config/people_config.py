"""``promises:`` in schedules.yaml: how promises to pay pause the robots and when a promise counts as broken."""

from __future__ import annotations

from pydantic import Field

from robots.support.config_types import Frozen


class PromisesConfig(Frozen):
    #: A promise pauses the scenarios of its debt until its date plus this many days.
    grace_days: int = Field(default=3, ge=0, le=90)
