"""The trimmed inbox, read marks and offline sync."""

from flask import g, jsonify, request

from domain import inbox, lists

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..conditional import tag_page, versioned
from ..errors import not_found
from ..fastdump import compile_rows
from ..reads import gets_outside_transaction
from ..schemas import (
    InboxArgs,
    InboxItemSchema,
    InboxPage,
    SyncArgs,
    SyncOut,
    TaskSchema,
)

blp = Blueprint("inbox", __name__, description="Inbox and sync")
gets_outside_transaction(blp)  # its GETs only read, in plain SQL
blp.before_request(authenticate)

# Plain rows, dumped by plans compiled from the schemas: these are the reads phones poll.
_line = compile_rows(InboxItemSchema(), lists.INBOX_LINE)
_task = compile_rows(TaskSchema(), lists.TASK_LINE)


@blp.route("/inbox", methods=["GET"])
@versioned(lambda: lists.inbox_version(g.user_id, request.args.get("view", "all")))
@blp.arguments(InboxArgs(), location="query")
@blp.response(200, InboxPage)
def list_inbox(args):
    """The user's inbox, newest first, one trimmed line per item (ETag: 304 when nothing changed)."""
    rows, next_cursor, version = lists.inbox_page(g.user_id, args["view"], args["limit"], args.get("cursor"))
    return tag_page(jsonify({"items": [_line(r) for r in rows], "next_cursor": next_cursor}), version)


@blp.route("/inbox/<id:item_id>/read", methods=["POST"])
@blp.response(204)
def mark_read(item_id):
    """Mark an item read."""
    if not inbox.mark_read(g.user_id, item_id):
        raise not_found("inbox item")


@blp.route("/sync", methods=["GET"])
@blp.arguments(SyncArgs(), location="query")
@blp.response(200, SyncOut)
def sync(args):
    """What changed in the inbox and tasks since a token; without one, everything current."""
    rows, token, more = lists.changes_since(g.user_id, args.get("since"), args["limit"])
    out = {"inbox": {"upserted": [], "removed": []}, "tasks": {"upserted": [], "removed": []}}
    for part, removed, row in rows:
        into, dump = (out["inbox"], _line) if part == lists.INBOX else (out["tasks"], _task)
        if removed:
            into["removed"].append(str(row[0]))
        else:
            into["upserted"].append(dump(row))
    out["next"] = token
    out["has_more"] = more
    return jsonify(out)
