"""Execution discipline per unit and per executor: the numbers a head reads in the morning.

Counted: the controlled tasks issued in the period to the people of the unit's subtree. Each task
counts once, in one state, for its executor and one unit (a person in two units of the subtree counts
in the first of them by id); a task ended by its resolution's withdrawal counts nowhere, never as late.
"""
import functools
import operator
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import ARRAY

from models import Document, Task, TaskDoneMonth, Unit, User, db, unit_members, utcnow

from .directory import subtree
from .errors import ApiError, not_found
from .execution import DUE_SOON_DAYS
from .paging import decode, page_of
from .workdays import end_of_day

STATES = ("open", "due_soon", "overdue", "done_on_time", "done_late")
DEFAULT_DAYS = 365


def _moment(user: User, value: datetime | date | None, end: bool) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if end:
        return end_of_day(user.organization, value)
    return datetime.combine(value, time.min, tzinfo=ZoneInfo(user.organization.timezone))


def _scope(user: User, unit_id: int | None) -> int:
    """The unit whose subtree the user may read: any of the organization's for an executive, else one of
    their own units or one below them (404 otherwise: a unit they may not read is not confirmed)."""
    own = list(db.session.scalars(sa.select(unit_members.c.unit_id).where(unit_members.c.user_id == user.id)
                                  .order_by(unit_members.c.unit_id)))
    if unit_id is None:
        if user.has_role("executive"):  # the organization's top: the root above the executive's unit
            unit_id = own[0] if own else None
            while unit_id is not None:
                parent = db.session.scalar(sa.select(Unit.parent_id).where(Unit.id == unit_id))
                if parent is None:
                    break
                unit_id = parent
        else:
            unit_id = own[0] if own else None
        if unit_id is None:
            raise not_found("unit")
    if user.has_role("executive"):
        return unit_id
    if any(unit_id in subtree(user.organization_id, mine) for mine in own):
        return unit_id
    raise not_found("unit")


class _Counted(NamedTuple):
    """What the summary counts, for one user, root unit and period."""
    root: int
    units: list[int]
    start: datetime
    end: datetime
    member: sa.CTE               # each person of the subtree, in one unit (user_id, unit_id)
    state: sa.ColumnElement      # the task's state, one of STATES
    where: sa.ColumnElement      # the tasks counted
    counts: list[sa.ColumnElement]  # per state in STATES' order, how many of the tasks read are in it


def _counted(user: User, unit_id: int | None, start: datetime | date | None, end: datetime | date | None) -> _Counted:
    """The tasks the summary counts and the state each counts in: one definition for the counts and
    for the list of the late ones behind them."""
    now = utcnow()
    end_at = _moment(user, end, end=True) or now
    start_at = _moment(user, start, end=False) or end_at - timedelta(days=DEFAULT_DAYS)
    if start_at > end_at:
        raise ApiError(422, "validation_failed", "The period ends before it starts.", {"from": ["After `to`."]})
    root = _scope(user, unit_id)
    units = subtree(user.organization_id, root)
    # Each person of the subtree in one unit: the first of theirs by id.
    if db.session.get_bind().dialect.name == "postgresql":  # one array: a statement's text the same for any subtree
        in_units = unit_members.c.unit_id == sa.any_(sa.bindparam("units", units, type_=ARRAY(sa.BigInteger)))
    else:
        in_units = unit_members.c.unit_id.in_(units)
    member = (sa.select(unit_members.c.user_id, sa.func.min(unit_members.c.unit_id).label("unit_id"))
              .where(in_units).group_by(unit_members.c.user_id).cte("member"))
    done_at = sa.func.coalesce(Task.reported_at, Task.completed_at)
    # The first that holds names the state (the rest: open).
    tests = [("done_on_time", sa.and_(Task.status == "done", sa.or_(Task.deadline.is_(None), done_at <= Task.deadline))),
             ("done_late", Task.status == "done"),
             ("overdue", Task.deadline < now),
             ("due_soon", Task.deadline < now + timedelta(days=DUE_SOON_DAYS))]
    state = sa.case(*((test, name) for name, test in tests), else_="open")
    holds = {name: sa.and_(test, *(earlier.is_not(True) for _, earlier in tests[:n]))
             for n, (name, test) in enumerate(tests)}
    holds["open"] = sa.and_(*(test.is_not(True) for _, test in tests))
    counts = [sa.func.count().filter(holds[name]) for name in STATES]
    # The conditions as the index's predicate states them (migration 0023), so that the planner sees it applies.
    where = sa.and_(sa.text("tasks.control AND NOT tasks.removed AND NOT tasks.withdrawn"),
                    Task.created_at >= start_at, Task.created_at <= end_at)
    return _Counted(root, units, start_at, end_at, member, state, where, counts)


