"""Execution discipline per unit and per executor: the numbers a head reads in the morning.

Counted: the controlled tasks issued in the period to the people of the unit's subtree. Each task
counts once, in one state, for its executor and one unit (a person in two units of the subtree counts
in the first of them by id); a task ended by its resolution's withdrawal counts nowhere, never as late.
A person's tasks count in the organization they belong to now (tasks.organization_id, migration 0026).
"""
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import ARRAY

from models import Document, Task, TaskMonth, User, db, unit_members, utcnow

from .directory import subtree, units_of
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


def _scope(user: User, unit_id: int | None, units: dict[int, sa.Row]) -> int:
    """The unit whose subtree the user may read: any of the organization's for an executive, else one of
    their own units or one below them (404 otherwise: a unit they may not read is not confirmed).
    `units`: the organization's, by id (directory.units_of)."""
    own = list(db.session.scalars(sa.select(unit_members.c.unit_id).where(unit_members.c.user_id == user.id)
                                  .order_by(unit_members.c.unit_id)))
    if unit_id is None:
        unit_id = own[0] if own else None
        if user.has_role("executive"):  # the organization's top: the root above the executive's unit
            while unit_id in units and units[unit_id].parent_id is not None:
                unit_id = units[unit_id].parent_id
        if unit_id is None:
            raise not_found("unit")
    if user.has_role("executive"):
        return unit_id
    rows = list(units.values())
    if any(unit_id in subtree(user.organization_id, mine, rows) for mine in own):
        return unit_id
    raise not_found("unit")


class _Counted(NamedTuple):
    """What the summary counts, for one user, root unit and period."""
    root: int
    units: list[int]             # the root's subtree
    names: dict[int, sa.Row]     # the organization's units by id: (id, parent_id, short_name)
    start: datetime
    end: datetime
    member: sa.CTE               # each person of the subtree, in one unit (user_id, unit_id)
    state: sa.ColumnElement      # the task's state, one of STATES
    where: sa.ColumnElement      # the tasks counted
    holds: dict[str, sa.ColumnElement]  # per state, whether a task is in it (one of them holds)
    now: datetime
    soon: datetime               # a task not done with a deadline from now to this is due soon


def _counted(user: User, unit_id: int | None, start: datetime | date | None, end: datetime | date | None) -> _Counted:
    """The tasks the summary counts and the state each counts in: one definition for the counts and
    for the list of the late ones behind them."""
    now = utcnow()
    end_at = _moment(user, end, end=True) or now
    start_at = _moment(user, start, end=False) or end_at - timedelta(days=DEFAULT_DAYS)
    if start_at > end_at:
        raise ApiError(422, "validation_failed", "The period ends before it starts.", {"from": ["After `to`."]})
    names = {row.id: row for row in units_of(user.organization_id)}
    root = _scope(user, unit_id, names)
    units = subtree(user.organization_id, root, list(names.values()))
    # Each person of the subtree in one unit: the first of theirs by id.
    if db.session.get_bind().dialect.name == "postgresql":  # one array: a statement's text the same for any subtree
        in_units = unit_members.c.unit_id == sa.any_(sa.bindparam("units", units, type_=ARRAY(sa.BigInteger)))
    else:
        in_units = unit_members.c.unit_id.in_(units)
    member = (sa.select(unit_members.c.user_id, sa.func.min(unit_members.c.unit_id).label("unit_id"))
              .where(in_units).group_by(unit_members.c.user_id).cte("member"))
    done_at = sa.func.coalesce(Task.reported_at, Task.completed_at)
    soon = now + timedelta(days=DUE_SOON_DAYS)
    # The first that holds names the state (the rest: open).
    on_time = sa.or_(Task.deadline.is_(None), done_at <= Task.deadline)
    tests = [("done_on_time", sa.and_(Task.status == "done", on_time)),
             ("done_late", Task.status == "done"),
             ("overdue", Task.deadline < now),
             ("due_soon", Task.deadline < soon)]
    state = sa.case(*((test, name) for name, test in tests), else_="open")
    holds = {name: sa.and_(test, *(earlier.is_not(True) for _, earlier in tests[:n]))
             for n, (name, test) in enumerate(tests)}
    holds["open"] = sa.and_(*(test.is_not(True) for _, test in tests))
    # The conditions as the index's predicate states them (migration 0023), so that the planner sees it applies.
    where = sa.and_(sa.text("tasks.control AND NOT tasks.removed AND NOT tasks.withdrawn"),
                    Task.created_at >= start_at, Task.created_at <= end_at)
    return _Counted(root, units, names, start_at, end_at, member, state, where, holds, now, soon)


