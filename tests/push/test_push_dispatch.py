"""The dispatcher end to end: HTTP API -> outbox -> real firebase_admin -> fake FCM, on both databases."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from domain.inbox import unread_count
from domain.notify import EVENTS, notify
from models import Device, OutboxMessage, PushDelivery, ReminderScan, Task, db, utcnow
from push.dispatcher import Dispatcher, Settings
from push.messages import Event
from tests.fakes.fcm_server import Failure


def register(api, token: str, platform: str = "android", locale: str | None = "ru-RU") -> str:
    resp = api.post("/devices", json={"token": token, "platform": platform,
                                      **({"locale": locale} if locale else {})})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def issue_resolution(author, executor_ids: list[int], deadline: str | None = None) -> tuple[str, dict]:
    """Issue a resolution on the author's first inbox document; returns (document id, resolution)."""
    document_id = author.get("/inbox").get_json()["items"][0]["document_id"]
    body = {"text": "Подготовить ответ заявителю", "executors": [str(i) for i in executor_ids], "issue": True}
    if deadline:
        body["deadline"] = deadline
    resp = author.post(f"/documents/{document_id}/resolutions", json=body)
    assert resp.status_code == 201, resp.get_json()
    return document_id, resp.get_json()


def sent(fake_fcm, *tokens: str) -> list[dict]:
    """The messages the fake received for these tokens, in order."""
    messages = [r.body["message"] for r in fake_fcm.sends()]
    return [m for m in messages if m["token"] in tokens]


def outbox(user_id: int, event: str | None = None) -> list[OutboxMessage]:
    query = sa.select(OutboxMessage).where(OutboxMessage.user_id == user_id).order_by(OutboxMessage.id)
    if event:
        query = query.where(OutboxMessage.event == event)
    return list(db.session.scalars(query))


@pytest.fixture
def executor(login, demo, dispatcher):
    """employee1, signed in, with a Russian Android phone and an English iPhone."""
    dispatcher.drain()  # the demo's own notifications: nobody has a phone yet
    db.session.execute(sa.delete(OutboxMessage))  # each test starts from an empty outbox
    db.session.commit()
    api = login("employee1")
    register(api, "phone-ru", "android", "ru-RU")
    register(api, "phone-en", "ios", "en-US")
    return api, demo["employee1"]


def test_issued_resolution_reaches_both_devices_in_their_languages(login, demo, executor, dispatcher, fake_fcm):
    _, employee = executor
    document_id, resolution = issue_resolution(login("exec1"), [employee.id])
    [task] = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(resolution["id"])))

    dispatcher.drain()

    by_token = {m["token"]: m for m in sent(fake_fcm, "phone-ru", "phone-en")}
    assert sorted(by_token) == ["phone-en", "phone-ru"]
    [row] = outbox(employee.id, "task_assigned")
    # The same event id on every device: the phones' copy of one event, whatever resends happen.
    ids = {"event": "task_assigned", "document_id": document_id, "task_id": str(task.id),
           "resolution_id": resolution["id"], "event_id": str(row.id)}
    ru, en = by_token["phone-ru"], by_token["phone-en"]
    assert ru["notification"] == {"title": "Новое поручение", "body": "Вам назначено поручение."}
    assert en["notification"] == {"title": "New task", "body": "You have been assigned a task."}
    assert ru["data"] == en["data"] == ids
    badge = unread_count(employee.id)
    assert badge >= 1
    assert ru["android"]["priority"] == "high"
    assert ru["android"]["notification"]["notification_count"] == badge
    assert en["apns"]["payload"]["aps"]["badge"] == badge
    # One collapse slot per event, so a resend replaces the notification already shown.
    assert ru["android"]["collapse_key"] == ru["android"]["notification"]["tag"] == f"event-{row.id}"
    assert en["apns"]["headers"]["apns-collapse-id"] == f"event-{row.id}"
    # No document content leaves unless the organization allows it.
    wire = json.dumps([ru, en], ensure_ascii=False)
    document = task.document
    assert document.reg_number not in wire and document.title[:20] not in wire
    db.session.refresh(row)
    assert row.status == "done"
    deliveries = db.session.scalars(sa.select(PushDelivery).where(PushDelivery.outbox_id == row.id)).all()
    assert {d.status for d in deliveries} == {"delivered"} and len(deliveries) == 2
    assert all(d.message_id.startswith("projects/") for d in deliveries)