def summary(user: User, unit_id: int | None, start: datetime | date | None, end: datetime | date | None) -> dict:
    """Per unit of the subtree, per executor, and in total: open, due soon, overdue, done on time,
    done late, and discipline (the share of the done ones done on time), over the tasks issued in the
    period (default: the last year)."""
    counted = _counted(user, unit_id, start, end)
    root, units = counted.root, counted.units
    by_unit = {u: [0] * len(STATES) for u in units}
    executors = []
    for unit, executor, short_name, *counts in _counts(counted):
        if not any(counts):  # a person with nothing in the period is not listed
            continue
        line = by_unit[unit]
        for n, count in enumerate(counts):
            line[n] += count
        executors.append((short_name, executor, unit, counts))
    executors.sort()
    total = [sum(line[n] for line in by_unit.values()) for n in range(len(STATES))]
    names = {u.id: u for u in db.session.scalars(sa.select(Unit).where(Unit.id.in_(units)))}
    return {
        "unit": {"id": root, "short_name": names[root].short_name}, "start": counted.start, "end": counted.end,
        "total": _with_discipline(total),
        "units": [{"unit": {"id": u, "short_name": names[u].short_name}, "parent_id": names[u].parent_id,
                   **_with_discipline(by_unit[u])} for u in sorted(units)],
        "executors": [{"executor": {"id": e, "short_name": name}, "unit_id": unit, **_with_discipline(counts)}
                      for name, e, unit, counts in executors],
    }


LATE = ("overdue", "done_late")