def summary(user: User, unit_id: int | None, start: datetime | date | None, end: datetime | date | None) -> dict:
    """Per unit of the subtree, per executor, and in total: open, due soon, overdue, done on time,
    done late, and discipline (the share of the done ones done on time), over the tasks issued in the
    period (default: the last year). Executors by short name, then id."""
    counted = _counted(user, unit_id, start, end)
    root, units, names = counted.root, counted.units, counted.names
    by_unit = {u: [0, 0, 0, 0, 0] for u in units}
    executors = []
    # A ministry's summary lists thousands of executors: each line is built once, directly.
    rows = _counts(counted, user.organization_id)
    for unit, executor, short_name, open_, due_soon, overdue, on_time, late in rows:
        if not (open_ or due_soon or overdue or on_time or late):  # nothing in the period: not listed
            continue
        line = by_unit[unit]
        line[0] += open_
        line[1] += due_soon
        line[2] += overdue
        line[3] += on_time
        line[4] += late
        done = on_time + late
        executors.append({"executor": {"id": executor, "short_name": short_name}, "unit_id": unit, "open": open_,
                          "due_soon": due_soon, "overdue": overdue, "done_on_time": on_time, "done_late": late,
                          "discipline": round(on_time / done, 4) if done else None})
    total = [sum(line[n] for line in by_unit.values()) for n in range(len(STATES))]
    return {
        "unit": {"id": root, "short_name": names[root].short_name}, "start": counted.start, "end": counted.end,
        "total": _with_discipline(total),
        "units": [{"unit": {"id": u, "short_name": names[u].short_name}, "parent_id": names[u].parent_id,
                   **_with_discipline(by_unit[u])} for u in sorted(units)],
        "executors": executors,
    }


LATE = ("overdue", "done_late")


