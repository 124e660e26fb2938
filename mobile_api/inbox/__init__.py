"""The trimmed inbox, read marks and offline sync."""

import sqlalchemy as sa
from flask import g, jsonify
from flask_smorest import Blueprint

from domain import inbox, paging
from models import InboxItem, Task, db, utcnow
from models.changes import ChangeCounter

from ..auth.tokens import authenticate
from ..conditional import etagged
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

ACTION_KINDS = ("review", "resolution", "approval", "task")
# The list reads plain rows of the table (not ORM objects): it is the hottest read of the app.
ITEMS = InboxItem.__table__.c
LINE = (ITEMS.id, ITEMS.document_id, ITEMS.kind, ITEMS.reg_number, ITEMS.title, ITEMS.sender, ITEMS.received_at,
        ITEMS.due_at, ITEMS.unread, ITEMS.urgent)
_item_view, _task_view = InboxItemSchema(), TaskSchema()
_line = compile_dump(_item_view)


@blp.route("/inbox", methods=["GET"])
@etagged
@blp.arguments(InboxArgs, location="query")
@blp.response(200, InboxPage)
def list_inbox(args):
    """The user's inbox, newest first, one trimmed line per item."""
    query = sa.select(*LINE).where(ITEMS.user_id == g.user_id, ITEMS.removed == sa.false())
    view = args["view"]
    if view == "unread":
        query = query.where(ITEMS.unread == sa.true())
    elif view == "action":
        query = query.where(ITEMS.kind.in_(ACTION_KINDS))
    elif view == "overdue":
        query = query.where(ITEMS.due_at < utcnow())
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
    since = paging.decode(args["since"], int)[0] if "since" in args else 0
    fresh = "since" not in args
    limit = args["limit"]
    # Read the counter before the rows: anything committed later carries a larger number.
    committed = db.session.scalar(sa.select(ChangeCounter.value).where(ChangeCounter.id == 1)) or 0
    inbox_q = sa.select(InboxItem).where(InboxItem.user_id == g.user_id, InboxItem.seq > since)
    task_q = sa.select(Task).where(Task.executor_id == g.user_id, Task.seq > since)
    if fresh:  # a new phone needs no tombstones
        inbox_q = inbox_q.where(InboxItem.removed == sa.false())
        task_q = task_q.where(Task.removed == sa.false())
    rows = list(db.session.scalars(inbox_q.order_by(InboxItem.seq).limit(limit + 1)))
    rows += db.session.scalars(task_q.order_by(Task.seq).limit(limit + 1))
    rows.sort(key=lambda r: r.seq)
    more = len(rows) > limit
    rows = rows[:limit]
    out = {"inbox": {"upserted": [], "removed": []}, "tasks": {"upserted": [], "removed": []}}
    for row in rows:
        part, dump = (out["inbox"], _line) if isinstance(row, InboxItem) else (out["tasks"], _task_view.dump)
        if row.removed:
            part["removed"].append(str(row.id))
        else:
            part["upserted"].append(dump(row))
    last = rows[-1].seq if rows else since
    out["next"] = paging.encode(last if more else max(last, committed))
    out["has_more"] = more
    return out
