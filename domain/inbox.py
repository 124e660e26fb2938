"""Putting documents into people's inboxes, taking them out again, and the sync stream of changes."""
import json
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from models import Document, InboxItem, db, utcnow
from models.base import compiled_once
from models.changes import change_number, change_number_sql

from . import substitutions

TITLE_MAX = 120
# A line must stay under 400 bytes of JSON, guaranteed, not only for typical titles. With the longest
# ids (19 digits), kind and both times, the fixed part of a line is 220 bytes; what is left is shared
# by the three texts, measured as the bytes they take in JSON (UTF-8, escapes included). A deputy's
# copy of a principal's line gives its title the room its `for` takes (substitutions.FOR_BYTES).
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
    # The longest prefix within the budget: a prefix's JSON bytes grow with its length (each character
    # is escaped on its own), so a binary search finds it in a few measurements, not one per letter.
    fits, over = 0, min(len(text), limit - 1) + 1
    while over - fits > 1:
        middle = (fits + over) // 2
        fits, over = (middle, over) if json_bytes(text[:middle]) <= budget else (fits, middle)
    cut = text[:fits]
    if " " in cut[len(cut) // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + ELLIPSIS


def line_texts(reg_number: str, title: str, sender: str, spare: int = 0) -> tuple[str, str, str]:
    """The three texts of an inbox line, cut so the whole line (and `spare` bytes more) stays under
    LINE_MAX_BYTES."""
    reg_number = shorten(reg_number, 40, REG_NUMBER_MAX_BYTES) if json_bytes(reg_number) > REG_NUMBER_MAX_BYTES \
        else reg_number
    sender = shorten(sender, 32, SENDER_MAX_BYTES)
    title = shorten(title, TITLE_MAX, TEXT_BYTES - spare - json_bytes(reg_number) - json_bytes(sender))
    return reg_number, title, sender


def deliver(user_ids: Iterable[int], doc: Document, kind: str, sender: str, due_at: datetime | None = None,
            urgent: bool | None = None) -> None:
    """Put a document into these users' inboxes as `kind`; an existing line of that kind comes back unread.

    One upsert per user, sent in one round trip (psycopg pipelines an executemany): two
    transactions delivering the same line at once (two drafts of one document) both succeed, the later
    one updating the other's row. Lines are written in the order of the users' ids, whatever the order
    given, so that two transactions delivering to the same people never hold each other's lines.
    The running deputies of these users get a copy (domain.substitutions), in one more statement."""
    users = sorted(set(user_ids))
    if not users:  # a stage with no one newly due: no change number to take
        return
    reg_number, title, short_sender = line_texts(doc.reg_number, doc.title, sender)
    now = utcnow()
    line = dict(document_id=doc.id, kind=kind, reg_number=reg_number, title=title, sender=short_sender,
                received_at=now, due_at=due_at if due_at is not None else doc.due_at, unread=True,
                urgent=bool(doc.urgent if urgent is None else urgent), removed=False, seq=change_number(db.session),
                for_user_id=None, for_name=None)
    db.session.execute(_UPSERTS[db.session.get_bind().dialect.name], [{**line, "user_id": u} for u in users])
    substitutions.fan_out(users, _copy_of(doc, line, sender), now)


def _copy_of(doc: Document, line: dict, sender: str) -> dict:
    """A line as a deputy's copy has it: its title cut to leave room for `for`."""
    reg_number, title, short_sender = line_texts(doc.reg_number, doc.title, sender, spare=substitutions.FOR_BYTES)
    return {**line, "reg_number": reg_number, "title": title, "sender": short_sender}


_LINE = ("user_id", "document_id", "kind", "reg_number", "title", "sender", "received_at", "due_at", "unread",
         "urgent", "removed", "seq", "for_user_id", "for_name")


def _upsert(insert: sa.Insert) -> sa.Insert:
    """An insert of lines that, for a line the user already has of that kind, brings it back instead."""
    return insert.on_conflict_do_update(index_elements=["user_id", "document_id", "kind"],
                                        set_={c: insert.excluded[c] for c in _LINE[3:]})


# Lines given as parameters, one set per user: built once per dialect.
_UPSERTS = {dialect.__name__.rsplit(".", 1)[-1]: compiled_once(_upsert(dialect.insert(InboxItem.__table__)),
                                                              f"inbox.deliver.{dialect.__name__}")
            for dialect in (postgresql, sqlite)}


def deliver_many(users: sa.Select, doc: Document, kind: str, sender: str, due_at: datetime | None = None) -> int:
    """Put a document into the inbox of every user id the SELECT yields, as one set-based statement
    (an existing line of that kind comes back unread), and a copy into their running deputies' (one
    more). Returns how many lines were written."""
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
        change_number_sql(db.session), sa.cast(sa.null(), InboxItem.for_user_id.type),
        sa.cast(sa.null(), InboxItem.for_name.type),
    ).distinct().where(sa.true())  # SQLite needs a WHERE to tell the upsert's ON from a join's
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    written = db.session.execute(_upsert(dialect.insert(InboxItem).from_select(_LINE, source))).rowcount
    line = dict(document_id=doc.id, kind=kind, reg_number=reg_number, title=title, sender=short_sender,
                received_at=now, due_at=due, unread=True, urgent=bool(doc.urgent), removed=False,
                seq=change_number(db.session))
    substitutions.fan_out(sa.select(user_col), _copy_of(doc, line, sender), now)
    return written


def withdraw(user_id: int, document_id: int, kind: str) -> None:
    """Take an item out of the inbox; it stays as a tombstone that sync reports as removed. The
    deputies' copies of it go too."""
    change = change_number(db.session)
    db.session.execute(_WITHDRAW, {"user": user_id, "document": document_id, "line_kind": kind, "change": change})
    substitutions.withdraw_copies(user_id, document_id, kind, change)


_items = InboxItem.__table__.c
_WITHDRAW = sa.update(InboxItem.__table__).where(
    _items.user_id == sa.bindparam("user"), _items.document_id == sa.bindparam("document"),
    _items.kind == sa.bindparam("line_kind"), _items.removed == sa.false(),
).values(removed=True, seq=sa.bindparam("change", type_=sa.BigInteger))


def mark_read(user_id: int, item_id: int | None) -> bool:
    """Mark one of the user's items read; False if there is no such item.

    One UPDATE of one row, the user's row not even read: it takes no lock but that row's, so it never
    waits behind a registration delivering to thousands of inboxes."""
    if not item_id:
        return False
    items = InboxItem.__table__.c
    found = db.session.execute(
        sa.update(InboxItem.__table__)
        .where(items.id == item_id, items.user_id == user_id, items.removed == sa.false())
        .values(unread=sa.case((items.unread == sa.true(), sa.false()), else_=items.unread),
                seq=sa.case((items.unread == sa.true(), change_number_sql(db.session)), else_=items.seq))
        .returning(items.id)
    ).first()
    return found is not None


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
