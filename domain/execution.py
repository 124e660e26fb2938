"""How far the execution has come: a resolution's tree, and what a controller controls.

Both read a fixed number of statements whatever their size, in plain SQL (models.raw): the tree's
resolutions come from one recursive query, under the access rule (domain.access) and with the request's
session check; then their tasks with executors, reports with files and extension requests in one more.
"""
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import orm

from models import Document, ExtensionRequest, Resolution, Task, User, db, resolution_executors, utcnow
from models.raw import as_utc, fetch, fetch_checked, run_checked
from models.resolutions import ISSUED_STATES

from . import access
from .errors import not_found
from .paging import decode, encode

# A task falls due soon within this many days (the regulations' usual reminder).
DUE_SOON_DAYS = 3
CONTROL_VIEWS = ("reports", "extensions", "overdue", "due_soon", "open", "executed")


def _ref(users: dict[int, User], user_id: int | None) -> dict | None:
    user = users.get(user_id)
    return None if user is None else {"id": user.id, "short_name": user.short_name}


# The tree's rows, in plain SQL (read by mobile_api.resolutions' compiled dump). A resolution, with its
# author and controller; a task, with its executor; a report, once per file (or once with no file), with
# its recording's transcript and hash; an extension request (REQUEST_LINE).
TREE_RESOLUTION = ("id", "document_id", "status", "text", "deadline", "controlled", "issued_at", "closed_at",
                   "withdraw_reason", "parent_task_id", "author_id", "author_short_name", "controller_id",
                   "controller_short_name")
TREE_TASK = ("id", "status", "responsible", "control", "returned", "withdrawn", "deadline", "reported_at",
             "completed_at", "resolution_id", "executor_id", "executor_short_name")
TREE_REPORT = ("id", "task_id", "text", "created_at", "outcome", "comment", "decided_at", "voice_note_id",
               "transcript", "recording_sha256", "file_id", "file_name", "file_mime", "file_size", "file_sha256")
# An extension request's columns, in the tree and in the control views' extensions view.
REQUEST_LINE = ("id", "task_id", "requester_id", "decider_id", "reason", "old_deadline", "deadline", "status",
                "new_deadline", "comment", "created_at", "decided_at")


class Tree(NamedTuple):
    """A resolution's tree as rows: its resolutions (the root's first, then by id), their tasks, the
    tasks' reports (a row per file) and extension requests, each by id."""
    resolutions: list[tuple]
    tasks: list[tuple]
    reports: list[tuple]
    requests: list[tuple]


_ROOT = sa.bindparam("resolution_id", type_=sa.BigInteger)
_ISSUED = Resolution.status.in_([sa.literal_column(f"'{state}'") for state in ISSUED_STATES])  # constants
_level = sa.select(Resolution.id).where(Resolution.id == _ROOT, access.resolution_read_by(access.USER_ID, access.NOW)
                                        ).cte("tree", recursive=True)
_level = _level.union_all(sa.select(Resolution.id).join(Task, Task.id == Resolution.parent_task_id)
                          .join(_level, Task.resolution_id == _level.c.id)
                          .where(_ISSUED, Task.removed == sa.false()))
_author, _controller = orm.aliased(User), orm.aliased(User)
# The root, if the user may read it (domain.access's rule), and the issued sub-resolutions written on its
# tasks, recursively: one statement, with the request's session check riding in it.
_TREE = sa.select(
    Resolution.id, Resolution.document_id, Resolution.status, Resolution.text, Resolution.deadline,
    # As Resolution.controlled and controller_user_id say: a draft's defaults.
    sa.func.coalesce(Resolution.control, sa.and_(Resolution.deadline.is_not(None), sa.exists().where(
        resolution_executors.c.resolution_id == Resolution.id))),
    Resolution.issued_at, Resolution.closed_at, Resolution.withdraw_reason, Resolution.parent_task_id,
    _author.id, _author.short_name, _controller.id, _controller.short_name,
).join(_level, _level.c.id == Resolution.id).join(_author, _author.id == Resolution.author_id).join(
    _controller, _controller.id == sa.func.coalesce(Resolution.controller_id, Resolution.author_id))


