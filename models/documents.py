"""Documents, their files, whom they are addressed to, and each user's inbox."""
from datetime import date, datetime
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from .base import BigId, db, partial_index, utcnow
from .org import Organization, Unit
from .views import INBOX_VIEWS, condition

INBOX_KINDS = ("review", "resolution", "approval", "task", "info", "report", "extension")

document_addressees = sa.Table(
    "document_addressees",
    db.metadata,
    sa.Column("document_id", BigId, sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("unit_id", BigId, sa.ForeignKey("units.id"), primary_key=True, index=True),
)


class RegistrationCounter(db.Model):
    """The last registration number given per organization and year."""

    __tablename__ = "registration_counters"

    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class Document(db.Model):
    __tablename__ = "documents"
    __table_args__ = (
        sa.UniqueConstraint("organization_id", "reg_year", "reg_number"),
        # Search by registration number: the number alone, whatever its year.
        sa.Index("ix_documents_reg_number", "organization_id", "reg_number"),
        # Search's order, newest registration first: a common word is found walking this and stops
        # at a page, rather than sorting every match.
        sa.Index("ix_documents_reg_date", "organization_id", "reg_date", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    reg_number: Mapped[str] = mapped_column(sa.String(40))
    reg_year: Mapped[int]
    reg_date: Mapped[date]
    title: Mapped[str] = mapped_column(sa.String(1000))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    correspondent: Mapped[str] = mapped_column(sa.String(300))
    # The document's owner: who registered it and who runs its approval route.
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    urgent: Mapped[bool] = mapped_column(default=False)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship()
    addressees: Mapped[list[Unit]] = relationship(secondary=document_addressees, order_by="Unit.id")
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="document", order_by="Attachment.id", cascade="all, delete-orphan"
    )
    inbox_items: WriteOnlyMapped["InboxItem"] = relationship(back_populates="document")


class Attachment(db.Model):
    """A file of a document; the bytes live once in the blob store, named by SHA-256."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    mime: Mapped[str] = mapped_column(sa.String(127))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    document: Mapped[Document] = relationship(back_populates="attachments")


class DocumentText(db.Model):
    """What search reads of a document: its words (registration number, title, summary, correspondent
    and the text of its plain-text files), written in the transaction that registers the document or
    adds a file. PostgreSQL searches a stored `search_vector`, `to_tsvector('russian', words)`, under a
    GIN index (the column is the migration's, PostgreSQL's alone); SQLite an FTS5 table over `lemmas`,
    the words' normal forms (pymorphy3), kept in step by triggers. Both are made by migration 0016, per
    dialect."""

    __tablename__ = "document_texts"

    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    correspondent_key: Mapped[str] = mapped_column(sa.String(300))  # casefolded, for the correspondent filter
    words: Mapped[str] = mapped_column(sa.Text)
    lemmas: Mapped[str | None] = mapped_column(sa.Text)  # SQLite only


class Rendition(db.Model):
    """What the phone shows of a stored file: its pages as images at a few widths and its text (from its
    text layer, or read from its images by OCR), prepared by the documents worker (documents/). One per
    file content and declared type: the same bytes attached to many documents are converted once, and
    a file whose content is not the type it was declared as ends failed. `pages` lists each page's
    `n`, `width`, `height` and the blob of each prepared width (`images`, by width); `reason` and
    `params` say why a failed file has no pages (domain/pages.py words them in Russian and English)."""

    __tablename__ = "renditions"
    __table_args__ = (sa.UniqueConstraint("sha256", "mime"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    mime: Mapped[str] = mapped_column(sa.String(127))
    status: Mapped[str] = mapped_column(sa.String(12), default="processing")  # processing, ready, failed
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    params: Mapped[dict | None] = mapped_column(sa.JSON)
    pages: Mapped[list] = mapped_column(sa.JSON, default=list)
    text_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class InboxItem(db.Model):
    """One line of a user's inbox, denormalised so the list is one indexed read."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        # One partial index per inbox view, each in the view's order (read backwards for newest first),
        # so that a page reads its own rows and no others, also for a user with nothing in the view.
        partial_index("ix_inbox_all", "user_id", "received_at", "id", where=condition(INBOX_VIEWS, "all")),
        partial_index("ix_inbox_unread", "user_id", "received_at", "id", where=condition(INBOX_VIEWS, "unread")),
        partial_index("ix_inbox_action", "user_id", "received_at", "id", where=condition(INBOX_VIEWS, "action")),
        # Overdue is "due before now": the lines with a due date in the view's order, and by due date
        # (which answers at once when nothing is overdue, and tells when the next line falls due).
        partial_index("ix_inbox_due", "user_id", "received_at", "id", where=condition(INBOX_VIEWS, "overdue")),
        partial_index("ix_inbox_due_at", "user_id", "due_at", where=condition(INBOX_VIEWS, "overdue")),
        # Serves sync: what changed for this user after a position (change number, id).
        sa.Index("ix_inbox_user_seq", "user_id", "seq", "id"),
        sa.UniqueConstraint("user_id", "document_id", "kind"),
        # A deputy's copies of a principal's lines (domain.substitutions): found by the principal's
        # line they copy, and taken out together when the period ends.
        partial_index("ix_inbox_for", "for_user_id", "document_id", where="for_user_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    reg_number: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(120))
    sender: Mapped[str] = mapped_column(sa.String(80))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]
    unread: Mapped[bool] = mapped_column(default=True)
    urgent: Mapped[bool] = mapped_column(default=False)
    # A removed item stays as a tombstone so that sync can tell phones to drop it.
    removed: Mapped[bool] = mapped_column(default=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # A line a deputy sees for a principal: whose line it is, and their short name as the line shows it.
    for_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    for_name: Mapped[str | None] = mapped_column(sa.String(80))

    document: Mapped[Document] = relationship(back_populates="inbox_items")

    @property
    def for_user(self) -> SimpleNamespace | None:
        """The principal of a deputy's line as the line names them ({"id", "short_name"}), else None."""
        return None if self.for_user_id is None else SimpleNamespace(id=self.for_user_id, short_name=self.for_name)
