"""Certificate revocation lists kept as issued or fetched: the organization CAs' own and external CAs'."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow


class RevocationList(db.Model):
    """One CRL, byte for byte. Every CRL an organization CA issues is kept, and every one fetched from an
    external CA's distribution point: the one current at a signature's time goes into its evidence."""

    __tablename__ = "revocation_lists"
    __table_args__ = (sa.Index("ix_revocation_lists_issuer_this_update", "issuer", "this_update"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Hex SHA-256 of the issuing CA certificate (DER): the CRL's signature was checked against it.
    issuer: Mapped[str] = mapped_column(sa.String(64))
    url: Mapped[str | None] = mapped_column(sa.Text)  # where it was fetched; None for our own CAs' CRLs
    this_update: Mapped[datetime]
    next_update: Mapped[datetime | None]
    der: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
