"""Deadline reminders: the scan that owes a task's executor a push on the mornings before its deadline, on
its day and once it has passed, and each controller one digest a day of what became overdue.

When is a reminder due? Each has a moment: 09:00 (the organization's zone) N days before the
deadline's day for each N of the organization's `remind_days` ("d<N>", N = 0 on the day itself), and
the deadline itself ("overdue"). A scan owes the reminders whose moment fell since the last scan
(`reminder_scans.scanned_until`, one row, held locked while a scan runs: a second scanner skips
rather than waits). So a scan reads only the tasks whose moment came, each stage a range of the
(status, deadline) index, whatever the table holds; a scanner down for a while owes, when it comes
back, what fell meanwhile, and of several moments of one task only the latest is told.

Exactly once: each reminder is a row of `task_reminders`, unique per (task, kind, deadline), inserted
in the same transaction as its outbox row; a second scanner's insert is a no-op. A moved deadline is a
new key, so its reminders come again; a task done or withdrawn is not open, so it gets none.

Quiet hours are the user's own (else the organization's), in the user's own time zone: a reminder
whose moment falls in them waits in the outbox until they end (its `available_at`). A reminder that would
come on another day than its own (a scanner down for a while, long quiet hours) is not sent: the next one,
on time, says what it would have.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from domain.notify import outbox_values
from models import ControlDigest, Organization, OutboxMessage, ReminderScan, Task, TaskReminder, User, db
from models.reminders import OVERDUE
from push.quiet import quiet_until

log = logging.getLogger(__name__)

MORNING = time(9, 0)  # a day's reminders are due at this hour of the organization's day
LOOKBACK = timedelta(days=1)  # a scan with no record of an earlier one looks this far back
DIGEST_LIST = 100  # task ids a digest's payload names (FCM data stays far under its 4 KB)
CHUNK = 1000  # users per read
_OPEN = (Task.status == "open", Task.removed.is_(False))
_DUE = (Task.id, Task.executor_id, Task.document_id, Task.deadline, Task.controller_id, Task.control)


def remind_days(value: str | None) -> list[int]:
    """An organization's reminder days ("3,1") as numbers, the furthest first; 0 (the day) is always one."""
    days = {0}
    for part in (value or "").replace(";", ",").split(","):
        if part.strip().isdigit() and 0 < int(part) <= 60:
            days.add(int(part))
    return sorted(days, reverse=True)


def _dialect():
    return postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite


def _take_scan(now: datetime, scanner: str) -> datetime | None:
    """How far the last scan looked, with the scan row locked for this transaction; None when another
    scanner holds it (it is looking at this stretch of time now)."""
    table = ReminderScan.__table__
    db.session.execute(_dialect().insert(table).values(id=1, scanned_until=now - LOOKBACK)
                       .on_conflict_do_nothing(index_elements=["id"]))
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalar(sa.select(table.c.scanned_until).where(table.c.id == 1)
                                 .with_for_update(skip_locked=True))
    # SQLite: one writer at a time, and the insert above already made this transaction the writer.
    return db.session.scalar(sa.select(table.c.scanned_until).where(table.c.id == 1))


