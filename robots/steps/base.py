"""The step registry: every scenario step kind is a config model plus an executor, registered by ``kind``.

A new step kind plugs in with :func:`register` and nothing else changes: the config loader validates a step
against its kind's model and the runner calls its executor. What the runner, sync, plan and the loader need to
know about a kind (it signs a document, it sends a letter out, it waits for a fresh sync, it overrides the penalty
basis, its output changes what later steps see) is declared by its classes here, never checked by name elsewhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from archive import Archive
    from connectors.base import Connector
    from robots.core.domain import Payment
    from robots.core.workdays import WorkCalendar
    from robots.documents.templates import TemplateRenderer
    from robots.store import Store
    from robots.support.breaker import Breakers
    from robots.support.clock import Clock


@dataclass(frozen=True)
class CheckContext:
    """What a step's cross-reference check may look at when the config is loaded."""

    templates_dir: Path
    roles: frozenset[str]
    #: Officers who may sign, and whether a timestamp authority is configured (levels B-T and up need one).
    officers: frozenset[str] = frozenset()
    timestamp_authority: bool = False
    #: The validated schedules.yaml (robots.config.models.Settings), or None when it has errors of its own:
    #: a step's check may look up what it references (thresholds, connectors, e-mail settings) and must
    #: skip such checks when this is None.
    settings: Any = None


class Services(Protocol):
    """What steps may use while they run; one per process, built at the edge (robots.engine.runner.Services)."""

    #: The loaded robots.config.Config (typed loosely: the config loader sits above the steps).
    config: Any
    store: Store
    calendar: WorkCalendar
    renderer: TemplateRenderer
    #: The current time of leases and retries (business time is ``StepContext.now``).
    clock: Clock
    breakers: Breakers

    @property
    def signing(self) -> Any: ...
    @property
    def archive(self) -> Archive: ...

    def connector(self, connector_id: str) -> Connector:
        """A new connection to a configured connector (write-back); the caller closes it."""
        ...

    def fresh_payments(self, contract_id: str) -> tuple[list[Payment], list[str]]:
        """One contract's payments re-read now from the connectors, and the ids of the connectors read."""
        ...


class StepConfig(BaseModel):
    """Fields every step has. Subclasses add their own; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: It puts a letter on its way out (renders, signs, archives or sends it): a reconciliation after it is too late.
    sends_letter: ClassVar[bool] = False
    #: It may handle a document before a later step signs it (the sign step itself, an approver's preview).
    handles_unsigned: ClassVar[bool] = False
    #: It may wait for a sync fresher than the last one; a good sync wakes its run.
    waits_for_sync: ClassVar[bool] = False
    #: It computes penalties (its :meth:`penalty_basis` may override ``penalties.basis``).
    computes_penalty: ClassVar[bool] = False

    kind: str
    #: Names the step's output for later steps (e.g. the document a later ``archive`` step stores).
    id: str | None = None
    #: Run the step only when this expression is true (robots/expressions.py), e.g. ``debt > 5000``.
    when: str | None = None

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        """Cross-reference problems as (path inside the step, message); none by default."""
        return []

    def signed_document(self) -> str | None:
        """The id of the earlier step's document this step signs, if it signs one."""
        return None

    def signer(self) -> str | None:
        """The officer this step signs as, if it signs."""
        return None

    def penalty_basis(self) -> str | None:
        """The penalty basis this step computes with, overriding ``penalties.basis``, if it computes penalties."""
        return None


class Step(ABC):
    """Executes one kind of step. ``run`` returns JSON-able output that the runner records durably.

    A step must be idempotent with respect to its own effects: after a crash the runner may call it again for
    the same run (the run key and step index are stable), and it must not duplicate what it did before.
    """

    kind: ClassVar[str]
    config: ClassVar[type[StepConfig]]

    @abstractmethod
    def run(self, cfg: Any, ctx: Any) -> dict[str, Any]: ...

    @classmethod
    def keep(cls, ctx: Any, key: str, output: dict[str, Any]) -> None:
        """Show a step's recorded output to the later steps of its run (when it ran, was skipped, or on resuming).

        An output that ``replaces`` a document (the signed PDF) stands in for it from then on. A kind whose output
        changes what later steps see (the reconciled amounts) extends this.
        """
        ctx.outputs[key] = output
        if isinstance(output.get("replaces"), str):
            ctx.outputs[output["replaces"]] = output


class Wait(Exception):
    """Raised by a step that cannot go on yet: the run is parked and the step runs again later.

    ``until`` is when to try again (None: when something wakes the run, e.g. an approver's decision). Waiting is
    not a failure and does not count against ``runner.max_attempts``. The step must be idempotent across waits.
    """

    def __init__(self, reason: str, until: datetime | None = None):
        super().__init__(reason)
        self.reason = reason
        self.until = until


class Stop(Exception):
    """Raised by a step when the rest of the run must not happen (the debt was paid, an approver rejected it).

    The run ends as done with this reason as its outcome; the remaining steps are recorded as skipped.
    ``output`` is recorded as the raising step's own output.
    """

    def __init__(self, reason: str, output: dict[str, Any] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.output = output or {}


REGISTRY: dict[str, type[Step]] = {}


def register(cls: type[Step]) -> type[Step]:
    if cls.kind in REGISTRY:
        raise ValueError(f"step kind {cls.kind!r} registered twice")
    REGISTRY[cls.kind] = cls
    return cls