def _whole_months(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The UTC months wholly inside [start, end], as [first, stop): the ones task_months answers
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


def _counts(counted: _Counted, organization_id: int) -> list[tuple]:
    """(unit, executor, their short name, *counts in STATES' order) of each person of the subtree with a
    task in the period, in one statement adding up three sources, each read as one range of the
    organization's (migration 0026) and joined to the subtree's people:
    - task_months, for the period's whole UTC months: done on time, done late, not done;
    - the tasks issued in the rest of the period (its edges), by state;
    - the tasks of the period not done and not overdue (due soon, due later or without a deadline).
    Overdue is what is not done and neither of the last two. With the rollup off, the whole period is
    an edge: every task is counted one by one."""
    member, holds, now, soon = counted.member, counted.holds, counted.now, counted.soon
    months = _whole_months(counted.start, counted.end) if rollup_enabled() else None
    in_period = (Task.created_at >= counted.start, Task.created_at <= counted.end)
    if months is None:
        edges = [in_period]
    else:  # only the edges the period has: an empty range is no work, but a statement's part
        edges = [edge for edge, there in (
            ((Task.created_at >= counted.start, Task.created_at < months[0]), counted.start < months[0]),
            ((Task.created_at >= months[1], Task.created_at <= counted.end), months[1] <= counted.end)) if there]
    # The conditions as the indexes' predicates state them (migration 0026), so that the planner sees they apply.
    tasks = (Task.organization_id == organization_id,
             sa.text("tasks.control AND NOT tasks.removed AND NOT tasks.withdrawn"))
    not_done = sa.text("tasks.status <> 'done'")
    count = sa.func.count

    def part(executor, due_soon=0, later=0, on_time=0, late=0, undone=0) -> list:
        """A part's columns, each named: a subquery of a union takes its columns' names from its first."""
        values = dict(executor=executor, due_soon=due_soon, later=later, on_time=on_time, late=late, undone=undone)
        return [(sa.literal(v) if isinstance(v, int) else v).label(k) for k, v in values.items()]
    parts = [sa.select(*part(Task.executor_id, on_time=count().filter(holds["done_on_time"]),
                             late=count().filter(holds["done_late"]), undone=count().filter(not_done)))
             .where(*tasks, *edge).group_by(Task.executor_id) for edge in edges]

    def total(column):  # PostgreSQL sums bigints as numeric
        return sa.cast(sa.func.sum(column), sa.BigInteger)
    if months is not None:  # each part summed per executor: the outer sum adds a few rows a person, not months
        parts.append(sa.select(*part(TaskMonth.executor_id, on_time=total(TaskMonth.on_time),
                                     late=total(TaskMonth.late), undone=total(TaskMonth.not_done)))
                     .where(TaskMonth.organization_id == organization_id, TaskMonth.month >= months[0].date(),
                            TaskMonth.month < months[1].date()).group_by(TaskMonth.executor_id))
    # Not done and not overdue: due soon before `soon`, open after it or without a deadline (holds' rule,
    # its other tests settled by these parts' conditions, which a row of thousands then need not test).
    parts.append(sa.select(*part(Task.executor_id, due_soon=count().filter(Task.deadline < soon),
                                 later=count().filter(Task.deadline >= soon)))
                 .where(*tasks, not_done, Task.deadline >= now, *in_period).group_by(Task.executor_id))
    parts.append(sa.select(*part(Task.executor_id, later=count()))  # ix_tasks_summary_undated
                 .where(*tasks, not_done, Task.deadline.is_(None), *in_period).group_by(Task.executor_id))
    c = sa.union_all(*parts).subquery("parts").c
    due_soon, later, undone = total(c.due_soon), total(c.later), total(c.undone)
    # Per executor of the organization first, then those of the subtree with their names.
    per = sa.select(c.executor, later.label("open"), due_soon.label("due_soon"),
                    (undone - due_soon - later).label("overdue"), total(c.on_time).label("done_on_time"),
                    total(c.late).label("done_late")).group_by(c.executor).subquery("per")
    # On the session's connection, not through the ORM: its row processing of thousands of lines cost
    # more than the statement's aggregation.
    return db.session.connection().execute(
        sa.select(member.c.unit_id, member.c.user_id, User.short_name, *(per.c[state] for state in STATES))
        .join(per, per.c.executor == member.c.user_id)
        .join(User, sa.and_(User.id == member.c.user_id, User.organization_id == organization_id))
        .order_by(User.short_name, member.c.user_id)).all()


def rollup_enabled() -> bool:
    """Whether the summary reads the whole months from task_months (SUMMARY_ROLLUP, on by default;
    off, it counts every task: the plain definition, kept to compare against)."""
    return current_app.config.get("SUMMARY_ROLLUP", True)


def refill_months() -> None:
    """task_months counted again from the tasks, after a bulk load that fired no trigger: the rule of
    migration 0026's triggers (the property tests hold both to counting every task)."""
    done = Task.status == "done"
    on_time = sa.and_(done, sa.or_(Task.deadline.is_(None),
                                   sa.func.coalesce(Task.reported_at, Task.completed_at) <= Task.deadline))
    if db.session.get_bind().dialect.name == "postgresql":
        month = sa.cast(sa.func.date_trunc(sa.literal_column("'month'"), Task.created_at), sa.Date)
    else:
        month = sa.func.strftime(sa.literal_column("'%Y-%m-01'"), Task.created_at)

    def counted(condition):
        return sa.func.sum(sa.case((condition, 1), else_=0))
    db.session.execute(sa.delete(TaskMonth))
    db.session.execute(sa.insert(TaskMonth).from_select(
        ["executor_id", "month", "organization_id", "on_time", "late", "not_done"],
        sa.select(Task.executor_id, month, sa.func.min(Task.organization_id), counted(on_time),
                  counted(sa.and_(done, sa.not_(on_time))), counted(sa.not_(done)))
        .where(sa.text("tasks.control AND NOT tasks.withdrawn AND NOT tasks.removed"),
               Task.organization_id.is_not(None))
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
    any is done). Built directly: a ministry's summary makes thousands."""
    open_, due_soon, overdue, on_time, late = counts
    done = on_time + late
    return {"open": open_, "due_soon": due_soon, "overdue": overdue, "done_on_time": on_time, "done_late": late,
            "discipline": round(on_time / done, 4) if done else None}
