"""The trimmed inbox, read marks and offline sync."""

import sqlalchemy as sa
from flask import g, jsonify, request
from flask_smorest import Blueprint

from domain import inbox, paging
from models import InboxItem, db, utcnow
from models.documents import ACTION_KINDS_SQL

from ..auth.tokens import authenticate
from ..conditional import versioned
from ..errors import not_found
from ..fastdump import compile_dump
from ..schemas import (
    InboxArgs,
    InboxItemSchema,
    InboxPage,
    SyncArgs,
    SyncOut,
    TaskSchema,
)

blp = Blueprint("inbox", __name__, description="Inbox and sync")
blp.before_request(authenticate)

# The list reads plain rows of the table (not ORM objects): it is the hottest read of the app.
ITEMS = InboxItem.__table__.c
LINE = (ITEMS.id, ITEMS.document_id, ITEMS.kind, ITEMS.reg_number, ITEMS.title, ITEMS.sender, ITEMS.received_at,
        ITEMS.due_at, ITEMS.unread, ITEMS.urgent)
# Each view's condition is written as its partial index's predicate (see models.documents), with
# constants rather than parameters, so that every plan, generic or not, may use that index.
VIEWS = {
    "all": (sa.not_(ITEMS.removed),),
    "unread": (ITEMS.unread, sa.not_(ITEMS.removed)),
    "action": (sa.text(f"inbox_items.kind IN {ACTION_KINDS_SQL}"), sa.not_(ITEMS.removed)),
    "overdue": (ITEMS.due_at.is_not(None), sa.not_(ITEMS.removed)),
}
_item_view, _task_view = InboxItemSchema(), TaskSchema()
_line = compile_dump(_item_view)


@blp.route("/inbox", methods=["GET"])
@versioned(lambda: inbox.inbox_version(g.user_id, request.args.get("view", "all")))
@blp.arguments(InboxArgs, location="query")
@blp.response(200, InboxPage)
def list_inbox(args):
    """The user's inbox, newest first, one trimmed line per item (ETag: 304 when nothing changed)."""
    view = args["view"]
    query = sa.select(*LINE).where(ITEMS.user_id == g.user_id, *VIEWS[view])
    if view == "overdue":
        now = utcnow()
        if not inbox.any_overdue(g.user_id, now):  # one probe of the due-date index
            return jsonify({"items": [], "next_cursor": None})
        # Walk the view's index in received order; the due date is only a filter (written so that no
        # plan ranges over due dates and then sorts every overdue line of a long history).
        query = query.where(sa.func.coalesce(ITEMS.due_at, ITEMS.received_at) < now)
    rows, next_cursor = paging.newest_first(query, ITEMS.received_at, ITEMS.id, args["limit"], args.get("cursor"),
                                            fetch=db.session.execute)
    return jsonify({"items": [_line(r) for r in rows], "next_cursor": next_cursor})


@blp.route("/inbox/<id:item_id>/read", methods=["POST"])
@blp.response(204)
def mark_read(item_id):
    """Mark an item read."""
    if not inbox.mark_read(g.user, item_id):
        raise not_found("inbox item")
    db.session.commit()


@blp.route("/sync", methods=["GET"])
@blp.arguments(SyncArgs, location="query")
@blp.response(200, SyncOut)
def sync(args):
    """What changed in the inbox and tasks since a token; without one, everything current."""
    rows, token, more = inbox.changes_since(g.user_id, args.get("since"), args["limit"])
    out = {"inbox": {"upserted": [], "removed": []}, "tasks": {"upserted": [], "removed": []}}
    for row in rows:
        part, dump = (out["inbox"], _line) if isinstance(row, InboxItem) else (out["tasks"], _task_view.dump)
        if row.removed:
            part["removed"].append(str(row.id))
        else:
            part["upserted"].append(dump(row))
    out["next"] = token
    out["has_more"] = more
    return out
