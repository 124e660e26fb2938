"""What an executive lets an assistant who serves them do on their behalf."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow


class AssistantRight(db.Model):
    """One executive's grant to one assistant: whether the assistant may issue the executive's
    resolutions in the executive's name. No row means the assistant only drafts."""

    __tablename__ = "assistant_rights"
    __table_args__ = (
        sa.UniqueConstraint("executive_id", "assistant_id", name="uq_assistant_rights_pair"),
        sa.Index("ix_assistant_rights_assistant_id", "assistant_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    executive_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    assistant_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    may_issue: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    set_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
