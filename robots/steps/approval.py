"""``approval``: the run waits until a person (a role of schedules.yaml) approves or rejects it through the CLI.

The first time the step runs it records one request (unique per run and step) and parks the run until the
escalation time. A decision (``approval approve|reject``) wakes the run; the step then returns the decision
(approved) or stops the run (rejected; or fails it with ``on_reject: fail``). Nobody decided in time: the
request escalates once to the approver's deputy (``roles.<approver>.deputy``), who may decide as well, and the
run waits for a decision with no time limit. Without a deputy an overdue request is logged as an error and
keeps waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

import structlog
from pydantic import Field

from robots.core.errors import BusinessError
from robots.steps.base import CheckContext, Step, StepConfig, Stop, Wait, register
from robots.steps.context import StepContext
from robots.steps.texts import render_text, text_problem
from robots.store.approvals import Approval, Decision, escalate, request_approval

log = structlog.get_logger("arbots.approval")



class ApprovalConfig(StepConfig):
    handles_unsigned = True  # the approver sees the draft before it is signed
    kind: str = "approval"
    #: A key of ``roles:`` in schedules.yaml; its ``deputy`` receives the request when it escalates.
    approver: str
    #: What is to be approved; may use the letter's variables, e.g. "Претензия {{ counterparty.name }}".
    title: str
    #: The id of an earlier render step whose document (the draft) the approver is shown. The attribute has
    #: another name than the YAML key on purpose: scenarios.py's "signed before use" check reads ``document``,
    #: and showing an unsigned draft to an approver before the officer signs it is the normal order, not a leak.
    shown_document: str | None = Field(default=None, alias="document")
    #: Overrides approvals.escalate_after_hours of schedules.yaml for this step.
    escalate_after_hours: float | None = Field(default=None, gt=0, le=24 * 60)
    #: A rejection stops the run (done, the later steps skipped) or fails it (a human must look).
    on_reject: Literal["stop", "fail"] = "stop"

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        if self.approver not in ctx.roles:
            problems.append((("approver",), f"role {self.approver!r} is not defined under roles: in schedules.yaml "
                                            f"(defined: {', '.join(sorted(ctx.roles)) or 'none'})"))
        elif ctx.settings is not None:
            deputy = ctx.settings.roles[self.approver].deputy
            if deputy is not None and deputy not in ctx.roles:
                problems.append((("approver",), f"the deputy of role {self.approver!r}, {deputy!r}, is not defined "
                                                "under roles: in schedules.yaml"))
        if (problem := text_problem(self.title)) is not None:
            problems.append((("title",), problem))
        if self.shown_document is not None:
            renders = [s.id for s in earlier if s.kind == "render" and s.id]
            if self.shown_document not in renders:
                problems.append((("document",), f"no earlier render step has id {self.shown_document!r} "
                                                f"(earlier render steps: {', '.join(renders) or 'none'})"))
        return problems


@register
class ApprovalStep(Step):
    kind = "approval"
    config = ApprovalConfig

    def run(self, cfg: ApprovalConfig, ctx: StepContext) -> dict[str, Any]:
        settings = ctx.services.config.settings
        store = ctx.services.store
        bound = log.bind(run_id=ctx.run.id, contract_id=ctx.contract.id, step=ctx.step_idx, role=cfg.approver)
        title = render_text(cfg.title, ctx.template_context(), "approval title")
        hours = cfg.escalate_after_hours or settings.approvals.escalate_after_hours
        document = ctx.outputs[cfg.shown_document]["path"] if cfg.shown_document else None
        role = settings.roles[cfg.approver]
        ctx.ensure_lease("the approval request")
        request, new = request_approval(
            store, run_id=ctx.run.id, step_idx=ctx.step_idx, contract_id=ctx.contract.id, role=cfg.approver,
            assignee=role.name, title=title, document=document, now=ctx.now,
            escalate_at=ctx.now + timedelta(hours=hours))
        bound = bound.bind(approval_id=request.id)
        if new:
            bound.info("approval_requested", assignee=role.name, title=title,
                       escalate_at=request.escalate_at.isoformat())

        if request.decision is Decision.APPROVED:
            bound.info("approval_approved", by=request.decided_by)
            return _output(request)
        if request.decision is Decision.REJECTED:
            reason = f"rejected by {request.decided_by}" + (f": {request.comment}" if request.comment else "")
            bound.info("approval_rejected", by=request.decided_by, comment=request.comment)
            if cfg.on_reject == "fail":
                raise BusinessError(f"approval {request.id} {reason}")
            raise Stop(reason, output=_output(request))

        who = f"{role.name} ({cfg.approver})"
        if request.escalated_to is not None:
            raise Wait(f"approval {request.id}: waiting for {who} or the deputy {request.escalated_to}")
        if ctx.now < request.escalate_at:
            raise Wait(f"approval {request.id}: waiting for {who}", until=request.escalate_at)
        deputy = role.deputy if role.deputy in settings.roles else None
        if deputy is None:  # logged when the escalation time passes; the run then waits for a decision only
            bound.error("approval_overdue", assignee=role.name, requested_at=request.requested_at.isoformat(),
                        hint=f"roles.{cfg.approver} has no deputy to escalate to")
            raise Wait(f"approval {request.id}: overdue, waiting for {who} (no deputy to escalate to)")
        ctx.ensure_lease("escalating the approval")
        if escalate(store, request.id, deputy, ctx.now):
            bound.warning("approval_escalated", deputy=deputy, deputy_name=settings.roles[deputy].name,
                          requested_at=request.requested_at.isoformat())
        raise Wait(f"approval {request.id}: waiting for {who} or the deputy {deputy}")


def _output(request: Approval) -> dict[str, Any]:
    return {"kind": "approval", "approval_id": request.id, "decision": request.decision.value if request.decision
            else None, "by": request.decided_by, "at": request.decided_at.isoformat() if request.decided_at else None,
            "comment": request.comment, "role": request.role, "escalated_to": request.escalated_to}

