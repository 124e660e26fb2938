"""How far the execution has come: a resolution's tree, and what a controller controls.

Both read a fixed number of statements whatever their size: the tree's resolutions come from one
recursive query, then their tasks, reports, files, extension requests and people each in one.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import orm

from models import Document, ExtensionRequest, Resolution, Task, TaskReport, User, db, utcnow
from models.raw import as_utc, fetch_checked
from models.resolutions import ISSUED_STATES

from . import access
from .paging import decode, encode

# A task falls due soon within this many days (the regulations' usual reminder).
DUE_SOON_DAYS = 3
CONTROL_VIEWS = ("reports", "extensions", "overdue", "due_soon", "open", "executed")


def _ref(users: dict[int, User], user_id: int | None) -> dict | None:
    user = users.get(user_id)
    return None if user is None else {"id": user.id, "short_name": user.short_name}


def tree(user: User, resolution_id: int) -> dict:
    """The resolution, each of its tasks with reports (and their files), returns, extension requests, and
    the issued sub-resolutions its executors wrote on it, recursively."""
    root = access.get_resolution(user, resolution_id)
    level = sa.select(Resolution.id).where(Resolution.id == root.id).cte("tree", recursive=True)
    below = (sa.select(Resolution.id).join(Task, Task.id == Resolution.parent_task_id)
             .join(level, Task.resolution_id == level.c.id)
             .where(Resolution.status.in_(ISSUED_STATES), Task.removed.is_(False)))
    level = level.union_all(below)
    ids = list(db.session.scalars(sa.select(level.c.id)))
    # Their executors are not shown (the tasks are): not loaded, as they would be by default.
    resolutions = {r.id: r for r in db.session.scalars(sa.select(Resolution).where(Resolution.id.in_(ids))
                                                       .options(orm.lazyload(Resolution.executors)))}
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id.in_(ids), Task.removed.is_(False))
                               .options(orm.noload("*")).order_by(Task.id)).all()
    task_ids = [t.id for t in tasks]
    reports = db.session.scalars(sa.select(TaskReport).where(TaskReport.task_id.in_(task_ids))
                                 .options(orm.selectinload(TaskReport.files)).order_by(TaskReport.id)).all()
    requests = db.session.scalars(sa.select(ExtensionRequest).where(ExtensionRequest.task_id.in_(task_ids))
                                  .options(orm.noload("*")).order_by(ExtensionRequest.id)).all()
    people = {t.executor_id for t in tasks} | {r.author_id for r in resolutions.values()} | {
        r.controller_user_id for r in resolutions.values()}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(people))
                                                 .options(orm.lazyload(User.organization)))}
    by_task: dict[int, dict[str, list]] = {t.id: {"reports": [], "extension_requests": [], "resolutions": []}
                                           for t in tasks}
    for entry in reports:
        by_task[entry.task_id]["reports"].append(entry)
    for request in requests:
        by_task[request.task_id]["extension_requests"].append(request)
    by_resolution: dict[int, list[dict]] = {rid: [] for rid in resolutions}
    nodes: dict[int, dict] = {}
    for rid, res in resolutions.items():
        nodes[rid] = {"resolution": res, "author": _ref(users, res.author_id),
                      "controller": _ref(users, res.controller_user_id), "tasks": by_resolution[rid]}
    for task in tasks:
        by_resolution[task.resolution_id].append({"task": task, "executor": _ref(users, task.executor_id),
                                                  **by_task[task.id]})
    for rid, res in resolutions.items():
        if res.parent_task_id in by_task and rid != root.id:
            by_task[res.parent_task_id]["resolutions"].append(nodes[rid])
    return nodes[root.id]


# --- the control views -----------------------------------------------------------------------------

# The columns of a control view's row (plain SQL, read by mobile_api.control's compiled dump): the task,
# its document's number and its executor; then, in the extensions view, the request (REQUEST_LINE).
CONTROL_LINE = ("task_id", "task_status", "task_responsible", "task_control", "task_returned", "task_withdrawn",
                "task_deadline", "task_reported_at", "task_completed_at", "task_document_id", "task_resolution_id",
                "task_text", "task_report", "reg_number", "executor_id", "executor_short_name")
REQUEST_LINE = ("id", "task_id", "requester_id", "decider_id", "reason", "old_deadline", "deadline", "status",
                "new_deadline", "comment", "created_at", "decided_at")
_CONTROL_SELECT = (
    "SELECT tasks.id, tasks.status, tasks.responsible, tasks.control, tasks.returned, tasks.withdrawn, tasks.deadline, "
    "tasks.reported_at, tasks.completed_at, tasks.document_id, tasks.resolution_id, tasks.text, tasks.report, "
    "documents.reg_number, users.id, users.short_name{extra}, {at}, {key} FROM {source} "
    "JOIN documents ON documents.id = tasks.document_id JOIN users ON users.id = tasks.executor_id "
    "WHERE {where} ORDER BY {at} {order}, {key} {order} LIMIT %s")
# Per view: where its rows come from, its conditions (the predicates of the partial indexes they walk,
# as constants; %s the caller, then the moments), its order and whether it runs oldest first.
_MINE = "tasks.controller_id = %s AND NOT tasks.removed AND tasks.status <> 'done'"
_CONTROL_VIEWS = {
    "reports": ("tasks", "tasks.reviewer_id = %s AND tasks.status = 'reported' AND NOT tasks.removed",
                "tasks.reported_at", "tasks.id", False),
    "extensions": ("extension_requests JOIN tasks ON tasks.id = extension_requests.task_id",
                   "extension_requests.decider_id = %s AND extension_requests.status = 'pending'",
                   "extension_requests.created_at", "extension_requests.id", False),
    "overdue": ("tasks", f"{_MINE} AND tasks.deadline < %s", "tasks.deadline", "tasks.id", True),
    "due_soon": ("tasks", f"{_MINE} AND tasks.deadline >= %s AND tasks.deadline < %s", "tasks.deadline", "tasks.id",
                 True),
    "open": ("tasks", _MINE, "tasks.created_at", "tasks.id", False),
    "executed": ("tasks JOIN resolutions ON resolutions.id = tasks.resolution_id",
                 "tasks.controller_id = %s AND NOT tasks.removed AND tasks.status = 'done' AND NOT tasks.withdrawn "
                 "AND resolutions.status = 'executed'", "tasks.completed_at", "tasks.id", False),
}


def control_rows(user_id: int, view: str, limit: int, cursor: str | None) -> tuple[list[tuple], str | None]:
    """`control_page` in plain SQL, one statement walking the view's index for a page: rows of
    CONTROL_LINE (and REQUEST_LINE in the extensions view) and the next page's cursor."""
    source, where, at, key, ascending = _CONTROL_VIEWS[view]
    now = utcnow()
    params: list = [user_id]
    if view == "overdue":
        params.append(now)
    elif view == "due_soon":
        params += [now, now + timedelta(days=DUE_SOON_DAYS)]
    if cursor:
        where += f" AND ({at}, {key}) {'>' if ascending else '<'} (%s, %s)"
        params += list(decode(cursor, datetime, int))
    extra = "".join(f", extension_requests.{c}" for c in REQUEST_LINE) if view == "extensions" else ""
    rows = fetch_checked(_CONTROL_SELECT.format(extra=extra, at=at, key=key, source=source, where=where,
                                        order="ASC" if ascending else "DESC"), (*params, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode(as_utc(rows[-1][-2]), rows[-1][-1]) if more and rows else None
    return rows, next_cursor


def control_page(user: User, view: str, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """A keyset page of a control view of what the user controls: tasks (with the extension request
    waiting, for `extensions`), each view in its own order."""
    now = utcnow()
    # Conditions as constants, the predicates of the partial indexes they walk (models.resolutions).
    mine = sa.and_(Task.controller_id == user.id, sa.text("NOT tasks.removed"))
    undone = sa.text("tasks.status <> 'done'")
    request = None
    if view == "reports":  # reports waiting for this user: the controller's, or a responsible executor's
        where, at, ascending = sa.and_(Task.reviewer_id == user.id, sa.text("tasks.status = 'reported'"),
                                       sa.text("NOT tasks.removed")), Task.reported_at, False
    elif view == "extensions":
        request = ExtensionRequest
        where, at, ascending = sa.and_(ExtensionRequest.decider_id == user.id,
                                       sa.text("extension_requests.status = 'pending'")), \
            ExtensionRequest.created_at, False
    elif view == "overdue":  # the longest overdue first
        where, at, ascending = sa.and_(mine, undone, Task.deadline < now), Task.deadline, True
    elif view == "due_soon":  # the soonest first
        where, at, ascending = sa.and_(mine, undone, Task.deadline >= now,
                                       Task.deadline < now + timedelta(days=DUE_SOON_DAYS)), Task.deadline, True
    elif view == "open":
        where, at, ascending = sa.and_(mine, undone), Task.created_at, False
    else:  # executed: the tasks of executed resolutions, the latest done first
        where, at, ascending = sa.and_(mine, sa.text("tasks.status = 'done' AND NOT tasks.withdrawn"),
                                       sa.text("resolutions.status = 'executed'")), Task.completed_at, False
    key = ExtensionRequest.id if request is not None else Task.id
    query = sa.select(Task, ExtensionRequest) if request is not None else sa.select(Task)
    query = query.join(Resolution, Resolution.id == Task.resolution_id)
    if request is not None:
        query = query.join(ExtensionRequest, ExtensionRequest.task_id == Task.id)
    query = query.where(where).options(orm.noload("*"))
    if cursor:
        position = decode(cursor, datetime, int)
        query = query.where(sa.tuple_(at, key) > position if ascending else sa.tuple_(at, key) < position)
    order = (at.asc(), key.asc()) if ascending else (at.desc(), key.desc())
    rows = db.session.execute(query.order_by(*order).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    tasks = [row[0] for row in rows]
    documents = {d.id: d.reg_number for d in db.session.scalars(
        sa.select(Document).where(Document.id.in_({t.document_id for t in tasks})).options(orm.noload("*")))}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(
        User.id.in_({t.executor_id for t in tasks})).options(orm.lazyload(User.organization)))}
    items = [{"task": row[0], "reg_number": documents.get(row[0].document_id),
              "executor": _ref(users, row[0].executor_id),
              "extension_request": row[1] if request is not None else None} for row in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        moment = getattr(last[1] if request is not None else last[0], at.key)
        next_cursor = encode(moment, (last[1] if request is not None else last[0]).id)
    return items, next_cursor
