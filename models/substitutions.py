"""Substitutions: a deputy acting for a principal for a period, within some scopes."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import BigId, db, utcnow
from .org import User

SCOPES = ("inbox", "resolutions", "approvals")
# Where the principal's inbox lines stand in the deputy's inbox: not yet copied (the period has not
# begun), copied, or taken out again (the period is over).
LINES_STATES = ("pending", "copied", "withdrawn")


class Substitution(db.Model):
    """A deputy acts for a principal from `starts_at` until `ends_at` (or until ended early)."""

    __tablename__ = "substitutions"
    __table_args__ = (
        # The acting check and the inbox's copies: a deputy's substitutions, by when they end.
        sa.Index("ix_substitutions_deputy", "deputy_id", "ends_at"),
        # Overlap checks and the deliveries' fan-out: a principal's substitutions, by when they end.
        sa.Index("ix_substitutions_principal", "principal_id", "ends_at"),
        # The dispatcher's sweep: substitutions whose lines wait to be copied or withdrawn.
        sa.Index("ix_substitutions_lines", "lines_state", "starts_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    principal_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    deputy_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Flags rather than a list: the acting check reads one column.
    inbox: Mapped[bool] = mapped_column(default=False)
    resolutions: Mapped[bool] = mapped_column(default=False)
    approvals: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    lines_state: Mapped[str] = mapped_column(sa.String(10), default="pending")

    principal: Mapped[User] = relationship(foreign_keys=[principal_id], lazy="joined")
    deputy: Mapped[User] = relationship(foreign_keys=[deputy_id], lazy="joined")

    @property
    def scopes(self) -> list[str]:
        return [scope for scope in SCOPES if getattr(self, scope)]

    @property
    def running(self) -> bool:
        """Whether the deputy acts now."""
        now = utcnow()
        return self.ended_at is None and self.starts_at <= now < self.ends_at

    @property
    def until(self) -> datetime:
        """When it stops: its end, or earlier if it was ended."""
        return min(self.ends_at, self.ended_at) if self.ended_at else self.ends_at
