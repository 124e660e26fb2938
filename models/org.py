"""Organizations, their tree of units, and the people who work in them."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from .base import BigId, db, utcnow

# Normalised search keys compare byte by byte on both databases (PostgreSQL's "C" collation, SQLite's
# BINARY), so a prefix is an index range and Cyrillic sorts alphabetically (ё is stored as е).
SearchKey = sa.String(300).with_variant(sa.String(300, collation="C"), "postgresql")
DAY_OFF_RULES = ("before", "after", "keep")

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
    # Deadlines said as dates are dates in this time zone.
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Moscow", server_default="Europe/Moscow")
    # A deadline that falls on a day off moves to the working day before (the usual rule), after, or stays.
    deadline_day_off: Mapped[str] = mapped_column(sa.String(8), default="before", server_default="before")
    # Issuing a resolution must be signed by an author with an enrolled key, as approval decisions are.
    issue_requires_signature: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Deadline reminders to a task's executor: on the morning of each of these days before the deadline
    # ("3,1"), besides the day itself and once it has passed.
    remind_days: Mapped[str] = mapped_column(sa.String(40), default="3,1", server_default="3,1")
    # Quiet hours ("HH:MM", in each user's own time zone) for the users who set none of their own; None: none.
    quiet_from: Mapped[str | None] = mapped_column(sa.String(5))
    quiet_to: Mapped[str | None] = mapped_column(sa.String(5))
    # A controlled resolution dictated without a deadline is offered this many months as its deadline.
    default_term_months: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Unit(db.Model):
    __tablename__ = "units"
    __table_args__ = (sa.Index("ix_units_organization_seq", "organization_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"))
    name: Mapped[str] = mapped_column(sa.String(300))
    short_name: Mapped[str] = mapped_column(sa.String(80))
    # Sync change number (models/changes.py), so phones keep the directory offline.
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")

    organization: Mapped[Organization] = relationship()


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        # The directory: people by the start of their surname (and in that order), name or position.
        sa.Index("ix_users_organization_search", "organization_id", "search", "id"),
        sa.Index("ix_users_organization_surname_key", "organization_id", "surname_key"),
        sa.Index("ix_users_organization_name_key", "organization_id", "name_key"),
        sa.Index("ix_users_organization_position_key", "organization_id", "position_key"),
        sa.Index("ix_users_organization_seq", "organization_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    name: Mapped[str] = mapped_column(sa.String(200))
    short_name: Mapped[str] = mapped_column(sa.String(80))
    # The directory's parts of the name; `name` and `short_name` are derived from them (domain/names.py).
    surname: Mapped[str | None] = mapped_column(sa.String(100))
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    patronymic: Mapped[str | None] = mapped_column(sa.String(100))
    position: Mapped[str | None] = mapped_column(sa.String(200))
    # Normalised keys (lower case, ё as е): "surname first patronymic", each part alone, the position.
    search: Mapped[str | None] = mapped_column(SearchKey)
    surname_key: Mapped[str | None] = mapped_column(SearchKey)
    name_key: Mapped[str | None] = mapped_column(SearchKey)
    position_key: Mapped[str | None] = mapped_column(SearchKey)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    # Space-separated role words; a user rarely has more than two.
    role_list: Mapped[str] = mapped_column("roles", sa.String(100), default="employee")
    is_active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str] = mapped_column(sa.String(16), default="ru")
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Moscow")
    # Quiet hours as "HH:MM" in the user's time zone; None means the organization's (equal times: none at all).
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

    @validates("role_list")
    def _known_roles(self, _key: str, value: str) -> str:
        """Role words separated by spaces (commas and semicolons read as such): an unknown word is refused
        rather than kept as one bogus role ("clerk,admin" is clerk and admin)."""
        words = list(dict.fromkeys(value.replace(",", " ").replace(";", " ").split()))
        unknown = [w for w in words if w not in ROLES]
        if unknown or not words:
            raise ValueError(f"roles must be some of {', '.join(ROLES)}; not {', '.join(unknown) or 'none'}")
        return " ".join(words)

    @property
    def roles(self) -> list[str]:
        return self.role_list.split()

    def has_role(self, role: str) -> bool:
        return role in self.role_list.split()
