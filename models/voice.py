"""Dictated recordings and what the recogniser made of them."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow

VOICE_STATES = ("queued", "processing", "transcribed", "failed")
REPORT_SENDING = ("review", "on_transcribed")


class VoiceNote(db.Model):
    __tablename__ = "voice_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    mime: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    language: Mapped[str] = mapped_column(sa.String(16))
    # Phrase-list mode: the recogniser may only produce these phrases.
    phrases: Mapped[list | None] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    duration_s: Mapped[float | None]
    # The recogniser's original output; edits go to the resolution, never here.
    transcript: Mapped[str | None] = mapped_column(sa.Text)
    words: Mapped[list | None] = mapped_column(sa.JSON)
    # The words with the executive's learned corrections applied (domain/corrections.py); None if none applied.
    corrected_words: Mapped[list | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.String(500))
    # What the transcript says (domain/parsing): executors, deadline and text, each with its word span.
    suggestions: Mapped[dict | None] = mapped_column(sa.JSON)
    # A dictated report (domain/voice_reports.py): the task reported on, whether the transcript is sent as the
    # report as soon as it is ready ("on_transcribed") or waits for the executor to correct it ("review"), and
    # the files uploaded with the recording, kept until the report is sent ({name, mime, size, sha256}).
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tasks.id"), index=True)
    send: Mapped[str | None] = mapped_column(sa.String(16))
    files: Mapped[list | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def words_shown(self) -> list | None:
        """The words as a reviewer sees them: with learned corrections applied, when any were."""
        return self.corrected_words or self.words

    @property
    def suggested_deadline(self) -> dict | None:
        """The deadline offered for a dictation that said none (domain/dictation.py), never set by itself."""
        return (self.suggestions or {}).get("suggested_deadline")


PHRASE_MODES = ("free", "templates")


class ResolutionTemplate(db.Model):
    """A stock resolution phrase of an organization; in "templates" mode these are the phrase list."""

    __tablename__ = "resolution_templates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(sa.String(500))
    position: Mapped[int] = mapped_column(default=0)


class VoicePreference(db.Model):
    """How one user dictates: free speech, or only their organization's templates."""

    __tablename__ = "voice_preferences"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    phrase_mode: Mapped[str] = mapped_column(sa.String(10), default="free")
