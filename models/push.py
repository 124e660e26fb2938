"""Per-device delivery state of push notifications, so that no device is sent one event twice."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow

# `sending` is written before the HTTP call and replaced by the answer after it; a `sending` row
# found later means the sender died mid-call, and it becomes `unknown` (final: never resent).
SENDING, DELIVERED, RETRY, FAILED, UNKNOWN = "sending", "delivered", "retry", "failed", "unknown"
FINAL = frozenset({DELIVERED, FAILED, UNKNOWN})


class PushDelivery(db.Model):
    """One outbox message to one device: what happened to it."""

    __tablename__ = "push_deliveries"
    __table_args__ = (sa.UniqueConstraint("outbox_id", "device_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(sa.ForeignKey("outbox.id", ondelete="CASCADE"))
    # A dropped or deleted device takes its delivery rows with it: there is nothing left to send to.
    device_id: Mapped[int] = mapped_column(sa.ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(sa.String(10))
    message_id: Mapped[str | None] = mapped_column(sa.String(200))
    error: Mapped[str | None] = mapped_column(sa.String(500))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
