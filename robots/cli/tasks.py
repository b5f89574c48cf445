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

from robots.core.errors import UsageError

#: Top-level commands this module adds; robots/cli.py routes them here.
COMMANDS: tuple[str, ...] = ("task", "mail")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-03-31") from None


def add_parsers(sub: Any) -> None:
    """Add this feature's sub-commands to the top-level subparsers."""
    t = sub.add_parser("task", help="tasks the robots gave people: list them, close them")
    tsub = t.add_subparsers(dest="task_command", required=True, metavar="ACTION")
    tl = tsub.add_parser("list", help="open tasks (default), overdue ones (rule violations) or all")
    which = tl.add_mutually_exclusive_group()
    for name, text in (("open", "open tasks (the default)"), ("overdue", "open past their due date"),
                       ("all", "every task, closed ones too")):
        which.add_argument(f"--{name}", dest="which", action="store_const", const=name, help=text)
    tl.add_argument("--role", help="only this role (a key of roles: in schedules.yaml)")
    tl.add_argument("--as-of", type=_day, help="the day overdue is judged on (default: today)")
    td = tsub.add_parser("done", help="close a task, recording who closed it and when")
    td.add_argument("id", type=int, help="the task number (task list shows it)")
    td.add_argument("--by", required=True, help="who did it")
    td.add_argument("--note", help="what was done (a call's outcome, a promise)")
    m = sub.add_parser("mail", help="e-mail deliveries")
    msub = m.add_subparsers(dest="mail_command", required=True, metavar="ACTION")
    mb = msub.add_parser("bounces", help="mark deliveries bounced from delivery status notifications (DSNs)")
    mb.add_argument("file", type=Path, metavar="FILE", help="an mbox file, a Maildir folder or one .eml message")


def run(args: argparse.Namespace, config: Any, store: Any, now: datetime) -> int:
    if args.command == "mail":
        return _bounces(args.file, store, now)
    if args.task_command == "list":
        today = now.astimezone(ZoneInfo(config.settings.daemon.timezone)).date()
        return _list(store, config, args.which or "open", args.role, args.as_of or today)
    return _done(store, args.id, args.by, args.note, now)


def _list(store: Any, config: Any, which: str, role: str | None, as_of: date) -> int:
    from robots.store.mail import list_tasks

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
    return 0


def _done(store: Any, task_id: int, by: str, note: str | None, now: datetime) -> int:
    from robots.store.mail import close_task, task_by_id

    if not by.strip():
        raise UsageError("--by: say who did the task")
    if close_task(store, task_id, by.strip(), note, now):
        print(f"task #{task_id} closed by {by.strip()}")
        return 0
    task = task_by_id(store, task_id)
    if task is None:
        raise UsageError(f"no task #{task_id} (`run_robots.py task list --all` shows them)")
    raise UsageError(f"task #{task_id} was already closed by {task.closed_by} at {task.closed_at:%Y-%m-%d %H:%M}")


def _bounces(path: Path, store: Any, now: datetime) -> int:
    from robots.mail.bounces import parse_bounce, read_messages
    from robots.store.mail import mark_bounced

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
    return 0
