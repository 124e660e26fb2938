"""The executor's tasks."""

import sqlalchemy as sa
from flask import g
from flask_smorest import Blueprint

from domain import access, paging
from domain import resolutions as rules
from models import Task, utcnow

from ..auth.tokens import authenticate
from ..conditional import etagged
from ..idempotency import idempotent
from ..schemas import TaskArgs, TaskCompleteIn, TaskPage, TaskSchema

blp = Blueprint("tasks", __name__, description="Tasks")
blp.before_request(authenticate)


@blp.route("/tasks", methods=["GET"])
@etagged
@blp.arguments(TaskArgs, location="query")
@blp.response(200, TaskPage)
def list_tasks(args):
    """The user's tasks: open, overdue or done; newest first."""
    query = sa.select(Task).where(Task.executor_id == g.user_id, Task.removed == sa.false())
    if args["view"] == "done":
        query = query.where(Task.status == "done")
    else:
        query = query.where(Task.status == "open")
        if args["view"] == "overdue":
            query = query.where(Task.deadline < utcnow())
    rows, next_cursor = paging.newest_first(query, Task.created_at, Task.id, args["limit"], args.get("cursor"))
    return {"items": rows, "next_cursor": next_cursor}


@blp.route("/tasks/<id:task_id>/complete", methods=["POST"])
@idempotent
@blp.arguments(TaskCompleteIn)
@blp.response(200, TaskSchema)
def complete(body, task_id):
    """Report a task done."""
    return rules.complete_task(g.user, access.get_task(g.user, task_id, lock=True), body["report"])
