"""``task list|done`` (people's side of tasks) and ``mail bounces`` (delivery failures reported after the fact).

A task still open after its due date is a rule violation: ``task list --overdue`` lists them and ``status``
counts them. Closing records who and when.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from robots.cli.args import day
from robots.cli.command import EXIT_OK, Context, add_actions, add_command
from robots.core.errors import UsageError


def add(sub: Any) -> None:
    """Add ``task list|done`` and ``mail bounces``."""
    t = add_command(sub, "task", summary="tasks the robots gave people: list them, close them",
                    description="Tasks the scenarios gave people (a call, a check): list them, close them. One "
                                "still open after its due date is a rule violation (status counts them too).",
                    example="run_robots.py task list --overdue\nrun_robots.py task done 17 --by 'Кузнецов А. П.'")
    actions = add_actions(t, "task_command")
    tl = add_command(actions, "list", summary="open tasks (default), overdue ones (rule violations) or all",
                     description="Tasks with their number, due date, state, role, assignee and contract: the open "
                                 "ones (the default), the overdue ones or every task.",
                     example="run_robots.py task list --overdue --role account_manager --as-of 2026-03-31",
                     handler=_list_tasks)
    which = tl.add_mutually_exclusive_group()
    for name, text in (("open", "open tasks (the default)"), ("overdue", "open past their due date"),
                       ("all", "every task, closed ones too")):
        which.add_argument(f"--{name}", dest="which", action="store_const", const=name, help=text)
    tl.add_argument("--role", help="only this role (a key of roles: in schedules.yaml)")
    tl.add_argument("--as-of", type=day, metavar="DAY",
                    help="the day overdue is judged on, 2026-03-31 or 31.03.2026 (default: today)")
    td = add_command(actions, "done", summary="close a task, recording who closed it and when",
                     description="Close an open task, recording who closed it, when, and what was done.",
                     example="run_robots.py task done 17 --by 'Кузнецов А. П.' --note 'обещали оплатить'",
                     handler=_done_task)
    td.add_argument("id", type=int, help="the task number (task list shows it)")
    td.add_argument("--by", required=True, help="who did it")
    td.add_argument("--note", help="what was done (a call's outcome, a promise)")
    m = add_command(sub, "mail", summary="e-mail deliveries",
                    description="E-mail deliveries: mark the letters that bounced.",
                    example="run_robots.py mail bounces /var/mail/arbots-bounces")
    mail_actions = add_actions(m, "mail_command")
    mb = add_command(mail_actions, "bounces",
                     summary="mark deliveries bounced from delivery status notifications (DSNs)",
                     description="Read delivery status notifications (DSNs) from an mbox, a Maildir or one .eml "
                                 "and mark the deliveries they report bounced; other messages are counted only.",
                     example="run_robots.py mail bounces ~/Maildir/bounces\nrun_robots.py mail bounces dsn.eml",
                     handler=_mail_bounces)
    mb.add_argument("file", type=Path, metavar="FILE", help="an mbox file, a Maildir folder or one .eml message")


def _list_tasks(args: argparse.Namespace, ctx: Context) -> int:
    store, config = ctx.store, ctx.config
    today = ctx.now().astimezone(ZoneInfo(config.settings.daemon.timezone)).date()
    return _list(store, config, args.which or "open", args.role, args.as_of or today)


def _done_task(args: argparse.Namespace, ctx: Context) -> int:
    return _done(ctx.store, args.id, args.by, args.note, ctx.now())


def _mail_bounces(args: argparse.Namespace, ctx: Context) -> int:
    return _bounces(args.file, ctx.store, ctx.now())


def _list(store: Any, config: Any, which: str, role: str | None, as_of: date) -> int:
    from robots.store.tasks import list_tasks

    if role is not None and role not in config.settings.roles:
        raise UsageError(f"--role {role}: no such role (roles: {', '.join(sorted(config.settings.roles))})")
    tasks = list_tasks(store, which, as_of, role)
    title = {"open": "Open tasks", "overdue": "Overdue tasks (rule violations)", "all": "Tasks"}[which]
    print(f"{title} as of {as_of.isoformat()}: {len(tasks)}")
    for t in tasks:
        if t.status == "done":
            state = f"done {t.closed_at:%Y-%m-%d} by {t.closed_by}" + (f" ({t.note})" if t.note else "")
        elif t.overdue_on(as_of):
            state = f"OVERDUE {(as_of - t.due_on).days} d"
        else:
            state = "open"
        print(f"  #{t.id:<5} due {t.due_on.isoformat()}  {state:<14}  {t.role}: {t.assignee}  "
              f"[{t.contract_id}] {t.title}")
    return EXIT_OK


def _done(store: Any, task_id: int, by: str, note: str | None, now: datetime) -> int:
    from robots.store.tasks import close_task, task_by_id

    if not by.strip():
        raise UsageError("--by: say who did the task")
    if close_task(store, task_id, by.strip(), note, now):
        print(f"task #{task_id} closed by {by.strip()}")
        return EXIT_OK
    task = task_by_id(store, task_id)
    if task is None:
        raise UsageError(f"no task #{task_id} (`run_robots.py task list --all` shows them)")
    raise UsageError(f"task #{task_id} was already closed by {task.closed_by} at {task.closed_at:%Y-%m-%d %H:%M}")


def _bounces(path: Path, store: Any, now: datetime) -> int:
    from robots.mail.bounces import parse_bounce, read_messages
    from robots.store.deliveries import mark_bounced

    if not path.exists():
        raise UsageError(f"{path}: no such file or folder (give an mbox file, a Maildir folder or an .eml file)")
    try:
        messages = list(read_messages(path))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    marked = unmatched = other = 0
    for msg in messages:
        bounce = parse_bounce(msg)
        if bounce is None:
            other += 1
            continue
        diagnostic = f"{bounce.status} {', '.join(bounce.recipients)}: {bounce.diagnostic}".strip()
        if mark_bounced(store, bounce.message_id, diagnostic, now):
            marked += 1
            print(f"bounced: {bounce.message_id} {diagnostic}")
        else:
            unmatched += 1
    print(f"{len(messages)} messages: {marked} deliveries marked bounced, {unmatched} bounces matched no "
          f"pending delivery (unknown or already bounced), {other} not bounces of our letters")
    return EXIT_OK
