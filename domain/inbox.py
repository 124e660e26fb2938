"""Putting documents into people's inboxes and taking them out again."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from models import Document, InboxItem, User, db, utcnow

TITLE_MAX = 120
SENDER_MAX = 32  # "from" is a short name: the line must fit a phone screen and 400 bytes of JSON


def shorten(text: str, limit: int = TITLE_MAX) -> str:
    """At most `limit` characters, cut at a word where possible, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


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


def _line(user_id: int, document_id: int, kind: str) -> InboxItem | None:
    return db.session.scalar(sa.select(InboxItem).where(
        InboxItem.user_id == user_id, InboxItem.document_id == document_id, InboxItem.kind == kind))


def _fill(item: InboxItem, doc: Document, sender: str, due_at: datetime | None, urgent: bool | None) -> None:
    item.reg_number, item.title, item.sender = doc.reg_number, shorten(doc.title), shorten(sender, SENDER_MAX)
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
    """Mark one of the user's items read; False if there is no such item."""
    item = db.session.get(InboxItem, item_id) if item_id else None
    if item is None or item.user_id != user.id or item.removed:
        return False
    if item.unread:
        item.unread = False
    return True


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
