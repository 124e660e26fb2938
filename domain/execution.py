"""How far the execution has come: a resolution's tree, and what a controller controls.

Both read a fixed number of statements whatever their size: the tree's resolutions come from one
recursive query, then their tasks, reports, files, extension requests and people each in one.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import orm

from models import Document, ExtensionRequest, Resolution, Task, TaskReport, User, db, utcnow
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
    resolutions = {r.id: r for r in db.session.scalars(sa.select(Resolution).where(Resolution.id.in_(ids)))}
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