# The tree's tasks, their reports (a row per file) and extension requests, in one statement: each kind of
# row (0, 1, 2) in columns of its own, NULL in the others (typed in the first branch: a UNION takes each
# column's type from its first branches), each kind by id.
_TASK_COLUMNS = ("tasks.id, tasks.status, tasks.responsible, tasks.control, tasks.returned, tasks.withdrawn, "
                 "tasks.deadline, tasks.reported_at, tasks.completed_at, tasks.resolution_id, users.id, "
                 "users.short_name")
_REPORT_COLUMNS = ("task_reports.id, task_reports.task_id, task_reports.text, task_reports.created_at, "
                   "task_reports.outcome, task_reports.comment, task_reports.decided_at, task_reports.voice_note_id, "
                   "voice_notes.transcript, voice_notes.sha256, report_files.id, report_files.name, "
                   "report_files.mime, report_files.size, report_files.sha256")
_REPORT_TYPES = ("bigint", "bigint", "text", "timestamp", "text", "text", "timestamp", "bigint", "text", "text",
                 "bigint", "text", "text", "bigint", "text")
_REQUEST_TYPES = ("bigint", "bigint", "bigint", "bigint", "text", "timestamp", "timestamp", "text", "timestamp",
                  "text", "timestamp", "timestamp")


def _nulls(types) -> str:
    return ", ".join(f"CAST(NULL AS {t})" for t in types)


_BELOW = (
    f"SELECT 0, {_TASK_COLUMNS}, {_nulls(_REPORT_TYPES)}, {_nulls(_REQUEST_TYPES)} FROM tasks "
    "JOIN users ON users.id = tasks.executor_id WHERE {mine} "
    f"UNION ALL SELECT 1, {', '.join(['NULL'] * len(TREE_TASK))}, {_REPORT_COLUMNS}, "
    f"{', '.join(['NULL'] * len(REQUEST_LINE))} FROM tasks JOIN task_reports ON task_reports.task_id = tasks.id "
    "LEFT JOIN voice_notes ON voice_notes.id = task_reports.voice_note_id "
    "LEFT JOIN report_files ON report_files.report_id = task_reports.id WHERE {mine} "
    f"UNION ALL SELECT 2, {', '.join(['NULL'] * (len(TREE_TASK) + len(TREE_REPORT)))}, "
    f"{', '.join('extension_requests.' + c for c in REQUEST_LINE)} FROM tasks "
    "JOIN extension_requests ON extension_requests.task_id = tasks.id WHERE {mine} "
    # By kind, then a task's id, a report's and its file's, a request's.
    f"ORDER BY 1, 2, {2 + len(TREE_TASK)}, {2 + len(TREE_TASK) + TREE_REPORT.index('file_id')}, "
    f"{2 + len(TREE_TASK) + len(TREE_REPORT)}")
_REPORT_AT, _REQUEST_AT = 1 + len(TREE_TASK), 1 + len(TREE_TASK) + len(TREE_REPORT)


def tree_rows(user_id: int, resolution_id: int) -> Tree:
    """The rows of the resolution's tree (see `Tree`), in two statements whatever its size, if the user
    may read it (domain.access.resolution_read_by); else 404."""
    found = run_checked(_TREE, user_id=user_id, resolution_id=resolution_id, now=utcnow())
    if not found:
        raise not_found("resolution")
    found.sort(key=lambda row: (row[0] != resolution_id, row[0]))
    ids = tuple(row[0] for row in found)
    mine = f"tasks.resolution_id IN ({', '.join('%s' for _ in ids)}) AND NOT tasks.removed"
    tasks, reports, requests = [], [], []
    for row in fetch(_BELOW.format(mine=mine), ids * 3):
        if row[0] == 0:
            tasks.append(row[1:_REPORT_AT])
        elif row[0] == 1:
            reports.append(row[_REPORT_AT:_REQUEST_AT])
        else:
            requests.append(row[_REQUEST_AT:])
    return Tree(found, tasks, reports, requests)


# --- the control views -----------------------------------------------------------------------------

# The columns of a control view's row (plain SQL, read by mobile_api.control's compiled dump): the task,
# its document's number and its executor; then, in the extensions view, the request (REQUEST_LINE, above).
CONTROL_LINE = ("task_id", "task_status", "task_responsible", "task_control", "task_returned", "task_withdrawn",
                "task_deadline", "task_reported_at", "task_completed_at", "task_document_id", "task_resolution_id",
                "task_text", "task_report", "reg_number", "executor_id", "executor_short_name")
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
