"""Putting documents into people's inboxes, taking them out again, and the sync stream of changes."""
import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from models import Document, InboxItem, Resolution, Task, User, db, utcnow
from models.changes import change_number_sql, horizon

from .paging import decode, encode

TITLE_MAX = 120
# A line must stay under 400 bytes of JSON, guaranteed, not only for typical titles. With the longest
# ids (19 digits), kind and both times, the fixed part of a line is 220 bytes; what is left is shared
# by the three texts, measured as the bytes they take in JSON (UTF-8, escapes included).
LINE_MAX_BYTES = 399
LINE_FIXED_BYTES = 220
TEXT_BYTES = LINE_MAX_BYTES - LINE_FIXED_BYTES
SENDER_MAX_BYTES = 24  # "from" is a short name: "Минфин", "Иванов И.И."
REG_NUMBER_MAX_BYTES = 80
ELLIPSIS = "…"


def json_bytes(text: str) -> int:
    """Bytes the text takes inside a JSON string (as the API writes it: UTF-8, not ASCII-escaped)."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def shorten(text: str, limit: int = TITLE_MAX, max_bytes: int | None = None) -> str:
    """At most `limit` characters and `max_bytes` bytes of JSON, cut at a word where possible,
    with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit and (max_bytes is None or json_bytes(text) <= max_bytes):
        return text
    budget = (max_bytes if max_bytes is not None else float("inf")) - json_bytes(ELLIPSIS)
    cut, used = [], 0
    for ch in text[: limit - 1]:
        used += json_bytes(ch)
        if used > budget:
            break
        cut.append(ch)
    cut = "".join(cut)
    if " " in cut[len(cut) // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + ELLIPSIS


def line_texts(reg_number: str, title: str, sender: str) -> tuple[str, str, str]:
    """The three texts of an inbox line, cut so the whole line stays under LINE_MAX_BYTES."""
    reg_number = shorten(reg_number, 40, REG_NUMBER_MAX_BYTES) if json_bytes(reg_number) > REG_NUMBER_MAX_BYTES \
        else reg_number
    sender = shorten(sender, 32, SENDER_MAX_BYTES)
    title = shorten(title, TITLE_MAX, TEXT_BYTES - json_bytes(reg_number) - json_bytes(sender))
    return reg_number, title, sender


def deliver(user_id: int, doc: Document, kind: str, sender: str, due_at: datetime | None = None,
            urgent: bool | None = None) -> InboxItem:
    """Put a document into a user's inbox as `kind`; an existing item of that kind comes back unread."""
    item = _line(user_id, doc.id, kind)
    if item is None:
        try:
            # Two transactions may deliver the same line at once (two drafts of one document):
            # the loser's insert fails on the unique key, and it updates the winner's row instead.
            with db.session.begin_nested():
                item = InboxItem(user_id=user_id, document_id=doc.id, kind=kind)
                _fill(item, doc, sender, due_at, urgent)
                db.session.add(item)
            return item
        except IntegrityError:
            item = _line(user_id, doc.id, kind)
    _fill(item, doc, sender, due_at, urgent)
    return item


def deliver_many(users: sa.Select, doc: Document, kind: str, sender: str, due_at: datetime | None = None) -> int:
    """Put a document into the inbox of every user id the SELECT yields, as one set-based statement
    (an existing line of that kind comes back unread). Returns how many lines were written."""
    reg_number, title, short_sender = line_texts(doc.reg_number, doc.title, sender)
    now = utcnow()
    due = due_at if due_at is not None else doc.due_at
    ids = users.subquery()
    user_col = list(ids.c)[0]
    source = sa.select(
        user_col, sa.literal(doc.id, InboxItem.document_id.type), sa.literal(kind, InboxItem.kind.type),
        sa.literal(reg_number, InboxItem.reg_number.type), sa.literal(title, InboxItem.title.type),
        sa.literal(short_sender, InboxItem.sender.type), sa.literal(now, InboxItem.received_at.type),
        sa.literal(due, InboxItem.due_at.type), sa.true(), sa.literal(bool(doc.urgent)), sa.false(),
        change_number_sql(db.session),
    ).distinct().where(sa.true())  # SQLite needs a WHERE to tell the upsert's ON from a join's
    columns = ["user_id", "document_id", "kind", "reg_number", "title", "sender", "received_at", "due_at",
               "unread", "urgent", "removed", "seq"]
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(InboxItem).from_select(columns, source)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "document_id", "kind"],
        set_={c: stmt.excluded[c] for c in columns if c not in ("user_id", "document_id", "kind")})
    return db.session.execute(stmt).rowcount


