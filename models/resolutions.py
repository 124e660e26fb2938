"""Resolutions (an executive's instructions on a document), their edits, and the tasks they create."""
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import BigId, db, partial_index, utcnow
from .documents import Document
from .org import User
from .views import TASK_VIEWS, condition
from .voice import VoiceNote

RESOLUTION_STATES = ("transcribing", "awaiting_review", "reviewed", "draft", "issued", "failed", "executed",
                     "withdrawn", "rejected")
# A task of a controlled resolution is reported, then accepted (done) or returned (open again); a task
# for information is acknowledged (done).
TASK_STATES = ("open", "reported", "done")
# The states of an issued resolution: seen by its executors and readers.
ISSUED_STATES = ("issued", "executed", "withdrawn")
EXTENSION_STATES = ("pending", "approved", "rejected", "cancelled")

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
        # The drafts an assistant wrote for executives, newest first (only those have a drafter).
        partial_index("ix_resolutions_drafted_by", "drafted_by_id", "created_at", "id",
                      where="drafted_by_id IS NOT NULL"),
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
    # For control (reports accepted by the controller) or for information (acknowledged). None on a
    # draft means "the default": controlled when it has executors and a deadline, fixed at issue.
    control: Mapped[bool | None]
    # Who accepts the reports and decides the extensions; None on a draft means its author.
    controller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    withdraw_reason: Mapped[str | None] = mapped_column(sa.Text)
    # When it was executed, withdrawn or (a draft) rejected.
    closed_at: Mapped[datetime | None]
    # An assistant who wrote or dictated this draft for its author (the executive they serve).
    drafted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Who issued it when not its author: an assistant the author allowed to, or the author's deputy.
    issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Why the author rejected the draft, if they said.
    reject_comment: Mapped[str | None] = mapped_column(sa.Text)
    # A deputy's act in a principal's name (domain.substitutions): written by a deputy, the author is
    # the deputy and this the principal; issued by a deputy, `issued_by_id` is the deputy and this the
    # principal (the author).
    acting_for_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    document: Mapped[Document] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id])
    controller: Mapped[User | None] = relationship(foreign_keys=[controller_id])
    executors: Mapped[list[User]] = relationship(
        secondary=resolution_executors, order_by=resolution_executors.c.position, lazy="selectin"
    )
    revisions: Mapped[list["ResolutionRevision"]] = relationship(
        order_by="ResolutionRevision.id", cascade="all, delete-orphan", back_populates="resolution"
    )

    @property
    def controlled(self) -> bool:
        """For control as given, else (a draft) when it has executors and a deadline."""
        return self.control if self.control is not None else bool(self.deadline is not None and self.executors)

    @property
    def controller_user_id(self) -> int:
        """Its controller as named, else its author."""
        return self.controller_id or self.author_id


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
        # The control views: what a controller controls, and the reports waiting for a reviewer.
        sa.Index("ix_tasks_controller", "controller_id", "created_at", "id"),
        partial_index("ix_tasks_controlled_due", "controller_id", "deadline", "id",
                      where="status <> 'done' AND NOT removed"),
        partial_index("ix_tasks_reported", "reviewer_id", "reported_at", "id", where="status = 'reported'"),
        # The executed view, latest done first: without it a busy controller's done tasks were all sorted.
        partial_index("ix_tasks_controlled_done", "controller_id", "completed_at", "id",
                      where="status = 'done' AND NOT withdrawn AND NOT removed"),
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
    # Execution control, fixed at issue: whether the task is reported and accepted (else acknowledged),
    # whether its executor is the resolution's responsible one (the first), and its controller.
    control: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    responsible: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    controller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Who accepts or returns the report now waiting (the controller, or the responsible executor for a
    # co-executor's report), and when the last report came.
    reviewer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reported_at: Mapped[datetime | None]
    returned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Ended by the resolution's withdrawal rather than done.
    withdrawn: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The executor's organization, set by the database on every write (migration 0026): the summary
    # reads an organization's tasks as one range of an index rather than person by person.
    organization_id: Mapped[int | None] = mapped_column(sa.BigInteger)

    resolution: Mapped[Resolution] = relationship(foreign_keys=[resolution_id])
    document: Mapped[Document] = relationship()
    reports: Mapped[list["TaskReport"]] = relationship(order_by="TaskReport.id", viewonly=True)
    executor: Mapped[User] = relationship(foreign_keys=[executor_id])


class TaskMonth(db.Model):
    """The controlled tasks (not withdrawn, not removed) per executor and UTC month of issue, done on
    time, done late and not done, as /control/summary tells them: the summary reads the whole months of
    its period here, by organization (ix_task_months_organization). Kept by database triggers on
    `tasks` (migration 0026), in the transaction of every write that moves a task from one count to
    another; a row may fall to zeros and stay."""

    __tablename__ = "task_months"

    executor_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)  # the first day of the month, UTC
    organization_id: Mapped[int] = mapped_column(sa.BigInteger)  # the executor's
    on_time: Mapped[int] = mapped_column(default=0)
    late: Mapped[int] = mapped_column(default=0)
    not_done: Mapped[int] = mapped_column(default=0)


class TaskReport(db.Model):
    """One report of a task's executor, with its files, and how it was received."""

    __tablename__ = "task_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None while it waits; "accepted" or "returned", by whom, when, with what comment.
    outcome: Mapped[str | None] = mapped_column(sa.String(10))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(sa.Text)
    # A dictated report: its recording (also one of its files) and what the recogniser heard.
    voice_note_id: Mapped[int | None] = mapped_column(sa.ForeignKey("voice_notes.id"))

    files: Mapped[list["ReportFile"]] = relationship(order_by="ReportFile.id", cascade="all, delete-orphan")
    voice_note: Mapped[VoiceNote | None] = relationship(lazy="selectin", viewonly=True)

    @property
    def transcript(self) -> str | None:
        """A dictated report: what the recogniser heard (the report's text is what its executor sent)."""
        return self.voice_note.transcript if self.voice_note else None

    @property
    def recording_file_id(self) -> int | None:
        """A dictated report: its file that is the recording."""
        note = self.voice_note
        return next((f.id for f in self.files if f.sha256 == note.sha256), None) if note else None


class ReportFile(db.Model):
    """A file of a report; the bytes live once in the blob store, named by SHA-256, as attachments do."""

    __tablename__ = "report_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("task_reports.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    mime: Mapped[str] = mapped_column(sa.String(127))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))


class ExtensionRequest(db.Model):
    """An executor asks the controller for a later deadline; the rows are the task's deadline history."""

    __tablename__ = "extension_requests"
    __table_args__ = (
        # One pending request per task, whatever races.
        sa.Index("uq_extension_requests_pending", "task_id", unique=True,
                 postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
        partial_index("ix_extension_requests_decider", "decider_id", "created_at", "id", where="status = 'pending'"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    requester_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    decider_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    old_deadline: Mapped[datetime | None]
    deadline: Mapped[datetime]  # as asked
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    new_deadline: Mapped[datetime | None]  # as approved
    comment: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]

    task: Mapped[Task] = relationship()
