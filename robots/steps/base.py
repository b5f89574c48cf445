"""The step registry: every scenario step kind is a config model plus an executor, registered by ``kind``.

Later step kinds (sign, send_email, block_shipments, ...) plug in with :func:`register` and nothing else
changes: the config loader validates a step against its kind's model and the runner calls its executor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class CheckContext:
    """What a step's cross-reference check may look at when the config is loaded."""

    templates_dir: Path
    roles: frozenset[str]
    #: Officers who may sign, and whether a timestamp authority is configured (levels B-T and up need one).
    officers: frozenset[str] = frozenset()
    timestamp_authority: bool = False


class StepConfig(BaseModel):
    """Fields every step has. Subclasses add their own; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    #: Names the step's output for later steps (e.g. the document a later ``archive`` step stores).
    id: str | None = None

    def check(self, ctx: CheckContext, earlier: Sequence["StepConfig"]) -> list[tuple[tuple[str, ...], str]]:
        """Cross-reference problems as (path inside the step, message); none by default."""
        return []


class Step(ABC):
    """Executes one kind of step. ``run`` returns JSON-able output that the runner records durably.

    A step must be idempotent with respect to its own effects: after a crash the runner may call it again for
    the same run (the run key and step index are stable), and it must not duplicate what it did before.
    """

    kind: ClassVar[str]
    config: ClassVar[type[StepConfig]]

    @abstractmethod
    def run(self, cfg: Any, ctx: Any) -> dict[str, Any]: ...


REGISTRY: dict[str, type[Step]] = {}


def register(cls: type[Step]) -> type[Step]:
    if cls.kind in REGISTRY:
        raise ValueError(f"step kind {cls.kind!r} registered twice")
    REGISTRY[cls.kind] = cls
    return cls