def _line(user_id: int, document_id: int, kind: str) -> InboxItem | None:
    return db.session.scalar(sa.select(InboxItem).where(
        InboxItem.user_id == user_id, InboxItem.document_id == document_id, InboxItem.kind == kind))


def _fill(item: InboxItem, doc: Document, sender: str, due_at: datetime | None, urgent: bool | None) -> None:
    item.reg_number, item.title, item.sender = line_texts(doc.reg_number, doc.title, sender)
    item.received_at, item.due_at = utcnow(), due_at if due_at is not None else doc.due_at
    item.urgent = doc.urgent if urgent is None else urgent
    item.unread, item.removed = True, False


def withdraw(user_id: int, document_id: int, kind: str) -> None:
    """Take an item out of the inbox; it stays as a tombstone that sync reports as removed."""
    item = db.session.scalar(
        sa.select(InboxItem).where(InboxItem.user_id == user_id, InboxItem.document_id == document_id,
                                   InboxItem.kind == kind, InboxItem.removed == sa.false())
    )
    if item is not None:
        item.removed = True


def mark_read(user: User, item_id: int | None) -> bool:
    """Mark one of the user's items read; False if there is no such item.

    One UPDATE of one row: it takes no lock but that row's, so it never waits behind a registration
    delivering to thousands of inboxes."""
    if not item_id:
        return False
    items = InboxItem.__table__.c
    found = db.session.execute(
        sa.update(InboxItem.__table__)
        .where(items.id == item_id, items.user_id == user.id, items.removed == sa.false())
        .values(unread=sa.case((items.unread == sa.true(), sa.false()), else_=items.unread),
                seq=sa.case((items.unread == sa.true(), change_number_sql(db.session)), else_=items.seq))
        .returning(items.id)
    ).first()
    return found is not None


def any_overdue(user_id: int, now: datetime) -> bool:
    """Whether any of the user's lines is overdue: the first entry of the due-date index, at most."""
    return bool(db.session.scalar(sa.select(sa.exists().where(
        InboxItem.user_id == user_id, InboxItem.due_at.is_not(None), sa.not_(InboxItem.removed),
        InboxItem.due_at < now))))


def any_overdue_task(user_id: int, now: datetime) -> bool:
    """Whether any of the user's open tasks is overdue: the first entry of the deadline index, at most."""
    return bool(db.session.scalar(sa.select(sa.exists().where(
        Task.executor_id == user_id, sa.text("tasks.status = 'open'"), Task.deadline.is_not(None),
        sa.not_(Task.removed), Task.deadline < now))))


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(InboxItem)
        .where(InboxItem.user_id == user_id, InboxItem.removed == sa.false(), InboxItem.unread == sa.true())
    )


def unread_counts(user_ids: list[int]) -> dict[int, int]:
    """unread_count for many users in one query (users with none are absent)."""
    rows = db.session.execute(
        sa.select(InboxItem.user_id, sa.func.count()).group_by(InboxItem.user_id)
        .where(InboxItem.user_id.in_(user_ids), InboxItem.removed == sa.false(), InboxItem.unread == sa.true())
    )
    return dict(rows.tuples().all())


# What a task's view shows beyond its row, loaded with it rather than one query per task.
TASK_LOADS = (orm.joinedload(Task.document),
              orm.joinedload(Task.resolution).options(orm.joinedload(Resolution.author), orm.lazyload("*")))

# --- sync -------------------------------------------------------------------------------------------
# A position in a user's stream is (change number, part, id): part 0 is the inbox, 1 the tasks.
INBOX, TASKS = 0, 1
_END = 2**63 - 1