def _whole_months(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The UTC months wholly inside [start, end], as [first, stop): the ones task_done_months answers
    for; None if there is none."""
    def month_of(moment: datetime) -> datetime:
        return moment.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    def next_month(month: datetime) -> datetime:
        return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)
    first = month_of(start)
    if first < start:
        first = next_month(first)
    stop = month_of(end)
    return (first, stop) if first < stop else None


def _counts(counted: _Counted) -> list[tuple]:
    """(unit, executor, their short name, *counts in STATES' order) of each person of the subtree: the tasks not done and
    the done ones of the period's partial months at its edges counted from the tasks, the done ones of
    its whole UTC months from task_done_months (kept by triggers to the same rule); with the rollup off,
    all from the tasks. On PostgreSQL each part is one walk per person of an index holding every column
    the states need (migrations 0023, 0024: ix_tasks_summary for the done ones, ix_tasks_summary_open
    for the others), side by side in one statement; SQLite groups each part and adds them up."""
    member = counted.member
    months = _whole_months(counted.start, counted.end) if rollup_enabled() else None
    done = sa.text("tasks.status = 'done'")
    if months is None:
        parts = [sa.true()]
    else:  # each edge only if the period has one: an empty range still costs a walk per person
        parts = [sa.text("tasks.status <> 'done'")]
        if counted.start < months[0]:
            parts.append(sa.and_(done, Task.created_at < months[0]))
        if months[1] <= counted.end:
            parts.append(sa.and_(done, Task.created_at >= months[1]))
    in_months = (TaskDoneMonth.month >= months[0].date(), TaskDoneMonth.month < months[1].date()) if months else ()
    zero = sa.literal(0)
    rolled = [zero, zero, zero, sa.func.sum(TaskDoneMonth.on_time), sa.func.sum(TaskDoneMonth.late)]
    if db.session.get_bind().dialect.name == "postgresql":
        sides = [sa.select(*counted.counts).where(Task.executor_id == member.c.user_id, counted.where, part)
                 .lateral(f"part{n}") for n, part in enumerate(parts)]
        if months is not None:
            sides.append(sa.select(*rolled).where(TaskDoneMonth.executor_id == member.c.user_id, *in_months)
                         .lateral("rolled"))
        query = sa.select(member.c.unit_id, member.c.user_id, User.short_name, *(
            functools.reduce(operator.add, (sa.func.coalesce(list(side.c)[n], 0) for side in sides))
            for n in range(len(STATES))))
        joined = member.join(User, User.id == member.c.user_id)
        for side in sides:
            joined = joined.join(side, sa.true())
        return db.session.execute(query.select_from(joined)).all()
    selects = [sa.select(member.c.unit_id.label("unit_id"), Task.executor_id.label("executor_id"), *counted.counts)
               .join(member, member.c.user_id == Task.executor_id).where(counted.where, part)
               .group_by(member.c.unit_id, Task.executor_id) for part in parts]
    if months is not None:
        selects.append(sa.select(member.c.unit_id, TaskDoneMonth.executor_id, *rolled)
                       .join(member, member.c.user_id == TaskDoneMonth.executor_id).where(*in_months)
                       .group_by(member.c.unit_id, TaskDoneMonth.executor_id))
    every = sa.union_all(*selects).subquery("parts")
    sums = [sa.func.coalesce(sa.func.sum(column), 0) for column in list(every.c)[2:]]
    return db.session.execute(sa.select(every.c.unit_id, every.c.executor_id, User.short_name, *sums)
                              .join(User, User.id == every.c.executor_id)
                              .group_by(every.c.unit_id, every.c.executor_id, User.short_name)).all()


def rollup_enabled() -> bool:
    """Whether the summary reads the whole months from task_done_months (SUMMARY_ROLLUP, on by default;
    off, it counts every task: the plain definition, kept to compare against)."""
    return current_app.config.get("SUMMARY_ROLLUP", True)


def refill_done_months() -> None:
    """task_done_months counted again from the tasks (after a bulk load that fired no trigger); the same
    rule as migration 0024's triggers."""
    on_time = sa.case((sa.or_(Task.deadline.is_(None), sa.func.coalesce(Task.reported_at, Task.completed_at)
                              <= Task.deadline), 1), else_=0)
    if db.session.get_bind().dialect.name == "postgresql":
        month = sa.cast(sa.func.date_trunc(sa.literal_column("'month'"), Task.created_at), sa.Date)
    else:
        month = sa.func.strftime(sa.literal_column("'%Y-%m-01'"), Task.created_at)
    db.session.execute(sa.delete(TaskDoneMonth))
    db.session.execute(sa.insert(TaskDoneMonth).from_select(
        ["executor_id", "month", "on_time", "late"],
        sa.select(Task.executor_id, month, sa.func.sum(on_time), sa.func.sum(1 - on_time))
        .where(sa.text("tasks.control AND tasks.status = 'done' AND NOT tasks.withdrawn AND NOT tasks.removed"))
        .group_by(Task.executor_id, month)))


def late_tasks(user: User, unit_id: int | None, start: datetime | date | None, end: datetime | date | None, *,
               in_unit: int | None = None, executor_id: int | None = None, limit: int = 100,
               cursor: str | None = None) -> tuple[list[dict], str | None]:
    """The late tasks behind a line of the summary (the same scope, period and states): those counted
    as overdue or done late for the unit `in_unit` or the executor `executor_id`, the earliest deadline
    first, a keyset page at a time. Each: the task, its state, document and executor."""
    counted = _counted(user, unit_id, start, end)
    member = counted.member
    query = (sa.select(Task, counted.state.label("state"))
             .join(member, member.c.user_id == Task.executor_id)
             .where(counted.where, counted.state.in_(LATE)).options(orm.noload("*")))
    if in_unit is not None:
        query = query.where(member.c.unit_id == in_unit)
    if executor_id is not None:
        query = query.where(Task.executor_id == executor_id)
    if cursor:
        query = query.where(sa.tuple_(Task.deadline, Task.id) > decode(cursor, datetime, int))
    rows = db.session.execute(query.order_by(Task.deadline.asc(), Task.id.asc()).limit(limit + 1)).all()
    rows, next_cursor = page_of(rows, limit, lambda last: (last[0].deadline, last[0].id))
    tasks = [row[0] for row in rows]
    documents = {d.id: d for d in db.session.scalars(
        sa.select(Document).where(Document.id.in_({t.document_id for t in tasks})).options(orm.noload("*")))}
    people = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_({t.executor_id for t in tasks}))
                                                  .options(orm.lazyload(User.organization)))}
    return [{"task": task, "state": state, "document": documents[task.document_id],
             "executor": {"id": task.executor_id, "short_name": people[task.executor_id].short_name}}
            for task, state in rows], next_cursor


def _with_discipline(counts: list[int]) -> dict:
    """The counts (in STATES' order) by name, and the share of the done tasks done on time (None before
    any is done)."""
    named = dict(zip(STATES, counts))
    done = named["done_on_time"] + named["done_late"]
    return {**named, "discipline": round(named["done_on_time"] / done, 4) if done else None}
