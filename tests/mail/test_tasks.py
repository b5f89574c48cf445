"""Task notifications (a real SMTP server and a real HTTP server), `task list/done`, and overdue tasks in `status`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from demo.erp.server import serve
from robots.cli.main import main
from robots.config import load_config
from robots.core.errors import ConfigError
from robots.engine.summary import render_summary, summarize
from robots.engine.tick import tick
from robots.store import tasks as db
from tests.worlds import AS_OF, NOW, edit_yaml, open_world


def hook_app(fail_first: int = 0):
    """Records JSON posts; answers 503 to the first ``fail_first`` of them."""
    seen: list[tuple[dict, dict]] = []

    async def hook(request: Request):
        seen.append((await request.json(), dict(request.headers)))
        if len(seen) <= fail_first:
            return JSONResponse({"error": "busy"}, status_code=503)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), seen


def _notify(mail_env, url: str, channels=("email", "webhook")) -> None:
    edit_yaml(mail_env / "schedules.yaml", lambda s: s["roles"]["head_of_sales"].update(
        notify=list(channels), webhook=url))


def test_a_new_task_notifies_by_email_and_webhook_once_even_after_retries(mail_env, smtp_server):
    app, seen = hook_app(fail_first=1)  # tenacity retries the 503 at once
    with serve(app) as base:
        _notify(mail_env, f"{base}hook")
        config, store, services = open_world(mail_env)
        report = tick(services, AS_OF, NOW)
        assert len(report.runner.done) == 2
        tick(services, AS_OF, NOW + timedelta(hours=1))
    tasks = db.list_tasks(store, "all", AS_OF)
    assert len(tasks) == 2
    posted = [p for p, _ in seen[1:]]
    assert len(seen) == 3 and sorted(p["task_id"] for p in posted) == sorted(t.id for t in tasks)
    first = next(p for p in posted if p["contract"]["id"] == "C000")
    assert first["role"] == "head_of_sales" and first["assignee"] == "Орлова Марина Сергеевна"
    assert first["counterparty"]["name"] == "ООО «Клиент 0»" and first["due_on"] == tasks[0].due_on.isoformat()
    assert seen[0][1]["idempotency-key"] == seen[1][1]["idempotency-key"]  # the retry is the same notification
    # the letters to the debtors plus one notification per task to the head of sales
    to_people = [r for r in smtp_server.received if r.rcpt_tos == ["m.orlova@arbots.example"]]
    assert len(to_people) == 2 and len(smtp_server.received) == 4
    assert to_people[0].message["Subject"].startswith("Задача № ")
    rows = store.rows(select(db.notifications))
    assert len(rows) == 4 and {r.status for r in rows} == {"sent"}
    store.close()


def test_a_webhook_that_is_down_retries_the_step_without_duplicating_the_task(mail_env, smtp_server):
    app, seen = hook_app(fail_first=3)  # three 503s: the run waits for the webhook; the next pass succeeds
    with serve(app) as base:
        _notify(mail_env, f"{base}hook", ("webhook",))
        edit_yaml(mail_env / "schedules.yaml", lambda s: s.update(groups={"default": {"days": "calendar", "columns": [
            {"id": "overdue_2", "offset": 2, "scenario": "mail_demand"}]}}))
        config, store, services = open_world(mail_env)
        write_one = __import__("connectors.files.ledger_csv", fromlist=["write_ledger_csv"]).write_ledger_csv
        from tests.builders import simple_ledger
        write_one(simple_ledger(1), mail_env / "var" / "ledger")
        report = tick(services, AS_OF, NOW)
        assert len(report.runner.waiting) == 1 and not report.runner.retry and len(seen) == 3
        from robots.engine.runner import Runner

        assert len(Runner(services).run_pending(NOW + timedelta(minutes=5)).done) == 1
    assert len(seen) == 4 and len(db.list_tasks(store, "all", AS_OF)) == 1
    [row] = store.rows(select(db.notifications))
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(smtp_server.received) == 1  # the debtor's letter was not sent again
    store.close()


def test_a_role_notified_by_email_needs_the_email_section_and_an_address(mail_env):
    def change(s):
        s.pop("email")
        s["roles"]["head_of_sales"].update(notify=["email", "webhook"], email="")
    edit_yaml(mail_env / "schedules.yaml", change)
    with pytest.raises(ConfigError) as exc:
        load_config(mail_env / "schedules.yaml")
    text = str(exc.value)
    assert "roles.head_of_sales.notify lists email, but schedules.yaml has no email: section" in text
    assert "roles.head_of_sales.notify lists email, but the role has no email address" in text
    assert "roles.head_of_sales.notify lists webhook, but the role has no webhook URL" in text


def test_task_list_done_and_overdue_tasks_in_status(mail_env, smtp_server, capsys):
    config, store, services = open_world(mail_env)
    tick(services, AS_OF, NOW)
    cfg = str(mail_env / "schedules.yaml")
    later = (AS_OF + timedelta(days=10)).isoformat()
    assert main(["--config", cfg, "task", "list", "--overdue", "--as-of", later]) == 0
    out = capsys.readouterr().out
    assert "Overdue tasks (rule violations) as of" in out and out.count("OVERDUE") == 2
    [first, second] = db.list_tasks(store, "open", AS_OF)
    assert main(["--config", cfg, "task", "done", str(first.id), "--by", "Орлова М. С.", "--note", "оплатят"]) == 0
    assert main(["--config", cfg, "task", "done", str(first.id), "--by", "Орлова М. С."]) == 2
    assert "already closed by Орлова М. С." in capsys.readouterr().err
    assert main(["--config", cfg, "task", "list", "--all", "--as-of", later]) == 0
    out = capsys.readouterr().out
    assert "by Орлова М. С. (оплатят)" in out and out.count("OVERDUE") == 1
    assert main(["--config", cfg, "task", "done", "999", "--by", "x"]) == 2

    tick(services, AS_OF + timedelta(days=10), NOW + timedelta(days=10))
    summary = summarize(store)
    assert summary.tasks_overdue == 1 and summary.oldest_overdue[0] == second.id
    text = render_summary(summary)
    assert f"1 tasks overdue (rule violations); the oldest: #{second.id}" in text
    assert "E-mails: sent 2" in text
    store.close()
