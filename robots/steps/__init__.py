"""Scenario step kinds. Importing this package registers the built-in kinds."""

from robots.steps import (  # noqa: F401  (registration side effect)
    approval,
    archive_step,
    condition,
    lawsuit,
    penalty,
    reconcile,
    render,
    send_email,
    shipments,
    sign,
    task,
)
from robots.steps.base import REGISTRY, CheckContext, Step, StepConfig, Stop, Wait, register

__all__ = ["REGISTRY", "CheckContext", "Step", "StepConfig", "Stop", "Wait", "register"]
