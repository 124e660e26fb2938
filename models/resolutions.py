"""Resolutions (an executive's instructions on a document), their edits, and the tasks they create."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import BigId, db, partial_index, utcnow
from .documents import Document
from .org import User
from .views import TASK_VIEWS, condition

RESOLUTION_STATES = ("transcribing", "awaiting_review", "reviewed", "draft", "issued", "failed")
TASK_STATES = ("open", "done")

resolution_executors = sa.Table(
    "resolution_executors",
    db.metadata,
    sa.Column("resolution_id", BigId, sa.ForeignKey("resolutions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
)


class Resolution(db.Model):
    __tablename__ = "resolutions"
    __table_args__ = (
        # A document's resolutions in order: an opened document reads a page of them, not its whole history.
        sa.Index("ix_resolutions_document_id_id", "document_id", "id"),
        # The resolution of a voice note (a phone polls its dictation; the console opens it): only
        # dictated ones have a note.
        partial_index("ix_resolutions_voice_note_id", "voice_note_id", where="voice_note_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # A resolution written by an executor of a task delegates that task: resolutions form a tree.
    parent_task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tasks.id", use_alter=True), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    deadline: Mapped[datetime | None]
    voice_note_id: Mapped[int | None] = mapped_column(sa.ForeignKey("voice_notes.id", use_alter=True))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    issued_at: Mapped[datetime | None]

    document: Mapped[Document] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    executors: Mapped[list[User]] = relationship(
        secondary=resolution_executors, order_by=resolution_executors.c.position, lazy="selectin"
    )
    revisions: Mapped[list["ResolutionRevision"]] = relationship(
        order_by="ResolutionRevision.id", cascade="all, delete-orphan", back_populates="resolution"
    )


class ResolutionRevision(db.Model):
    """One edit of a draft: who, when, and each changed field as [before, after]."""

    __tablename__ = "resolution_revisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resolution_id: Mapped[int] = mapped_column(sa.ForeignKey("resolutions.id", ondelete="CASCADE"), index=True)
    editor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    changes: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    resolution: Mapped[Resolution] = relationship(back_populates="revisions")


_OPEN_WITH_DEADLINE = condition(TASK_VIEWS, "overdue")


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        # One partial index per /tasks view, in the view's order (read backwards for newest first).
        partial_index("ix_tasks_open", "executor_id", "created_at", "id", where=condition(TASK_VIEWS, "open")),
        partial_index("ix_tasks_done", "executor_id", "created_at", "id", where=condition(TASK_VIEWS, "done")),
        # The overdue view walks only open tasks that have a deadline: most have none, and walking
        # the open tasks' index would pass every one of them to find the few overdue.
        partial_index("ix_tasks_due", "executor_id", "created_at", "id", where=_OPEN_WITH_DEADLINE),
        partial_index("ix_tasks_open_deadline", "executor_id", "deadline", where=_OPEN_WITH_DEADLINE),
        sa.Index("ix_tasks_executor_seq", "executor_id", "seq", "id"),
        # Serves the dispatcher's scan for deadlines coming up or passed.
        sa.Index("ix_tasks_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resolution_id: Mapped[int] = mapped_column(sa.ForeignKey("resolutions.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    executor_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    deadline: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(sa.String(8), default="open")
    report: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    removed: Mapped[bool] = mapped_column(default=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    resolution: Mapped[Resolution] = relationship(foreign_keys=[resolution_id])
    document: Mapped[Document] = relationship()
    executor: Mapped[User] = relationship()
