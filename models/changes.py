"""Change numbers for sync: every inbox item, task, user and unit carries the number of its last change.

The counter is one row updated in the writing transaction. Its row lock is held until commit,
so numbers become visible in commit order: a phone that synced up to N can never later miss a
change numbered below N (a database sequence would not promise that).
"""
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import db


class ChangeCounter(db.Model):
    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def _take(session: Session, n: int) -> int:
    """Reserve n change numbers; returns the last one."""
    table = ChangeCounter.__table__
    last = session.execute(
        sa.update(table).where(table.c.id == 1).values(value=table.c.value + n).returning(table.c.value)
    ).scalar()
    if last is None:  # first change ever in this database
        session.execute(sa.insert(table).values(id=1, value=n))
        last = n
    return last


def _tracked(obj) -> bool:
    return hasattr(obj, "seq") and getattr(obj, "__tablename__", None) in ("inbox_items", "tasks", "users", "units")


@event.listens_for(Session, "before_flush")
def _stamp_changes(session: Session, flush_context, instances) -> None:
    changed = [o for o in session.new if _tracked(o)]
    changed += [o for o in session.dirty if _tracked(o) and session.is_modified(o, include_collections=False)]
    if not changed:
        return
    last = _take(session, len(changed))
    for offset, obj in enumerate(changed):
        obj.seq = last - len(changed) + 1 + offset
