"""Deadline reminders owed and sent: each once, whoever scans and however often."""
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, partial_index, utcnow

# A reminder's kind: "d<N>" on the morning N days before the deadline's day ("d0": the day itself),
# "overdue" once the deadline has passed.
OVERDUE = "overdue"


class TaskReminder(db.Model):
    """One reminder of one task's deadline, written in the transaction of its outbox row.

    Unique per (task, kind, deadline): a second scanner's insert is a no-op, and a moved deadline is
    a new key, so it is reminded of again. An overdue task waits here for its controller's digest.
    """

    __tablename__ = "task_reminders"
    __table_args__ = (
        sa.UniqueConstraint("task_id", "kind", "deadline", name="uq_task_reminders"),
        partial_index("ix_task_reminders_undigested", "controller_id", "id",
                      where="kind = 'overdue' AND digest_day IS NULL"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    deadline: Mapped[datetime]
    # The outbox row that told the executor (None: superseded by a later reminder made at once).
    outbox_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    # An overdue controlled task: its controller, and the controller's day whose digest listed it (for
    # any other reminder, the day it was made: it waits for no digest).
    controller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    digest_day: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ControlDigest(db.Model):
    """A controller's daily digest of the tasks that became overdue: one per controller and local day."""

    __tablename__ = "control_digests"

    controller_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    tasks: Mapped[int] = mapped_column(default=0)
    outbox_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReminderScan(db.Model):
    """How far the reminder scan has looked: a reminder is owed when its moment falls between two scans.

    One row; a scan holds it locked, so two scanners never look at the same stretch of time at once.
    """

    __tablename__ = "reminder_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    scanned_until: Mapped[datetime]
    scanner: Mapped[str | None] = mapped_column(sa.String(120))
