"""What an executive's assistant corrected in their transcripts, kept to correct the next ones."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow


class LearnedCorrection(db.Model):
    """How often the engine heard `heard` in an executive's dictation and the reviewed text said `meant`.

    A row whose `meant` equals `heard` counts the times the heard words were right (left as they were,
    or an automatic correction undone); a correction is applied only while it outnumbers them.
    """

    __tablename__ = "learned_corrections"
    __table_args__ = (sa.UniqueConstraint("executive_id", "heard", "meant"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    executive_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    heard: Mapped[str] = mapped_column(sa.String(200))
    meant: Mapped[str] = mapped_column(sa.String(200))
    times: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CorrectionSource(db.Model):
    """The pairs one reviewed draft contributed, so reviewing it again replaces them instead of adding twice."""

    __tablename__ = "correction_sources"

    resolution_id: Mapped[int] = mapped_column(sa.ForeignKey("resolutions.id", ondelete="CASCADE"),
                                               primary_key=True)
    executive_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    pairs: Mapped[list] = mapped_column(sa.JSON)