def test_organization_may_show_the_registration_number(login, demo, executor, dispatcher, fake_fcm):
    _, employee = executor
    employee.organization.push_shows_document = True
    db.session.commit()
    _, resolution = issue_resolution(login("exec1"), [employee.id])
    dispatcher.drain()

    [task] = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(resolution["id"])))
    [ru] = sent(fake_fcm, "phone-ru")
    [en] = sent(fake_fcm, "phone-en")
    assert ru["notification"]["body"].startswith(f"Вам назначено поручение.\n№ {task.document.reg_number} · ")
    assert en["notification"]["body"].startswith(f"You have been assigned a task.\nNo. {task.document.reg_number}")


def test_unregistered_token_deletes_the_device(login, demo, executor, dispatcher, fake_fcm):
    _, employee = executor
    fake_fcm.fail("phone-en", Failure(404, "UNREGISTERED"))
    issue_resolution(login("exec1"), [employee.id])
    dispatcher.drain()

    assert db.session.scalars(sa.select(Device.token).where(Device.user_id == employee.id)).all() == ["phone-ru"]
    [row] = outbox(employee.id, "task_assigned")
    assert row.status == "done"
    assert len(sent(fake_fcm, "phone-ru")) == 1


def test_quota_exceeded_backs_off_for_retry_after_then_sends_only_the_missing_device(
        login, demo, executor, dispatcher, fake_fcm):
    _, employee = executor
    fake_fcm.fail("phone-en", Failure(429, "QUOTA_EXCEEDED", "Quota exceeded.", retry_after="120"))
    issue_resolution(login("exec1"), [employee.id])
    before = utcnow()
    dispatcher.drain()

    [row] = outbox(employee.id, "task_assigned")
    assert row.status == "queued" and "QuotaExceeded" in row.last_error
    # Backoff for the first attempt is at most 2 s; the server's Retry-After is the floor.
    assert before + timedelta(seconds=119) <= row.available_at <= utcnow() + timedelta(seconds=121)
    statuses = dict(db.session.execute(
        sa.select(Device.token, PushDelivery.status).join(Device, Device.id == PushDelivery.device_id)
        .where(PushDelivery.outbox_id == row.id)).tuples().all())
    assert statuses == {"phone-ru": "delivered", "phone-en": "retry"}

    del fake_fcm.failures["phone-en"]
    row.available_at = utcnow()  # the two minutes pass
    db.session.commit()
    dispatcher.drain()

    assert db.session.get(OutboxMessage, row.id).status == "done"
    assert len(sent(fake_fcm, "phone-ru")) == 1
    assert len(sent(fake_fcm, "phone-en")) == 2  # the refused try, then the delivery


def test_unavailable_backs_off_exponentially_with_jitter(login, demo, executor, dispatcher, fake_fcm):
    _, employee = executor
    fake_fcm.fail("phone-en", Failure(503, None, "The service is currently unavailable."))
    issue_resolution(login("exec1"), [employee.id])
    [row] = outbox(employee.id, "task_assigned")
    delays = []
    for attempt in range(1, 5):
        before = utcnow()
        dispatcher.drain()
        db.session.refresh(row)
        assert row.status == "queued" and row.attempts == attempt
        delays.append((row.available_at - before).total_seconds())
        assert delays[-1] <= 2.0 * 2 ** (attempt - 1) + 1
        row.available_at = utcnow()
        db.session.commit()
    assert len(sent(fake_fcm, "phone-ru")) == 1


@pytest.mark.parametrize(("status", "code", "error"), [
    (401, "THIRD_PARTY_AUTH_ERROR", "ThirdPartyAuthError"),
    (403, None, "PermissionDeniedError"),
])
def test_auth_error_is_logged_loudly_and_retried_later(
        login, demo, executor, dispatcher, fake_fcm, caplog, status, code, error):
    _, employee = executor
    fake_fcm.fail("phone-ru", Failure(status, code, "Auth error"))
    issue_resolution(login("exec1"), [employee.id])
    with caplog.at_level(logging.INFO):
        dispatcher.drain()

    [row] = outbox(employee.id, "task_assigned")
    assert row.status == "queued" and row.last_error.startswith(error)
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name == "push.dispatcher"]
    assert loud and "FIREBASE_CREDENTIALS" in loud[0].getMessage()

    del fake_fcm.failures["phone-ru"]
    row.available_at = utcnow()
    db.session.commit()
    dispatcher.drain()
    assert db.session.get(OutboxMessage, row.id).status == "done"
    # google-auth answers a 401 by refreshing its token and asking again, so count rows, not requests.
    assert len(sent(fake_fcm, "phone-en")) == 1
    statuses = db.session.scalars(sa.select(PushDelivery.status).where(PushDelivery.outbox_id == row.id)).all()
    assert statuses == ["delivered", "delivered"]


