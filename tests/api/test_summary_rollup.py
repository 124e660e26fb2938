"""The summary's whole months come from task_months, kept by triggers on tasks: after any history of
accepts, returns, withdrawals, removals and corrections it answers exactly what counting every task
answers, for any period (month edges in UTC and in the organization's time zone included)."""
import random
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from domain.workdays import end_of_day
from models import Organization, Task, TaskMonth, db
from tests.api.test_execution_control import _issue, _task

STATES = ("open", "due_soon", "overdue", "done_on_time", "done_late")
UTC = timezone.utc


def _plain(executors: set[int], start: datetime, end: datetime, now: datetime) -> dict[int, Counter]:
    """The summary's definition, task by task: controlled, not removed, not withdrawn, issued in the period."""
    counts: dict[int, Counter] = {}
    for task in db.session.scalars(sa.select(Task).where(Task.executor_id.in_(executors))):
        if not task.control or task.removed or task.withdrawn or not start <= task.created_at <= end:
            continue
        done_at = task.reported_at or task.completed_at
        if task.status == "done":
            state = "done_on_time" if task.deadline is None or (done_at and done_at <= task.deadline) else "done_late"
        elif task.deadline is not None and task.deadline < now:
            state = "overdue"
        elif task.deadline is not None and task.deadline < now + timedelta(days=3):
            state = "due_soon"
        else:
            state = "open"
        counts.setdefault(task.executor_id, Counter())[state] += 1
    return counts


def _months() -> dict[tuple[int, date, int], tuple[int, int, int]]:
    """What task_months should hold, counted from the tasks (rows of zeros left out): per executor, UTC
    month of issue and the executor's organization, the tasks done on time, done late and not done."""
    months: Counter = Counter()
    for task in db.session.scalars(sa.select(Task)):
        if task.control and not task.withdrawn and not task.removed:
            done_at = task.reported_at or task.completed_at
            on_time = task.deadline is None or (done_at is not None and done_at <= task.deadline)
            kind = ("on_time" if on_time else "late") if task.status == "done" else "not_done"
            key = (task.executor_id, task.created_at.astimezone(UTC).date().replace(day=1),
                   task.executor.organization_id)
            months[key + (kind,)] += 1
    return {(e, m, o): (months[(e, m, o, "on_time")], months[(e, m, o, "late")], months[(e, m, o, "not_done")])
            for e, m, o, _ in months}


def _kept() -> dict[tuple[int, date, int], tuple[int, int, int]]:
    return {(r.executor_id, r.month, r.organization_id): (r.on_time, r.late, r.not_done)
            for r in db.session.scalars(sa.select(TaskMonth)) if r.on_time or r.late or r.not_done}


def _moment(rng: random.Random, now: datetime, tz: str) -> datetime:
    """A moment of the last 14 months, often exactly at a month's start in UTC or in the zone."""
    day = (now - timedelta(days=rng.randint(1, 420))).date()
    kind = rng.random()
    if kind < 0.25:
        return datetime(day.year, day.month, 1, tzinfo=UTC) - timedelta(microseconds=rng.choice([0, 1]))
    if kind < 0.5:
        return datetime(day.year, day.month, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC) - timedelta(
            microseconds=rng.choice([0, 1]))
    return datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=UTC)


def _deadline(rng: random.Random, created: datetime, now: datetime) -> datetime | None:
    """None, or a deadline clear of the moments that divide the states (now, now + 3 days)."""
    if rng.random() < 0.2:
        return None
    deadline = created + timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 23))
    for edge in (now, now + timedelta(days=3)):
        if abs(deadline - edge) < timedelta(hours=2):
            deadline += timedelta(hours=5)
    return deadline


def _periods(rng: random.Random, now: datetime, tz: str) -> list[tuple[str, str, datetime, datetime]]:
    """(from, to, start, end) as sent and as meant: dates (the zone's days), UTC month starts, moments."""
    org_tz = ZoneInfo(tz)
    found = [("", "", None, None)]
    for _ in range(7):
        a, b = sorted(_moment(rng, now, tz) for _ in range(2))
        kind = rng.random()
        if kind < 0.4:
            first, last = a.astimezone(org_tz).date(), b.astimezone(org_tz).date()
            found.append((first.isoformat(), last.isoformat(),
                          datetime.combine(first, time.min, tzinfo=org_tz), end_of_day(_org(), last)))
        else:
            if kind < 0.7:  # whole UTC months, the end being the next month's first moment
                a = a.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
                b = b.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            a, b = a.replace(microsecond=0), b.replace(microsecond=0)
            found.append((a.strftime("%Y-%m-%dT%H:%M:%SZ"), b.strftime("%Y-%m-%dT%H:%M:%SZ"), a, b))
    return found


def _org() -> Organization:
    return db.session.scalar(sa.select(Organization).where(Organization.code == _org.code))