def _day_window(zone: ZoneInfo, days: int, last: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The deadlines whose "d<days>" moment (MORNING of their day less `days`, in `zone`) is in (last, now]:
    [start of the day after, start of the day after) of the first and the last day that moment passed."""
    def first_day_not_passed(at: datetime) -> date:
        local = at.astimezone(zone)
        day = local.date()
        return day + timedelta(days=1) if local.timetz().replace(tzinfo=None) >= MORNING else day

    def start(day: date) -> datetime:
        return datetime.combine(day + timedelta(days=days), time(0), tzinfo=zone)

    return start(first_day_not_passed(last)), start(first_day_not_passed(now))


def _stages(last: datetime, now: datetime) -> list[tuple[str, int, str, sa.ColumnElement[bool]]]:
    """(kind, days, the organizations' zone, condition on tasks) for each stage whose moments fell in
    (last, now], the latest first."""
    stages: list[tuple[str, int, str, sa.ColumnElement[bool]]] = [
        (OVERDUE, -1, "UTC", sa.and_(Task.deadline > last, Task.deadline <= now))]
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    everyone = db.session.execute(sa.select(Organization.id, Organization.timezone, Organization.remind_days)).all()
    for org_id, zone, days in everyone:
        for n in remind_days(days):
            groups[(zone, n)].append(org_id)
    for (zone, n), orgs in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0])):
        start, end = _day_window(ZoneInfo(zone), n, last, now)
        if start >= end:
            continue
        window = sa.and_(Task.deadline >= start, Task.deadline < end)
        if len(orgs) < len(everyone):  # else every organization's: the index range alone
            window = sa.and_(window, Task.executor_id.in_(sa.select(User.id).where(User.organization_id.in_(orgs))))
        stages.append((f"d{n}", n, zone, window))
    return stages


def _users(ids: set[int]) -> dict[int, sa.Row]:
    found = {}
    listed = sorted(ids)
    for i in range(0, len(listed), CHUNK):
        found.update({u.id: u for u in db.session.execute(
            sa.select(User.id, User.is_active, User.timezone,
                      sa.func.coalesce(User.quiet_from, Organization.quiet_from).label("quiet_from"),
                      sa.func.coalesce(User.quiet_to, Organization.quiet_to).label("quiet_to"))
            .join(User.organization).where(User.id.in_(listed[i:i + CHUNK])))})
    return found


def _event(kind: str, days: int) -> str:
    if kind == OVERDUE:
        return "deadline_passed"
    return {0: "deadline_today", 1: "deadline_soon"}.get(days, "deadline_ahead")


def _insert_new(table: sa.Table, rows: list[dict], *returning) -> list:
    """Insert the rows whose key is not there yet, in batches of one statement compiled once; the new ones."""
    stmt = _dialect().insert(table).on_conflict_do_nothing(index_elements=["task_id", "kind", "deadline"])
    return db.session.execute(stmt.returning(*returning), rows).all() if rows else []


def _days_left(deadline: datetime, at: datetime, zone: str) -> int:
    """Days from `at` to the deadline's day, by the calendar of the organization's zone."""
    tz = ZoneInfo(zone)
    return (deadline.astimezone(tz).date() - at.astimezone(tz).date()).days


def _digest_of(kind: str, task: sa.Row, now: datetime) -> dict:
    """An overdue controlled task waits for its controller's digest; any other reminder is for no digest
    (its day set at once, so the digest's index holds only those that wait)."""
    if kind == OVERDUE and task.control and task.controller_id:
        return {"controller_id": task.controller_id, "digest_day": None}
    return {"controller_id": None, "digest_day": now.date()}


def _remind(kind: str, days: int, zone: str, due: list[sa.Row], now: datetime) -> int:
    """Record these tasks' reminders of `kind` and owe their executors the pushes; returns how many were new."""
    if not due:
        return 0
    won = {r.task_id: r.id for r in _insert_new(
        TaskReminder.__table__,
        [{"task_id": t.id, "kind": kind, "deadline": t.deadline, "created_at": now,
          **_digest_of(kind, t, now)} for t in due],
        TaskReminder.id, TaskReminder.task_id)}
    users = _users({t.executor_id for t in due if t.id in won})
    owed, reminders = [], []
    for t in due:
        user = users.get(t.executor_id)
        if t.id not in won or user is None or not user.is_active:
            continue
        until = quiet_until(now, user.quiet_from, user.quiet_to, user.timezone) or now
        if kind != OVERDUE and _days_left(t.deadline, until, zone) != days:
            continue  # it would come late (a scanner down, quiet hours): the next reminder says it then
        ids = {"task_id": t.id, "deadline": t.deadline.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if _event(kind, days) == "deadline_ahead":
            ids["days"] = days
        owed.append({**outbox_values(_event(kind, days), t.executor_id, t.document_id, **ids),
                     "status": "queued", "attempts": 0, "available_at": until, "created_at": now})
        reminders.append(won[t.id])
    if owed:
        outbox = [r.id for r in db.session.execute(
            sa.insert(OutboxMessage.__table__).returning(OutboxMessage.id, sort_by_parameter_order=True), owed)]
        table = TaskReminder.__table__
        db.session.execute(table.update().where(table.c.id == sa.bindparam("rid"))
                           .values(outbox_id=sa.bindparam("oid")),
                           [{"rid": r, "oid": o} for r, o in zip(reminders, outbox, strict=True)])
    return len(owed)


def _digests(now: datetime) -> int:
    """Each controller out of quiet hours whose controlled tasks became overdue since their last digest gets
    one push listing them, at most one a day (their own day)."""
    undigested = sa.and_(TaskReminder.kind == OVERDUE, TaskReminder.digest_day.is_(None),
                         TaskReminder.controller_id.is_not(None))
    rows = db.session.execute(
        sa.select(TaskReminder.id, TaskReminder.controller_id, Task.id.label("task_id"), Task.status,
                  Task.removed, Task.deadline, TaskReminder.deadline.label("reminded"))
        .join(Task, Task.id == TaskReminder.task_id).where(undigested).order_by(TaskReminder.id)).all()
    by_controller: dict[int, list[sa.Row]] = defaultdict(list)
    for row in rows:
        by_controller[row.controller_id].append(row)
    users = _users(set(by_controller))
    made = 0
    table = TaskReminder.__table__
    for controller_id, found in sorted(by_controller.items()):
        user = users.get(controller_id)
        if user is not None and user.is_active and quiet_until(now, user.quiet_from, user.quiet_to, user.timezone):
            continue  # made when their quiet hours end
        day = now.astimezone(ZoneInfo(user.timezone if user else "UTC")).date()
        # Still overdue: open (not reported, done or withdrawn) and its deadline not moved since.
        listed = [r.task_id for r in found if r.status == "open" and not r.removed and r.deadline == r.reminded]
        if listed and user is not None and user.is_active:
            taken = db.session.execute(_dialect().insert(ControlDigest.__table__)
                                       .values(controller_id=controller_id, day=day, tasks=len(listed),
                                               created_at=now)
                                       .on_conflict_do_nothing().returning(ControlDigest.day)).first()
            if taken is None:
                continue  # today's digest is out: these wait for tomorrow's
            outbox_id = db.session.execute(sa.insert(OutboxMessage.__table__).values(
                **outbox_values("overdue_digest", controller_id, None, count=len(listed),
                                task_ids=",".join(map(str, listed[:DIGEST_LIST]))),
                status="queued", attempts=0, available_at=now, created_at=now).returning(OutboxMessage.id)).scalar()
            db.session.execute(sa.update(ControlDigest).where(ControlDigest.controller_id == controller_id,
                                                              ControlDigest.day == day).values(outbox_id=outbox_id))
            made += 1
        # Listed, or no longer overdue: either way never listed again.
        db.session.execute(table.update().where(table.c.id.in_([r.id for r in found])).values(digest_day=day))
    return made


def scan(now: datetime, scanner: str = "scan") -> int:
    """Owe the reminders and digests that fell due by `now` (the database's clock); returns the pushes owed.

    Commits. A scan whose `now` is not past the last one's, or that finds another scan running, owes nothing.
    """
    last = _take_scan(now, scanner)
    if last is None or now <= last:
        db.session.rollback()
        return 0
    made, told = 0, set()
    for kind, days, zone, window in _stages(last, now):
        due = [t for t in db.session.execute(sa.select(*_DUE).where(*_OPEN, window).order_by(Task.id))
               if t.id not in told]
        told |= {t.id for t in due}  # of several moments of one task in one scan, only the latest is told
        made += _remind(kind, days, zone, due, now)
    made += _digests(now)
    db.session.execute(sa.update(ReminderScan).where(ReminderScan.id == 1).values(scanned_until=now, scanner=scanner))
    db.session.commit()
    return made
