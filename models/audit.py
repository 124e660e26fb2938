"""An append-only audit trail, hash-chained per organization so that tampering shows."""
import hashlib
import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow

GENESIS = "0" * 64


class AuditHead(db.Model):
    """The last link of an organization's chain; locking it serialises appends."""

    __tablename__ = "audit_heads"

    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS)


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.UniqueConstraint("organization_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(40))
    object_type: Mapped[str] = mapped_column(sa.String(30))
    object_id: Mapped[str] = mapped_column(sa.String(40))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    def compute_hash(self) -> str:
        """SHA-256 over the previous link and this entry's canonical JSON."""
        body = {
            "organization_id": self.organization_id,
            "seq": self.seq,
            "actor_id": self.actor_id,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "details": self.details,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256((self.prev_hash + canon).encode()).hexdigest()


def record(organization_id: int, actor_id: int | None, action: str, obj_type: str, obj_id, **details) -> AuditEvent:
    """Append an entry to the organization's chain (committed with the caller's change)."""
    head = db.session.scalar(
        sa.select(AuditHead).where(AuditHead.organization_id == organization_id).with_for_update()
    )
    if head is None:
        head = AuditHead(organization_id=organization_id, seq=0, hash=GENESIS)
        db.session.add(head)
    event = AuditEvent(
        organization_id=organization_id,
        seq=head.seq + 1,
        actor_id=actor_id,
        action=action,
        object_type=obj_type,
        object_id=str(obj_id),
        details=details,
        created_at=utcnow(),
        prev_hash=head.hash,
    )
    event.hash = event.compute_hash()
    head.seq, head.hash = event.seq, event.hash
    db.session.add(event)
    return event


def verify_chain(organization_id: int) -> AuditEvent | None:
    """Walk the chain in order; return the first entry whose link is broken, or None."""
    prev = GENESIS
    rows = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.organization_id == organization_id).order_by(AuditEvent.seq)
    )
    expected_seq = 1
    for event in rows:
        if event.seq != expected_seq or event.prev_hash != prev or event.compute_hash() != event.hash:
            return event
        prev, expected_seq = event.hash, expected_seq + 1
    head = db.session.get(AuditHead, organization_id)
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        # Entries were cut off the end: report the head that points past the last entry.
        return AuditEvent(organization_id=organization_id, seq=head.seq, hash=head.hash, prev_hash=prev,
                          action="(missing)", object_type="", object_id="")
    return None
