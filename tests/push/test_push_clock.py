"""Quiet hours and deadline reminders are kept by the database's clock, as every due time is: a dispatcher whose machine
clock is off neither wakes a user at night nor holds a push the user may get now. The real
`flask --app wsgi push-dispatcher` runs under libfaketime. (FCM would refuse the sign-in of a machine
hours off, as the fake does, so the test watches the dispatcher's decision, made before sending, and
that its log points the operator at the clock.)"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from domain.notify import notify
from models import Device, OutboxMessage, Task, db, utcnow
from tests.fakes.fcm_server import write_service_account
from tests.push.test_push_dispatch import issue_resolution
from tests.support.live import FlaskCommand, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]


def _decided(row_id: int) -> bool:
    with db.engine.connect() as conn:
        return conn.scalar(sa.select(OutboxMessage.last_error).where(OutboxMessage.id == row_id)) is not None


def _skewed_dispatcher(app, fake_fcm, service_key, tmp_path, faketime: str, offset: str):
    """The real dispatcher, its machine's wall clock `offset` from the database's."""
    settings = {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "DATA_DIR": str(tmp_path / "data"),
                "FIREBASE_CREDENTIALS": str(write_service_account(tmp_path / "sa.json", service_key,
                                                                  fake_fcm.token_uri)),
                "FCM_ENDPOINT": fake_fcm.url, "PUSH_POLL_MS": "100", "NO_PROXY": "127.0.0.1",
                "LD_PRELOAD": faketime, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return FlaskCommand("push-dispatcher", settings=settings, log=tmp_path / "dispatcher.log")


@pytest.mark.parametrize("offset", ["+3h", "-3h"])
def test_a_dispatcher_hours_off_keeps_quiet_hours_by_the_database_clock(app, demo, fake_fcm, service_key, tmp_path,
                                                                         faketime, offset):
    employee = demo["employee1"]
    db.session.execute(sa.update(OutboxMessage).values(status="done"))  # the demo's own, phoneless
    db.session.add(Device(user_id=employee.id, token="tok-night", platform="android", locale="ru"))
    # Quiet from an hour ago to an hour from now, by the clock this machine and the database share.
    local = utcnow().astimezone(ZoneInfo(employee.timezone)).replace(second=0, microsecond=0)
    employee.quiet_from = (local - timedelta(hours=1)).strftime("%H:%M")
    employee.quiet_to = (local + timedelta(hours=1)).strftime("%H:%M")
    row = notify("task_completed", employee.id, None, task_id=7)  # not urgent: it waits for the morning
    urgent = notify("task_assigned", employee.id, None, task_id=8)  # goes now, and meets FCM's refusal
    db.session.commit()
    with _skewed_dispatcher(app, fake_fcm, service_key, tmp_path, faketime, offset) as dispatcher:
        try:
            wait_for(lambda: _decided(row.id) and _decided(urgent.id), 60, "the dispatcher's decisions")
        finally:
            output = dispatcher.stop(timeout=30)

    db.session.expire_all()
    held = db.session.get(OutboxMessage, row.id)
    assert "quiet hours" in held.last_error, output
    assert held.status == "queued" and held.attempts == 0
    assert held.available_at == (local + timedelta(hours=1)).astimezone(ZoneInfo("UTC"))
    assert fake_fcm.sends() == []
    assert "clock looks wrong" in output  # the sign-in was refused for its times, not its key


def _reminders(task_ids: list[int]) -> dict[str, set[str]]:
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(OutboxMessage.event, OutboxMessage.payload).where(
            OutboxMessage.event.in_(("deadline_soon", "deadline_today", "deadline_passed")))).all()
    found: dict[str, set[str]] = {}
    for event, payload in rows:
        if int(payload.get("task_id", 0)) in task_ids:
            found.setdefault(payload["task_id"], set()).add(event)
    return found


@pytest.mark.parametrize("offset", ["+3h", "-3h"])
def test_a_dispatcher_hours_off_owes_deadline_reminders_by_the_database_clock(app, demo, login, fake_fcm,
                                                                              service_key, tmp_path, faketime, offset):
    employee = demo["employee1"]
    for _ in range(2):
        issue_resolution(login("exec1"), [employee.id])
    passed, soon = db.session.scalars(sa.select(Task).where(Task.executor_id == employee.id)
                                      .order_by(Task.id.desc()).limit(2)).all()
    passed.deadline = utcnow() - timedelta(hours=1)  # by the database's clock: passed an hour ago
    soon.deadline = utcnow() + timedelta(hours=2)  # due in two hours
    # The organization's clock reads about 10:00, so today's 09:00 reminder of `soon` has just come.
    hours = (10 - utcnow().hour + 11) % 24 - 11
    employee.organization.timezone = f"Etc/GMT{-hours:+d}" if hours else "UTC"
    db.session.commit()
    ids = [passed.id, soon.id]

    with _skewed_dispatcher(app, fake_fcm, service_key, tmp_path, faketime, offset) as dispatcher:
        try:
            wait_for(lambda: len(_reminders(ids)) == 2, 60, "a reminder for each task")
        finally:
            output = dispatcher.stop(timeout=30)

    # Three hours ahead the second would count as passed; three hours behind the first not yet.
    found = _reminders(ids)
    assert found[str(passed.id)] == {"deadline_passed"}, output
    assert found[str(soon.id)] == {"deadline_today"}, output