def test_a_row_that_keeps_failing_ends_failed_with_the_reason(login, demo, executor, sender, fake_fcm):
    _, employee = executor
    fake_fcm.fail("phone-en", Failure(500, None, "Internal error."))
    issue_resolution(login("exec1"), [employee.id])
    dispatcher = Dispatcher(sender, Settings(max_attempts=2), name="impatient")
    [row] = outbox(employee.id, "task_assigned")
    for _ in range(2):
        dispatcher.drain()
        db.session.refresh(row)
        row.available_at = utcnow()
        db.session.commit()
    assert row.status == "failed" and "Internal" in row.last_error


def test_user_without_devices_is_done_without_sending(demo, dispatcher, fake_fcm):
    notify("task_completed", demo["exec1"].id, None, task_id=1)
    db.session.commit()
    dispatcher.drain()

    assert fake_fcm.sends() == []
    statuses = set(db.session.scalars(sa.select(OutboxMessage.status)))
    assert statuses == {"done"}


def _quiet_around_now(user, hours: int = 1) -> datetime:
    """Give `user` quiet hours from an hour ago to `hours` from now; returns their end in UTC."""
    local = datetime.now(ZoneInfo(user.timezone)).replace(second=0, microsecond=0)
    user.quiet_from = (local - timedelta(hours=1)).strftime("%H:%M")
    end = local + timedelta(hours=hours)
    user.quiet_to = end.strftime("%H:%M")
    db.session.commit()
    return end.astimezone(timezone.utc)


def test_quiet_hours_hold_non_urgent_and_let_urgent_through(demo, executor, dispatcher, fake_fcm):
    _, employee = executor
    end = _quiet_around_now(employee)
    notify("task_completed", employee.id, None, task_id=7)  # non-urgent
    notify("task_assigned", employee.id, None, task_id=8)  # urgent
    db.session.commit()
    dispatcher.drain()

    assert {m["data"]["event"] for m in sent(fake_fcm, "phone-ru", "phone-en")} == {"task_assigned"}
    [held] = outbox(employee.id, "task_completed")
    assert held.status == "queued" and held.attempts == 0
    assert held.available_at == end
    assert "quiet hours" in held.last_error

    held.available_at = utcnow()  # the morning comes: quiet hours over
    employee.quiet_from = employee.quiet_to = None
    db.session.commit()
    dispatcher.drain()
    assert {m["data"]["event"] for m in sent(fake_fcm, "phone-ru")} == {"task_assigned", "task_completed"}


def test_deadline_reminders_fire_once_each(login, demo, executor, dispatcher, fake_fcm):
    _, employee = executor
    deadline = (utcnow() + timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    _, resolution = issue_resolution(login("exec1"), [employee.id], deadline=deadline)
    [task] = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(resolution["id"])))

    dispatcher.scan_deadlines(force=True)  # the morning's reminder of it, if 09:00 in Moscow has come
    assert dispatcher.scan_deadlines(force=True) == 0
    # The last scan ran two minutes ago, and the deadline passed since.
    db.session.execute(sa.update(ReminderScan).values(scanned_until=utcnow() - timedelta(minutes=2)))
    task.deadline = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert dispatcher.scan_deadlines(force=True) == 2  # the executor's, and the controller's digest
    assert dispatcher.scan_deadlines(force=True) == 0
    dispatcher.drain()

    events = [m["data"]["event"] for m in sent(fake_fcm, "phone-ru")]
    assert sorted(set(events) - {"deadline_today", "deadline_soon"}) == ["deadline_passed", "task_assigned"]
    assert len(events) <= 3
    [passed] = [m for m in sent(fake_fcm, "phone-ru") if m["data"]["event"] == "deadline_passed"]
    assert passed["data"]["task_id"] == str(task.id)
    assert passed["notification"]["title"] == "Поручение просрочено"


