"""Deadline reminders on a controlled clock: the scan is given the moment it runs at, hour by hour over days
of March 2026, as the dispatcher gives it the database's clock. What a user notices is the outbox row
(what they are told and from when it may reach their phone) and, drained through the real dispatcher
to the fake FCM, the text on their phone."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from models import OutboxMessage, ReminderScan, Task, TaskReminder, db
from push import deadlines
from tests.push.test_push_dispatch import register, sent

UTC, MSK = timezone.utc, ZoneInfo("Europe/Moscow")
T0 = datetime(2026, 3, 4, 0, 0, tzinfo=UTC)  # the demo organizations keep Moscow time
# The scans of a day (UTC hours): 05:00 is 08:00 in Moscow (the end of the quiet hours below), 06:00 is 09:00
# (a day's reminders), 07:00 a deadline of 10:00, 21:00 the first scan after 23:59:59 in Moscow.
HOURS = (0, 5, 6, 7, 12, 21)
REMINDERS = ("deadline_ahead", "deadline_soon", "deadline_today", "deadline_passed")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def end_of(day: int) -> datetime:
    """A deadline said as a date: the last second of that day in Moscow."""
    return datetime(2026, 3, day, 23, 59, 59, tzinfo=MSK)


@pytest.fixture
def clean(app, demo):
    db.session.execute(sa.delete(OutboxMessage))  # the demo's own notifications
    db.session.execute(sa.delete(ReminderScan))
    db.session.add(ReminderScan(id=1, scanned_until=T0))  # the scanner last looked at T0
    db.session.commit()
    return demo


def issue(login, demo, deadline: datetime, *executors: str) -> list[int]:
    """exec1 issues a controlled resolution to `executors` (employee1 by default); their tasks' deadline is
    then set to `deadline` on the test's clock. Returns the task ids in the executors' order."""
    names = executors or ("employee1",)
    document_id = login("exec1").get("/inbox").get_json()["items"][0]["document_id"]
    resp = login("exec1").post(f"/documents/{document_id}/resolutions", json={
        "text": "Подготовить ответ заявителю", "executors": [str(demo[n].id) for n in names],
        "deadline": "2030-01-01T00:00:00Z", "issue": True})
    assert resp.status_code == 201, resp.get_json()
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(resp.get_json()["id"]))
                               .order_by(Task.id)).all()
    for task in tasks:
        task.deadline = deadline
    db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.event == "task_assigned"))
    db.session.commit()
    by_executor = {t.executor_id: t.id for t in tasks}
    return [by_executor[demo[n].id] for n in names]


def scan_until(end: datetime, start: datetime = T0, hours: tuple[int, ...] = HOURS) -> dict[datetime, int]:
    """Scan at `hours` of each day after `start` up to `end`; the scans that owed anything, with how much."""
    made, day = {}, start.replace(hour=0)
    while day < end:
        for hour in hours:
            now = day + timedelta(hours=hour)
            if start < now <= end and (count := deadlines.scan(now)):
                made[now] = count
        day += timedelta(days=1)
    return made


def told(user_id: int, *events: str) -> list[tuple[str, datetime, dict]]:
    """(event, from when it may be sent, payload) of the user's reminders and digests, in order."""
    rows = db.session.execute(sa.select(OutboxMessage.event, OutboxMessage.available_at, OutboxMessage.payload)
                              .where(OutboxMessage.user_id == user_id,
                                     OutboxMessage.event.in_(events or (*REMINDERS, "overdue_digest")))
                              .order_by(OutboxMessage.id)).all()
    return [(e, a, {k: v for k, v in p.items() if k not in ("event", "document_id")}) for e, a, p in rows]


