"""Responses remembered per (user, Idempotency-Key) so a retried POST replays, never repeats."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow


class IdempotentResponse(db.Model):
    """A key's first request: claimed (status NULL, `claim` set) while it runs, then its answer."""

    __tablename__ = "idempotent_responses"

    user_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int | None]
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    content_type: Mapped[str | None] = mapped_column(sa.String(100))
    location: Mapped[str | None] = mapped_column(sa.String(300))
    # The running request's token; NULL once it answered. A claim older than the longest a request
    # may run was left by a killed process and may be taken over.
    claim: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
