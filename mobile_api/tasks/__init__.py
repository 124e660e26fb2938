"""The executor's tasks, and their execution control: reports accepted or returned, acknowledgements,
extension requests."""

from flask import g, jsonify, request, url_for
from marshmallow import ValidationError

from domain import control, lists

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..conditional import tag_page, versioned
from ..errors import ApiError, field_errors
from ..fastdump import compile_rows
from ..files import send_blob, serves_file
from ..idempotency import idempotent
from ..openapi import LOCATION, declare, errors
from ..reads import gets_outside_transaction
from ..schemas import (
    AcceptIn,
    ExtensionDecisionIn,
    ExtensionRequestIn,
    ExtensionRequestSchema,
    ReturnIn,
    TaskArgs,
    TaskCompleteIn,
    TaskPage,
    TaskReportForm,
    TaskReportIn,
    TaskSchema,
)

blp = Blueprint("tasks", __name__, description="Tasks")
gets_outside_transaction(blp)  # its GETs only read, in plain SQL
blp.before_request(authenticate)
_task = compile_rows(TaskSchema(), lists.TASK_LINE)


def _answer(task):
    """A transition's answer: the task as /tasks lists it (TaskSchema), read in plain SQL."""
    return jsonify(_task(lists.task_line(task.id)))


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
    """Report a task done, as apps before execution control do: on a controlled task this submits the
    report (`reported`), on a task for information it acknowledges it (`done`)."""
    return _answer(control.complete(g.user, task_id, body["report"]))


@blp.route("/tasks/<id:task_id>/report", methods=["POST"])
@idempotent
@declare(requestBody={"required": True, "content": {"application/json": {"schema": TaskReportIn},
                                                    "multipart/form-data": {"schema": TaskReportForm}}})
@blp.response(200, TaskSchema)
@errors("invalid_state", "unsupported_media_type", "malformed_json", "validation_failed", "payload_too_large")
def report(task_id):
    """The executor reports on a controlled task: JSON `{"text"}`, or multipart `text` with `file` parts.
    The report waits for the controller (or, from a co-executor, the responsible executor). A dictated
    report (POST /tasks/{id}/voice-report) is sent with its `voice_note_id` and the corrected `text`; a
    recording goes with one report only (409, `state: "sent"`)."""
    if request.mimetype == "multipart/form-data":
        body, files = (_load(TaskReportForm(only=("text", "voice_note_id")), request.form.to_dict()),
                       request.files.getlist("file"))
    elif request.is_json:
        body, files = _load(TaskReportIn(), request.get_json()), []
    else:
        raise ApiError(415, "unsupported_media_type", "Send the report as application/json or multipart/form-data.")
    return _answer(control.report(g.user, task_id, body["text"], files, body.get("voice_note_id")))


def _load(schema, data) -> dict:
    try:
        return schema.load(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise ApiError(422, "validation_failed", "The report did not pass validation.",
                       field_errors(exc.messages)) from None


@blp.route("/tasks/<id:task_id>/accept", methods=["POST"])
@idempotent
@blp.arguments(AcceptIn())
@blp.response(200, TaskSchema)
@errors("forbidden", "invalid_state")
def accept(body, task_id):
    """The controller (or, for a co-executor's task, the responsible executor) accepts the report: `done`.
    The resolution is executed when every task of it is done."""
    return _answer(control.accept(g.user, task_id, body.get("comment")))


@blp.route("/tasks/<id:task_id>/return", methods=["POST"])
@idempotent
@blp.arguments(ReturnIn())
@blp.response(200, TaskSchema)
@errors("forbidden", "invalid_state")
def return_report(body, task_id):
    """The report goes back for rework with a comment: `open`, `returned: true`."""
    return _answer(control.return_report(g.user, task_id, body["comment"]))


@blp.route("/tasks/<id:task_id>/acknowledge", methods=["POST"])
@idempotent
@blp.response(200, TaskSchema)
@errors("invalid_state")
def acknowledge(task_id):
    """The executor acknowledges a task for information: `done`."""
    return _answer(control.acknowledge(g.user, task_id))


@blp.route("/tasks/<id:task_id>/extension-requests", methods=["POST"])
@idempotent
@blp.arguments(ExtensionRequestIn())
@blp.response(201, ExtensionRequestSchema, headers=LOCATION)
@errors("invalid_state", "extension_pending")
def request_extension(body, task_id):
    """The executor asks the controller for a later deadline (one request pending per task)."""
    made = control.request_extension(g.user, task_id, body["deadline"], body["reason"])
    return made, 201, {"Location": url_for("tasks.get_extension_request", request_id=made.id)}


@blp.route("/extension-requests/<id:request_id>", methods=["GET"])
@blp.response(200, ExtensionRequestSchema)
def get_extension_request(request_id):
    """One extension request, for its executor and its controller."""
    return control.get_extension_request(g.user, request_id)


@blp.route("/extension-requests/<id:request_id>/decision", methods=["POST"])
@idempotent
@blp.arguments(ExtensionDecisionIn())
@blp.response(200, ExtensionRequestSchema)
@errors("forbidden", "invalid_state")
def decide_extension(body, request_id):
    """The controller approves (the task's deadline moves, to `deadline` if given) or rejects."""
    return control.decide_extension(g.user, request_id, body["decision"], body.get("comment"), body.get("deadline"))


@blp.route("/tasks/<id:task_id>/reports/<id:report_id>/files/<id:file_id>", methods=["GET"])
@blp.response(200, description="The file (Range supported: 206)")
@serves_file("application/octet-stream", "application/pdf", "text/plain", "*/*")
def report_file(task_id, report_id, file_id):
    """A file of a report, for whoever sees the task's resolution."""
    found = control.report_file(g.user, task_id, report_id, file_id)
    return send_blob(found.sha256, found.mime, download_name=found.name, what="file")
