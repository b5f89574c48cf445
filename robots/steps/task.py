"""``task``: a task for a role (account manager, head of sales, legal) with a deadline, recorded once per run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import Field

from robots.mail.notify import TaskNotice, notify_task
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext
from robots.steps.texts import render_text, text_problem
from robots.store.tasks import add_task, task_for_step


class TaskConfig(StepConfig):
    kind: str = "task"
    #: A key of ``roles:`` in schedules.yaml.
    role: str
    #: The task's text; may use the letter's variables, e.g. "Позвонить {{ counterparty.name }}".
    title: str
    #: Deadline: this many days after the run's day.
    due_in_days: int = Field(default=1, ge=0, le=365)
    #: Count the deadline in working days of the production calendar.
    working_days: bool = False

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        if self.role not in ctx.roles:
            problems.append((("role",), f"role {self.role!r} is not defined under roles: in schedules.yaml "
                                        f"(defined: {', '.join(sorted(ctx.roles)) or 'none'})"))
        if (problem := text_problem(self.title)) is not None:
            problems.append((("title",), problem))
        if ctx.settings is not None and self.role in ctx.settings.roles:
            problems += [(("role",), m) for m in notify_problems(self.role, ctx.settings)]
        return problems


def notify_problems(role_id: str, settings: Any) -> list[str]:
    """Why role ``role_id`` cannot be notified as its ``notify:`` asks (checked when the config is loaded)."""
    role = settings.roles[role_id]
    problems = []
    if "email" in role.notify:
        if settings.email is None:
            problems.append(f"roles.{role_id}.notify lists email, but schedules.yaml has no email: section (the "
                            "SMTP server that sends notifications); add it, or remove email from notify")
        if not role.email:
            problems.append(f"roles.{role_id}.notify lists email, but the role has no email address; "
                            f"write roles.{role_id}.email")
    if "webhook" in role.notify and not role.webhook:
        problems.append(f"roles.{role_id}.notify lists webhook, but the role has no webhook URL; "
                        f"write roles.{role_id}.webhook: https://...")
    if role.webhook and not role.webhook.startswith(("http://", "https://")):
        problems.append(f"roles.{role_id}.webhook: write an http:// or https:// URL")
    return problems


@register
class TaskStep(Step):
    kind = "task"
    config = TaskConfig

    def run(self, cfg: TaskConfig, ctx: StepContext) -> dict[str, Any]:
        services = ctx.services
        person = services.config.settings.roles[cfg.role]
        title = render_text(cfg.title, ctx.template_context(), f"task title of role {cfg.role!r}")
        due = ctx.run.as_of + timedelta(days=cfg.due_in_days)
        if cfg.working_days:
            due, left = ctx.run.as_of, cfg.due_in_days
            while left:
                due += timedelta(days=1)
                left -= services.calendar.is_working(due)
        ctx.ensure_lease("creating the task")
        add_task(services.store, ctx.run.id, ctx.step_idx, ctx.contract.id, cfg.role, person.name, title, due, ctx.now)
        task = task_for_step(services.store, ctx.run.id, ctx.step_idx)
        out = {"kind": "task", "task_id": task.id, "role": cfg.role, "assignee": person.name,
               "due_on": task.due_on.isoformat(), "title": task.title}
        if person.notify:
            cp, ct = ctx.counterparty, ctx.contract
            notice = TaskNotice(task, cfg.role, ctx.run.run_key, {"id": ct.id, "number": ct.number},
                                {"id": cp.id, "name": cp.name, "inn": cp.inn})
            ctx.ensure_lease("notifying the assignee")
            out["notified"] = notify_task(services, notice, person, ctx.now)
        return out