def test_transcription_failed_has_texts_and_the_event_lists_agree(demo, executor, dispatcher, fake_fcm):
    assert set(EVENTS) == {e.value for e in Event}
    _, employee = executor
    notify("transcription_failed", employee.id, None, resolution_id=5, voice_note_id=6)
    db.session.commit()
    dispatcher.drain()

    [ru] = sent(fake_fcm, "phone-ru")
    assert ru["notification"]["title"] == "Запись не распознана"
    [row] = outbox(employee.id, "transcription_failed")
    assert ru["data"] == {"event": "transcription_failed", "resolution_id": "5", "voice_note_id": "6",
                          "event_id": str(row.id)}


def test_a_deputy_s_phone_gets_the_principal_s_pushes_while_the_substitution_runs(login, demo, executor, dispatcher,
                                                                                fake_fcm):
    """Through the real SDK to the fake FCM: the deputy's device gets the task pushed to the principal,
    naming the principal in its data; once the substitution is deleted, only the principal's own copy."""
    deputy = login("employee2")
    register(deputy, "deputy-phone", "android", "ru-RU")
    principal = demo["exec1"]
    now = datetime.now(timezone.utc)
    made = login("exec1").post("/substitutions", json={
        "deputy": str(demo["employee2"].id), "scopes": ["inbox"],
        "starts_at": (now - timedelta(minutes=1)).isoformat(), "ends_at": (now + timedelta(days=2)).isoformat()})
    assert made.status_code == 201, made.get_json()
    _, resolution = issue_resolution(login("minister"), [principal.id])
    dispatcher.drain()
    [message] = sent(fake_fcm, "deputy-phone")
    [own] = outbox(principal.id, "task_assigned")
    assert message["data"]["event"] == "task_assigned" and message["data"]["resolution_id"] == resolution["id"]
    assert message["data"]["for"] == str(principal.id)
    assert message["data"]["event_id"] != str(own.id)  # the deputy's own copy, collapsing on its own
    assert message["notification"]["title"] == "Новое поручение"

    assert login("exec1").delete(f"/substitutions/{made.get_json()['id']}").status_code == 204
    issue_resolution(login("minister"), [principal.id])
    dispatcher.drain()
    assert len(sent(fake_fcm, "deputy-phone")) == 1
    assert len(outbox(principal.id, "task_assigned")) == 2


def test_a_user_sets_their_own_zone_and_quiet_hours_and_pushes_keep_them(login, demo, executor, dispatcher, fake_fcm):
    """PUT /me/notification-settings: the quiet hours are the user's own, in the zone they chose (here
    Vladivostok, seven hours from the organization's Moscow), and null ends give the organization's back."""
    api, employee = executor
    assert api.get("/me/notification-settings").get_json() == {
        "timezone": "Europe/Moscow", "quiet_from": None, "quiet_to": None,
        "organization_quiet_from": employee.organization.quiet_from,
        "organization_quiet_to": employee.organization.quiet_to}
    zone = ZoneInfo("Asia/Vladivostok")
    local = datetime.now(zone).replace(second=0, microsecond=0)
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    resp = api.put("/me/notification-settings", json={"timezone": "Asia/Vladivostok",
                                                      "quiet_from": start.strftime("%H:%M"),
                                                      "quiet_to": end.strftime("%H:%M")})
    assert resp.status_code == 200, resp.get_json()
    notify("task_completed", employee.id, None, task_id=7)
    db.session.commit()
    dispatcher.drain()
    assert sent(fake_fcm, "phone-ru", "phone-en") == []
    [held] = outbox(employee.id, "task_completed")
    assert held.status == "queued" and held.available_at == end.astimezone(timezone.utc)  # their zone's clock

    back = api.put("/me/notification-settings", json={"timezone": "Asia/Vladivostok", "quiet_from": None,
                                                      "quiet_to": None})
    assert back.status_code == 200 and back.get_json()["quiet_from"] is None
    for bad in ({"timezone": "Mars/Olympus", "quiet_from": None, "quiet_to": None},
                {"timezone": "../../etc/passwd", "quiet_from": None, "quiet_to": None},
                {"timezone": "UTC", "quiet_from": "22:00", "quiet_to": None},
                {"timezone": "UTC", "quiet_from": "25:00", "quiet_to": "07:00"},
                {"timezone": "UTC"}):
        refused = api.put("/me/notification-settings", json=bad)
        assert refused.status_code == 422 and refused.get_json()["code"] == "validation_failed", bad
    db.session.expire_all()
    assert (employee.timezone, employee.quiet_from, employee.quiet_to) == ("Asia/Vladivostok", None, None)
