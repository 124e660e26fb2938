"""The executor's tasks."""

import sqlalchemy as sa
from flask import g, request
from flask_smorest import Blueprint

from domain import access, inbox, paging
from domain import resolutions as rules
from models import Task, utcnow

from ..auth.tokens import authenticate
from ..conditional import versioned
from ..idempotency import idempotent
from ..schemas import TaskArgs, TaskCompleteIn, TaskPage, TaskSchema

blp = Blueprint("tasks", __name__, description="Tasks")
blp.before_request(authenticate)


# Each view's condition is written as its partial index's predicate (see models.resolutions).
VIEWS = {
    "open": (sa.text("tasks.status = 'open'"), sa.not_(Task.removed)),
    "overdue": (sa.text("tasks.status = 'open'"), Task.deadline.is_not(None), sa.not_(Task.removed)),
    "done": (sa.text("tasks.status = 'done'"), sa.not_(Task.removed)),
}


@blp.route("/tasks", methods=["GET"])
@versioned(lambda: inbox.tasks_version(g.user_id, request.args.get("view", "open")))
@blp.arguments(TaskArgs, location="query")
@blp.response(200, TaskPage)
def list_tasks(args):
    """The user's tasks: open, overdue or done; newest first (ETag: 304 when nothing changed)."""
    query = sa.select(Task).where(Task.executor_id == g.user_id, *VIEWS[args["view"]]).options(*inbox.TASK_LOADS)
    if args["view"] == "overdue":
        now = utcnow()
        if not inbox.any_overdue_task(g.user_id, now):  # one probe of the deadline index
            return {"items": [], "next_cursor": None}
        query = query.where(sa.func.coalesce(Task.deadline, Task.created_at) < now)
    rows, next_cursor = paging.newest_first(query, Task.created_at, Task.id, args["limit"], args.get("cursor"))
    return {"items": rows, "next_cursor": next_cursor}


@blp.route("/tasks/<id:task_id>/complete", methods=["POST"])
@idempotent
@blp.arguments(TaskCompleteIn)
@blp.response(200, TaskSchema)
def complete(body, task_id):
    """Report a task done."""
    return rules.complete_task(g.user, access.get_task(g.user, task_id, lock=True), body["report"])
