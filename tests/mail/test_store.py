"""Deliveries, notifications and task closing on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from robots.store import mail as db

NOW = datetime(2026, 3, 12, 9, 0, tzinfo=timezone.utc)


def test_a_delivery_is_begun_once_and_a_sending_one_counts_its_attempts(store):
    assert db.begin_delivery(store, 1, 3, "<arbots.x@a.ru>", {"to": ["a@b.ru"]}, "S", NOW) is None
    assert db.begin_delivery(store, 1, 3, "<arbots.x@a.ru>", {"to": ["a@b.ru"]}, "S", NOW) == "sending"
    assert db.delivery(store, 1, 3).attempts == 2
    db.mark_sent(store, 1, 3, "250 queued", {"x@b.ru": "550 no"}, NOW)
    assert db.begin_delivery(store, 1, 3, "<arbots.x@a.ru>", {}, "S", NOW) == "sent"
    row = db.delivery(store, 1, 3)
    assert (row.status, row.attempts, row.response, row.error) == ("sent", 2, "250 queued", "x@b.ru: 550 no")
    assert db.mark_bounced(store, "<arbots.x@a.ru>", "5.1.1 gone", NOW) == 1
    assert db.mark_bounced(store, "<arbots.x@a.ru>", "again", NOW) == 0
    assert db.delivery_counts(store) == {"bounced": 1}


def test_a_notification_is_recorded_once_per_task_and_channel(store):
    assert db.begin_notification(store, 7, db.Channel.WEBHOOK, "http://h/", NOW) is None
    db.finish_notification(store, 7, db.Channel.WEBHOOK, NOW, "HTTP 503", final=False)
    assert db.begin_notification(store, 7, db.Channel.WEBHOOK, "http://h/", NOW) == "sending"
    db.finish_notification(store, 7, db.Channel.WEBHOOK, NOW)
    assert db.begin_notification(store, 7, db.Channel.WEBHOOK, "http://h/", NOW) == "sent"
    assert db.begin_notification(store, 7, db.Channel.EMAIL, "a@b.ru", NOW) is None
    db.finish_notification(store, 7, db.Channel.EMAIL, NOW, "550 refused")
    assert db.failed_notifications(store) == 1


def test_overdue_tasks_are_open_past_their_due_day_and_closing_records_who_and_when(store):
    for i, due in enumerate((date(2026, 3, 10), date(2026, 3, 12), date(2026, 3, 9))):
        store.add_task(i + 1, 0, f"C{i}", "legal", "Беляев", f"task {i}", due, NOW)
    ids = {t.title: t.id for t in db.list_tasks(store, "all", date(2026, 3, 12))}
    overdue = db.list_tasks(store, "overdue", date(2026, 3, 12))
    assert [t.title for t in overdue] == ["task 2", "task 0"]  # oldest deadline first; due today is not overdue
    assert db.close_task(store, ids["task 2"], "Беляев И. Н.", "позвонил, обещали оплатить", NOW + timedelta(hours=1))
    assert not db.close_task(store, ids["task 2"], "кто-то", None, NOW)
    done = db.task_by_id(store, ids["task 2"])
    assert (done.status, done.closed_by, done.note) == ("done", "Беляев И. Н.", "позвонил, обещали оплатить")
    assert [t.title for t in db.list_tasks(store, "overdue", date(2026, 3, 12))] == ["task 0"]
    assert len(db.list_tasks(store, "open", date(2026, 3, 12), role="legal")) == 2
    assert db.list_tasks(store, "open", date(2026, 3, 12), role="sales") == []