def changes_since(user_id: int, token: str | None, limit: int) -> tuple[list, str, bool]:
    """The user's inbox lines and tasks changed after the position in `token` (all current ones
    without a token), in stream order: (rows, next token, more to fetch now).

    The horizon is taken before anything is read, and the next token never goes past it: a change
    committed while this runs, or by a transaction still open, lies beyond the token and comes next time.
    """
    fresh = token is None
    position = (-1, TASKS, _END) if fresh else decode(token, int, int, int)
    if position[1] not in (INBOX, TASKS):
        decode("!", int)  # refuse as an invalid cursor
    settled_below = horizon(db.session)
    seq, part, key = position
    inbox_q = sa.select(InboxItem).where(
        InboxItem.user_id == user_id, sa.tuple_(InboxItem.seq, InboxItem.id) > (seq, key if part == INBOX else _END))
    task_q = sa.select(Task).where(
        Task.executor_id == user_id, sa.tuple_(Task.seq, Task.id) > (seq, key if part == TASKS else -1))
    if fresh:  # a new phone needs no tombstones
        inbox_q = inbox_q.where(InboxItem.removed == sa.false())
        task_q = task_q.where(Task.removed == sa.false())
    rows = [(r.seq, INBOX, r.id, r) for r in db.session.scalars(
        inbox_q.order_by(InboxItem.seq, InboxItem.id).limit(limit + 1))]
    rows += [(r.seq, TASKS, r.id, r) for r in db.session.scalars(
        task_q.options(*TASK_LOADS).order_by(Task.seq, Task.id).limit(limit + 1))]
    rows.sort(key=lambda r: r[:3])
    more = len(rows) > limit
    rows = rows[:limit]
    settled = (settled_below - 1, TASKS, _END)  # everything numbered below the horizon
    if rows and rows[-1][:3] <= settled:
        after = rows[-1][:3] if more else max(rows[-1][:3], settled)
    else:
        # The page reaches changes of transactions that may not all have ended: resume below them, and
        # let the phone come back later rather than loop on a page that cannot move yet.
        after, more = max(position, settled), False
    return [r[3] for r in rows], encode(*after), more


# --- versions for conditional GETs ------------------------------------------------------------------

def _version(columns: list) -> str | None:
    """The horizon, then (in a later statement, so that everything below the horizon is visible) the
    user's last change number and, for overdue views, when the next item falls due. The version is
    valid only when the last change lies below the horizon: then anything committing later is
    numbered above it, and changes the version."""
    settled_below = horizon(db.session)
    row = db.session.execute(sa.select(*columns)).one()
    last_change = row[0]
    next_due = row[1] if len(row) > 1 else None
    if last_change is not None and last_change >= settled_below:
        return None  # a transaction below the user's last change may still commit: no promise
    due = f".{int(next_due.timestamp())}" if next_due is not None else ""
    return f"{last_change or 0}{due}"


def inbox_version(user_id: int, view: str) -> str | None:
    """A string that changes whenever any page of the user's inbox view could: the number of the
    user's last change (every change gets a new one, and anything committing later a larger one),
    and for the overdue view also when the next line falls due. None when it cannot promise that."""
    items = InboxItem.__table__.c
    columns = [sa.select(sa.func.max(items.seq)).where(items.user_id == user_id).scalar_subquery()]
    if view == "overdue":
        columns.append(sa.select(sa.func.min(items.due_at)).where(
            items.user_id == user_id, items.due_at.is_not(None), sa.not_(items.removed),
            items.due_at >= utcnow()).scalar_subquery())
    return _version(columns)


def tasks_version(user_id: int, view: str) -> str | None:
    """Like inbox_version, for the user's tasks (open, overdue, done)."""
    tasks = Task.__table__.c
    columns = [sa.select(sa.func.max(tasks.seq)).where(tasks.executor_id == user_id).scalar_subquery()]
    if view == "overdue":
        columns.append(sa.select(sa.func.min(tasks.deadline)).where(
            tasks.executor_id == user_id, sa.text("tasks.status = 'open'"), tasks.deadline.is_not(None),
            sa.not_(tasks.removed), tasks.deadline >= utcnow()).scalar_subquery())
    return _version(columns)
