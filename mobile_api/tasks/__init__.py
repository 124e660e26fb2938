"""The executor's tasks."""

from flask import g, jsonify, request

from domain import lists
from domain import resolutions as rules

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..conditional import tag_page, versioned
from ..fastdump import compile_rows
from ..idempotency import idempotent
from ..openapi import errors
from ..reads import gets_outside_transaction
from ..schemas import TaskArgs, TaskCompleteIn, TaskPage, TaskSchema

blp = Blueprint("tasks", __name__, description="Tasks")
gets_outside_transaction(blp)  # its GETs only read, in plain SQL
blp.before_request(authenticate)
_task = compile_rows(TaskSchema(), lists.TASK_LINE)


@blp.route("/tasks", methods=["GET"])
@versioned(lambda: lists.tasks_version(g.user_id, request.args.get("view", "open")))
@blp.arguments(TaskArgs(), location="query")
@blp.response(200, TaskPage)
def list_tasks(args):
    """The user's tasks: open, overdue or done; newest first (ETag: 304 when nothing changed)."""
    rows, next_cursor, version = lists.task_page(g.user_id, args["view"], args["limit"], args.get("cursor"))
    return tag_page(jsonify({"items": [_task(r) for r in rows], "next_cursor": next_cursor}), version)


@blp.route("/tasks/<id:task_id>/complete", methods=["POST"])
@idempotent
@blp.arguments(TaskCompleteIn())
@blp.response(200, TaskSchema)
@errors("invalid_state")
def complete(body, task_id):
    """Report a task done."""
    return rules.complete_task(g.user, task_id, body["report"])
