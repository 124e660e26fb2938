"""Login sessions (one per signed-in device) and push-notification devices."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import BigId, db, utcnow
from .org import User


class AuthSession(db.Model):
    """A signed-in app: access tokens name it, and its one live refresh token rotates."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_name: Mapped[str | None] = mapped_column(sa.String(120))
    # Refresh tokens are MACs over (session, generation) keyed by SECRET_KEY and this salt: only the
    # current generation may be spent, and a genuine token of an older generation proves reuse.
    salt: Mapped[str] = mapped_column(sa.String(64))
    generation: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the current generation was issued by a refresh: a retry of that refresh within the grace
    # period gets the same pair again (the access token is minted at this instant).
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(40))

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class Device(db.Model):
    """A phone or tablet registered for push; the FCM token is unique across users."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    platform: Mapped[str] = mapped_column(sa.String(10))
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    app_version: Mapped[str | None] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LoginFailure(db.Model):
    """One failed sign-in. Counted per address, per username and per both, by every web process alike."""

    __tablename__ = "login_failures"
    __table_args__ = (
        sa.Index("ix_login_failures_address_at", "address", "at"),
        sa.Index("ix_login_failures_username_at", "username", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(sa.String(64))
    username: Mapped[str] = mapped_column(sa.String(80))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
