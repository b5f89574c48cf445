"""Scenario step kinds. Importing this package registers the built-in kinds."""

from robots.steps import archive_step, render, sign, task  # noqa: F401  (registration side effect)
from robots.steps.base import REGISTRY, CheckContext, Step, StepConfig, register

__all__ = ["REGISTRY", "CheckContext", "Step", "StepConfig", "register"]
