"""Deliveries, notifications and task closing on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from robots.store import deliveries, tasks

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def test_a_delivery_is_begun_once_and_a_sending_one_counts_its_attempts(store):
    assert deliveries.begin_delivery(store, 1, 3, "<arbots.x@a.ru>", {"to": ["a@b.ru"]}, "S", NOW) is None
    assert deliveries.begin_delivery(store, 1, 3, "<arbots.x@a.ru>", {"to": ["a@b.ru"]}, "S", NOW) == "sending"
    assert deliveries.delivery(store, 1, 3).attempts == 2
    deliveries.mark_sent(store, 1, 3, "250 queued", {"x@b.ru": "550 no"}, NOW)
    assert deliveries.begin_delivery(store, 1, 3, "<arbots.x@a.ru>", {}, "S", NOW) == "sent"
    row = deliveries.delivery(store, 1, 3)
    assert (row.status, row.attempts, row.response, row.error) == ("sent", 2, "250 queued", "x@b.ru: 550 no")
    assert deliveries.mark_bounced(store, "<arbots.x@a.ru>", "5.1.1 gone", NOW) == 1
    assert deliveries.mark_bounced(store, "<arbots.x@a.ru>", "again", NOW) == 0
    assert deliveries.delivery_counts(store) == {"bounced": 1}


def test_a_notification_is_recorded_once_per_task_and_channel(store):
    assert tasks.begin_notification(store, 7, tasks.Channel.WEBHOOK, "http://h/", NOW) is None
    tasks.finish_notification(store, 7, tasks.Channel.WEBHOOK, NOW, "HTTP 503", final=False)
    assert tasks.begin_notification(store, 7, tasks.Channel.WEBHOOK, "http://h/", NOW) == "sending"
    tasks.finish_notification(store, 7, tasks.Channel.WEBHOOK, NOW)
    assert tasks.begin_notification(store, 7, tasks.Channel.WEBHOOK, "http://h/", NOW) == "sent"
    assert tasks.begin_notification(store, 7, tasks.Channel.EMAIL, "a@b.ru", NOW) is None
    tasks.finish_notification(store, 7, tasks.Channel.EMAIL, NOW, "550 refused")
    assert tasks.failed_notifications(store) == 1


def test_overdue_tasks_are_open_past_their_due_day_and_closing_records_who_and_when(store):
    for i, due in enumerate((date(2026, 3, 10), date(2026, 3, 12), date(2026, 3, 9))):
        tasks.add_task(store, i + 1, 0, f"C{i}", "legal", "Беляев", f"task {i}", due, NOW)
    ids = {t.title: t.id for t in tasks.list_tasks(store, "all", date(2026, 3, 12))}
    overdue = tasks.list_tasks(store, "overdue", date(2026, 3, 12))
    assert [t.title for t in overdue] == ["task 2", "task 0"]  # oldest deadline first; due today is not overdue
    assert tasks.close_task(store, ids["task 2"], "Беляев И. Н.", "позвонил, обещали оплатить",
                            NOW + timedelta(hours=1))
    assert not tasks.close_task(store, ids["task 2"], "кто-то", None, NOW)
    done = tasks.task_by_id(store, ids["task 2"])
    assert (done.status, done.closed_by, done.note) == ("done", "Беляев И. Н.", "позвонил, обещали оплатить")
    assert [t.title for t in tasks.list_tasks(store, "overdue", date(2026, 3, 12))] == ["task 0"]
    assert len(tasks.list_tasks(store, "open", date(2026, 3, 12), role="legal")) == 2
    assert tasks.list_tasks(store, "open", date(2026, 3, 12), role="sales") == []