def _check(exec1, executors: set[int], periods, now_before: datetime) -> None:
    assert _kept() == _months()
    for sent_from, sent_to, start, end in periods:
        query = "&".join(f"{k}={v}" for k, v in (("from", sent_from), ("to", sent_to)) if v)
        resp = exec1.get(f"/control/summary?{query}")
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        if start is None:
            end = datetime.fromisoformat(body["to"].replace("Z", "+00:00"))
            start = end - timedelta(days=365)
            end += timedelta(seconds=1)  # the answer gives whole seconds of `now`
        expected = _plain(executors, start, end, now_before)
        got = {int(e["executor"]["id"]): Counter({s: e[s] for s in STATES if e[s]}) for e in body["executors"]}
        assert got == {e: c for e, c in expected.items() if c}, (sent_from, sent_to)
        assert body["total"] == {**{s: sum(c[s] for c in expected.values()) for s in STATES},
                                 "discipline": body["total"]["discipline"]}, (sent_from, sent_to)


def test_the_rollup_counts_what_every_task_counts(login, demo):
    rng = random.Random(29)
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    _org.code = demo["exec1"].organization.code
    people = {demo["employee1"].id: emp1, demo["employee2"].id: emp2}
    # The demo's own resolution (to exec1 and employee1) is taken off control: only ours count.
    demo_resolution = emp1.get("/tasks").get_json()["items"][0]["resolution_id"]
    assert login("minister").post(f"/resolutions/{demo_resolution}/withdraw", json={"reason": "Снято"}).status_code \
        == 200
    now = datetime.now(UTC)
    tz = _org().timezone
    resolutions = []
    for n in range(22):
        executor = rng.choice(list(people))
        resolution = _issue(exec1, [demo["employee1"] if executor == demo["employee1"].id else demo["employee2"]],
                            deadline=now + timedelta(days=30), doc=n % 5 + 1)
        task_id = int(_task(people[executor], resolution["id"])["id"])
        created = _moment(rng, now, tz)
        # Issued long ago (a correction of the kind an import makes): the trigger follows created_at.
        db.session.execute(sa.update(Task).where(Task.id == task_id).values(
            created_at=created, deadline=_deadline(rng, created, now)))
        db.session.commit()
        resolutions.append((resolution["id"], task_id, executor))

    for resolution_id, task_id, executor in resolutions:
        action = rng.choice(["accept", "accept", "accept", "return", "report", "withdraw", "remove", "none"])
        if action in ("accept", "return", "report"):
            assert people[executor].post(f"/tasks/{task_id}/report", json={"text": "Сделано"}).status_code == 200
        if action in ("accept", "return"):
            assert exec1.post(f"/tasks/{task_id}/{action}", json={"comment": "Да"}).status_code == 200
        if action == "return" and rng.random() < 0.5:  # reported again and accepted this time
            assert people[executor].post(f"/tasks/{task_id}/report", json={"text": "Дополнено"}).status_code == 200
            assert exec1.post(f"/tasks/{task_id}/accept", json={}).status_code == 200
        if action == "withdraw":
            assert exec1.post(f"/resolutions/{resolution_id}/withdraw", json={"reason": "Снято"}).status_code == 200
        if action == "remove":
            db.session.execute(sa.update(Task).where(Task.id == task_id).values(removed=True))
            db.session.commit()
    executors = set(people)
    _check(exec1, executors, _periods(rng, now, tz), now)

    # Corrections of done tasks: another month, another executor, undone, removed, and a task deleted.
    done = list(db.session.scalars(sa.select(Task).where(Task.status == "done", Task.executor_id.in_(executors))
                                   .order_by(Task.id)))
    assert len(done) >= 5
    done[0].created_at = done[0].created_at - timedelta(days=40)
    done[1].executor_id = next(e for e in executors if e != done[1].executor_id)
    done[2].status, done[2].completed_at = "open", None
    done[3].removed = True
    done[4].deadline = (done[4].reported_at or done[4].completed_at) - timedelta(days=1)  # late after all
    db.session.commit()
    db.session.execute(sa.delete(Task).where(Task.id == done[5].id)) if len(done) > 5 else None
    db.session.commit()
    _check(exec1, executors, _periods(rng, now, tz), now)

    # The same periods in a zone far east of UTC: its month edges are no longer UTC's.
    _org().timezone = "Asia/Vladivostok"
    db.session.commit()
    _check(exec1, executors, _periods(rng, now, "Asia/Vladivostok"), now)

    # A person who moves to another organization takes their tasks and their counts along.
    mover = demo["employee2"]
    elsewhere = Organization(name="Министерство другое", short_name="Другое", code="ДРУГ")
    db.session.add(elsewhere)
    db.session.flush()
    mover.organization_id = elsewhere.id
    db.session.commit()
    db.session.expire_all()
    moved = db.session.scalars(sa.select(Task.organization_id).where(Task.executor_id == mover.id))
    assert set(moved) == {elsewhere.id}
    assert {r.organization_id for r in db.session.scalars(sa.select(TaskMonth).where(
        TaskMonth.executor_id == mover.id))} == {elsewhere.id}
    assert _kept() == _months()