def test_each_threshold_once_three_days_before_the_day_before_the_day_and_overdue(
        clean, login, dispatcher, fake_fcm):
    demo = clean
    employee = demo["employee1"]
    register(login("employee1"), "phone-ru", "android", "ru-RU")
    [task] = issue(login, demo, end_of(10))

    scans = scan_until(at(12, 0))

    ids = {"task_id": str(task), "deadline": "2026-03-10T20:59:59Z"}
    # Each on the morning of its day (09:00 in Moscow), the overdue one at the deadline's second.
    assert told(employee.id) == [("deadline_ahead", at(7, 6), {**ids, "days": "3"}),
                                 ("deadline_soon", at(9, 6), ids),
                                 ("deadline_today", at(10, 6), ids),
                                 ("deadline_passed", at(10, 21), ids)]
    # The controller: one digest of it. Nothing else was owed by the 40-odd scans.
    assert told(demo["exec1"].id) == [("overdue_digest", at(10, 21), {"count": "1", "task_ids": str(task)})]
    assert scans == {at(7, 6): 1, at(9, 6): 1, at(10, 6): 1, at(10, 21): 2}

    dispatcher.drain()
    bodies = sorted(m["notification"]["body"] for m in sent(fake_fcm, "phone-ru"))
    assert bodies == sorted(["До срока исполнения поручения осталось дней: 3.",
                      "Срок исполнения поручения истекает завтра.",
                      "Срок исполнения поручения истекает сегодня.",
                      "Срок исполнения поручения истёк."])


def test_the_organization_chooses_its_reminder_days(clean, login):
    demo = clean
    admin = login("admin1")
    assert login("exec1").patch("/organization", json={"remind_days": [5, 2]}).status_code == 403
    half = admin.patch("/organization", json={"quiet_from": "22:00"})
    assert half.status_code == 422 and "quiet_to" in half.get_json()["errors"]
    answer = admin.patch("/organization", json={"remind_days": [2, 5]})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["remind_days"] == [5, 2]
    [task] = issue(login, demo, end_of(10))

    scan_until(at(11, 0))

    assert [(e, a, p.get("days")) for e, a, p in told(demo["employee1"].id)] == [
        ("deadline_ahead", at(5, 6), "5"), ("deadline_ahead", at(8, 6), "2"),  # and not the day before
        ("deadline_today", at(10, 6), None), ("deadline_passed", at(10, 21), None)]


def test_a_moved_deadline_is_reminded_again_and_the_old_one_is_forgotten(clean, login):
    demo = clean
    [task] = issue(login, demo, end_of(10))
    scan_until(at(9, 12))  # reminded three days and one day before
    extended = db.session.get(Task, task)
    extended.deadline = end_of(20)  # an extension approved
    db.session.commit()

    scan_until(at(21, 0), start=at(9, 12))

    new = {"task_id": str(task), "deadline": "2026-03-20T20:59:59Z"}
    assert [(e, a, p["deadline"]) for e, a, p in told(demo["employee1"].id)] == [
        ("deadline_ahead", at(7, 6), "2026-03-10T20:59:59Z"), ("deadline_soon", at(9, 6), "2026-03-10T20:59:59Z"),
        # Nothing for the 10th any more; the 20th has its own reminders, all of them.
        ("deadline_ahead", at(17, 6), new["deadline"]), ("deadline_soon", at(19, 6), new["deadline"]),
        ("deadline_today", at(20, 6), new["deadline"]), ("deadline_passed", at(20, 21), new["deadline"])]


def test_done_withdrawn_and_reported_tasks_get_no_reminders(clean, login):
    demo = clean
    done, withdrawn, reported, open_ = (issue(login, demo, end_of(10))[0] for _ in range(4))
    employee, exec1 = login("employee1"), login("exec1")
    for task in (done, reported):
        assert employee.post(f"/tasks/{task}/report", json={"text": "Исполнено"}).status_code == 200
    assert exec1.post(f"/tasks/{done}/accept", json={}).status_code == 200
    resolution = db.session.get(Task, withdrawn).resolution_id
    assert exec1.post(f"/resolutions/{resolution}/withdraw", json={"reason": "Утратило силу"}).status_code == 200

    scan_until(at(12, 0))

    assert {p["task_id"] for _, _, p in told(demo["employee1"].id)} == {str(open_)}
    assert [p for e, _, p in told(demo["exec1"].id)] == [{"count": "1", "task_ids": str(open_)}]


