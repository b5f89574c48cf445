"""``approval list|approve|reject``: the approver's side of the ``approval`` step.

A decision is recorded once and wakes the run, so the next runner pass (the daemon polls every
``daemon.poll_minutes``, or the next ``tick``) continues it. There is no authentication layer yet: ``--by``
records the name given, and who may run this command is the operator's responsibility (docs/approvals.md).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from robots.cli.command import EXIT_OK, Context, add_actions, add_command
from robots.core.errors import UsageError

if TYPE_CHECKING:
    from robots.store.approvals import Approval


def add(sub: Any) -> None:
    """Add ``approval list|approve|reject``."""
    a = add_command(sub, "approval", summary="approvals the scenarios wait for: list them, approve or reject",
                    description="Requests of the scenarios' approval steps: list them, approve or reject. An "
                                "undecided request escalates to the approver's deputy (docs/approvals.md).",
                    example="run_robots.py approval list --pending\n"
                            "run_robots.py approval approve 12 --by 'Орлова М. С.'")
    actions = add_actions(a, "approval_command")
    al = add_command(actions, "list", summary="approval requests, newest last",
                     description="Approval requests, newest last: who was asked, since when, the document, the "
                                 "decision and its comment, or when an undecided one escalates.",
                     example="run_robots.py approval list --pending", handler=_list_requests)
    al.add_argument("--pending", action="store_true", help="only those nobody has decided yet")
    for action, text, effect in (
            ("approve", "approve a request: its run continues", "Its run continues on the next runner pass."),
            ("reject", "reject a request: its run stops (or fails, per the step's on_reject)",
             "Its run stops (or fails, as the step's on_reject says); the comment is required.")):
        p = add_command(actions, action, summary=text,
                        description=f"{action.capitalize()} an approval request; a decision is final.\n{effect}",
                        example=f"run_robots.py approval {action} 12 --by 'Орлова М. С.' --comment 'сумма верна'",
                        handler=_decide)
        p.add_argument("id", type=int, help="the request's id (approval list)")
        p.add_argument("--by", required=True, metavar="NAME", help="who decides (recorded as given)")
        p.add_argument("--comment", required=action == "reject", metavar="TEXT",
                       help="why (required to reject)")


def _decide(args: argparse.Namespace, ctx: Context) -> int:
    from robots.store.approvals import Decision, decide, get_approval

    store, now = ctx.store, ctx.now()
    by = args.by.strip()
    if not by:
        raise UsageError("--by: give the name of the person who decides")
    comment = args.comment.strip() if args.comment else None
    if args.approval_command == "reject" and not comment:
        raise UsageError("--comment: say why the request is rejected (the run's outcome quotes it)")
    decision = Decision.APPROVED if args.approval_command == "approve" else Decision.REJECTED
    if not decide(store, args.id, decision, by, comment, now):
        known = get_approval(store, args.id)
        if known is None:
            raise UsageError(f"no approval request {args.id}; `approval list --pending` shows the open ones")
        raise UsageError(f"approval {args.id} was already {known.decision} by {known.decided_by} "
                         f"at {known.decided_at:%Y-%m-%d %H:%M} UTC; a decision is final")
    request = get_approval(store, args.id)
    assert request is not None
    woken = store.wake_run(request.run_id, now)
    follow = "it continues on the next runner pass" if woken else "it is not waiting now"
    print(f"approval {args.id} {decision} by {by}: run {request.run_id} ({follow})")
    return EXIT_OK


def _list_requests(args: argparse.Namespace, ctx: Context) -> int:
    from robots.store.approvals import list_approvals

    requests = list_approvals(ctx.store, pending_only=args.pending)
    if not requests:
        print("no pending approval requests" if args.pending else "no approval requests")
        return EXIT_OK
    roles = ctx.config.settings.roles
    for r in requests:
        print(_line(r, roles))
    return EXIT_OK


def _line(r: Approval, roles: Any) -> str:
    who = f"{r.assignee} ({r.role})"
    if r.escalated_to is not None:
        deputy = roles[r.escalated_to].name if r.escalated_to in roles else r.escalated_to
        who += f" or deputy {deputy} ({r.escalated_to}) since {r.escalated_at:%Y-%m-%d %H:%M}"
    head = f"{r.id:>5}  {r.state:<9}  run {r.run_id}, contract {r.contract_id}: {r.title}"
    lines = [head, f"       requested {r.requested_at:%Y-%m-%d %H:%M} UTC from {who}"]
    if r.decision is None and r.escalated_at is None:
        lines[-1] += f"; escalates {r.escalate_at:%Y-%m-%d %H:%M} UTC"
    if r.document:
        lines.append(f"       document: {r.document}")
    if r.decision is not None:
        lines.append(f"       {r.decision} by {r.decided_by} at {r.decided_at:%Y-%m-%d %H:%M} UTC"
                     + (f": {r.comment}" if r.comment else ""))
    return "\n".join(lines)
