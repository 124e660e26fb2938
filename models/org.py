"""Organizations, their tree of units, and the people who work in them."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import BigId, db, utcnow

ROLES = ("executive", "assistant", "clerk", "employee", "admin")

unit_members = sa.Table(
    "unit_members",
    db.metadata,
    sa.Column("unit_id", BigId, sa.ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)

# An assistant serves one or more executives.
assistants = sa.Table(
    "assistants",
    db.metadata,
    sa.Column("assistant_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("executive_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    short_name: Mapped[str] = mapped_column(sa.String(80))
    # Prefix of registration numbers, e.g. "МЦР" gives "МЦР-123/26".
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    # Push notifications carry no document data unless the organization allows it.
    push_shows_document: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Unit(db.Model):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"))
    name: Mapped[str] = mapped_column(sa.String(300))
    short_name: Mapped[str] = mapped_column(sa.String(80))

    organization: Mapped[Organization] = relationship()


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    name: Mapped[str] = mapped_column(sa.String(200))
    short_name: Mapped[str] = mapped_column(sa.String(80))
    # Space-separated role words; a user rarely has more than two.
    role_list: Mapped[str] = mapped_column("roles", sa.String(100), default="employee")
    is_active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(sa.String(16), default="ru")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Moscow")
    # Quiet hours as "HH:MM" in the user's time zone; None means no quiet hours.
    quiet_from: Mapped[str | None] = mapped_column(sa.String(5))
    quiet_to: Mapped[str | None] = mapped_column(sa.String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined", innerjoin=True)
    units: Mapped[list[Unit]] = relationship(secondary=unit_members)
    executives: Mapped[list["User"]] = relationship(
        secondary=assistants,
        primaryjoin=lambda: User.id == assistants.c.assistant_id,
        secondaryjoin=lambda: User.id == assistants.c.executive_id,
    )

    @property
    def roles(self) -> list[str]:
        return self.role_list.split()

    def has_role(self, role: str) -> bool:
        return role in self.role_list.split()
