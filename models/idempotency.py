"""Responses remembered per (user, Idempotency-Key) so a retried POST replays, never repeats."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow


class IdempotentResponse(db.Model):
    __tablename__ = "idempotent_responses"

    user_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int]
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    location: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