def test_quiet_hours_are_kept_in_each_users_own_zone(clean, login):
    demo = clean
    far_east, far_west = demo["employee1"], demo["employee2"]
    far_east.timezone, far_west.timezone = "Asia/Vladivostok", "Europe/Kaliningrad"
    far_east.organization.quiet_from, far_east.organization.quiet_to = "22:00", "08:00"
    night_owl = demo["assistant1"]
    night_owl.quiet_from, night_owl.quiet_to = "00:00", "00:00"  # none at all, whatever the organization says
    db.session.commit()
    east, west, _ = issue(login, demo, end_of(10), "employee1", "employee2", "assistant1")

    scan_until(at(11, 12))

    # 23:59:59 in Moscow is 06:59:59 of the 11th in Vladivostok: told at 08:00 there (22:00 UTC).
    # It is 22:59:59 in Kaliningrad: told at 08:00 there the next morning (06:00 UTC).
    assert told(far_east.id, "deadline_passed") == [
        ("deadline_passed", datetime(2026, 3, 11, 8, 0, tzinfo=ZoneInfo("Asia/Vladivostok")),
         {"task_id": str(east), "deadline": "2026-03-10T20:59:59Z"})]
    assert told(far_west.id, "deadline_passed")[0][1] == datetime(2026, 3, 11, 8, 0,
                                                                  tzinfo=ZoneInfo("Europe/Kaliningrad"))
    assert [a for _, a, _ in told(night_owl.id, "deadline_passed")] == [at(10, 21)]  # told at 23:59:59 Moscow
    # 09:00 in Moscow is daytime in both: told at once.
    assert [a for _, a, _ in told(far_east.id, "deadline_today")] == [at(10, 6)]
    assert [a for _, a, _ in told(far_west.id, "deadline_today")] == [at(10, 6)]


def test_the_controller_gets_one_digest_a_day_of_what_became_overdue(clean, login):
    demo = clean
    exec1 = demo["exec1"]
    exec1.quiet_from, exec1.quiet_to = "22:00", "08:00"  # in Moscow: the digest waits for the morning
    db.session.commit()
    first = issue(login, demo, end_of(10), "employee1", "employee2")
    third = issue(login, demo, datetime(2026, 3, 11, 10, 0, tzinfo=MSK))[0]  # overdue after that morning's digest
    fourth = issue(login, demo, end_of(11))[0]
    never = issue(login, demo, end_of(30))[0]  # not overdue: never in a digest

    scan_until(at(13, 0))

    digests = told(exec1.id)
    # One a day, in the controller's morning (08:00 Moscow = 05:00 UTC), listing what became overdue since.
    assert digests == [
        ("overdue_digest", at(11, 5), {"count": "2", "task_ids": ",".join(map(str, first))}),
        ("overdue_digest", at(12, 5), {"count": "2", "task_ids": f"{third},{fourth}"})]
    assert str(never) not in ",".join(p["task_ids"] for _, _, p in digests)
    # The executors were told each of their own, one push a task.
    assert len(told(demo["employee1"].id, "deadline_passed")) == 3


def test_a_scan_that_forgot_how_far_it_looked_owes_nothing_twice(clean, login):
    demo = clean
    issue(login, demo, end_of(10), "employee1", "employee2")
    scan_until(at(11, 0))
    before = told(demo["employee1"].id) + told(demo["employee2"].id) + told(demo["exec1"].id)

    db.session.execute(sa.update(ReminderScan).values(scanned_until=T0))  # as after a restore
    db.session.commit()
    assert scan_until(at(11, 0), hours=(0, 6, 12, 18)) == {}

    assert told(demo["employee1"].id) + told(demo["employee2"].id) + told(demo["exec1"].id) == before
    assert len(before) == 2 * 4 + 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_scanners_at_once_owe_each_reminder_once(app, clean, login):
    demo = clean
    tasks = issue(login, demo, end_of(10), "employee1", "employee2")
    moments = [T0 + timedelta(hours=h) for h in range(1, 24 * 7, 3)]
    scanners, barrier, errors = 4, threading.Barrier(4), []

    def scanner(n: int) -> None:
        with app.app_context():
            try:
                for now in moments:
                    barrier.wait(timeout=30)
                    # Half of them as if the other were never seen: the unique key still holds.
                    if n % 2:
                        db.session.execute(sa.update(ReminderScan).values(scanned_until=now - timedelta(days=1)))
                    deadlines.scan(now, f"scanner-{n}")
            except Exception as error:  # noqa: BLE001
                errors.append(error)
                barrier.abort()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=scanner, args=(n,)) for n in range(scanners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    for user in ("employee1", "employee2"):
        assert [e for e, _, _ in told(demo[user].id)] == list(REMINDERS)
    assert [p["count"] for _, _, p in told(demo["exec1"].id)] == ["2"]
    kinds = db.session.execute(sa.select(TaskReminder.task_id, TaskReminder.kind)).all()
    assert sorted(kinds) == sorted((t, k) for t in tasks for k in ("d3", "d1", "d0", "overdue"))
