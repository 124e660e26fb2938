"""Digital signatures and approval routes: organization CAs, device keys, signing sessions, signatures,
approvals with their stages and decisions."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import BigId, db, utcnow
from .documents import Document
from .org import User

SUBJECT_TYPES = ("approval", "resolution")
STAGE_MODES = ("sequential", "parallel")
APPROVAL_STATES = ("in_progress", "approved", "rejected")
DECISIONS = ("approve", "reject")


class OrganizationCA(db.Model):
    """An organization's signing CA; its key is stored only encrypted with CA_PASSPHRASE."""

    __tablename__ = "organization_cas"

    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(sa.Text)
    key_pem: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SigningKey(db.Model):
    """A device key of a user, known to us by the certificate our CA issued for it."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    certificate_pem: Mapped[str] = mapped_column(sa.Text)
    # Hex of the certificate serial: 20 random bytes do not fit a BIGINT.
    serial: Mapped[str] = mapped_column(sa.String(40), unique=True)
    not_after: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class SigningSession(db.Model):
    """The server's half of a two-step signature: the exact content and the attributes the device signs."""

    __tablename__ = "signing_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    key_id: Mapped[int] = mapped_column(sa.ForeignKey("signing_keys.id"))
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"))
    subject_type: Mapped[str] = mapped_column(sa.String(12))
    subject_id: Mapped[int] = mapped_column(sa.BigInteger)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    data_to_sign: Mapped[bytes] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    key: Mapped[SigningKey] = relationship()


class Signature(db.Model):
    """A verified detached CMS signature as it was received, kept byte for byte."""

    __tablename__ = "signatures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    # One signature per session: a replayed session can never make a second one.
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("signing_sessions.id"), unique=True)
    signer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    key_id: Mapped[int] = mapped_column(sa.ForeignKey("signing_keys.id"))
    subject_type: Mapped[str] = mapped_column(sa.String(12))
    subject_id: Mapped[int] = mapped_column(sa.BigInteger)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    p7s: Mapped[bytes] = mapped_column(sa.LargeBinary)
    version_hash: Mapped[str] = mapped_column(sa.String(64))
    # When the server received it: the trusted time at which the certificate is judged.
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The genTime of the signature time-stamp in p7s (CAdES-T); None until a TSA's token is attached.
    timestamped_at: Mapped[datetime | None]
    # A deputy's signature in a principal's name: the principal (the signed content names them too).
    acting_for_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    signer: Mapped[User] = relationship(foreign_keys=[signer_id])
    key: Mapped[SigningKey] = relationship()


class Approval(db.Model):
    """One round of a document's approval route; a rejected round is followed by a new one."""

    __tablename__ = "approvals"
    __table_args__ = (sa.UniqueConstraint("document_id", "round"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(12), default="in_progress")
    created_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    document: Mapped[Document] = relationship()
    stages: Mapped[list["ApprovalStage"]] = relationship(
        order_by="ApprovalStage.position", cascade="all, delete-orphan", lazy="selectin"
    )
    decisions: Mapped[list["ApprovalDecision"]] = relationship(
        order_by="ApprovalDecision.id", cascade="all, delete-orphan", lazy="selectin"
    )


approval_stage_approvers = sa.Table(
    "approval_stage_approvers",
    db.metadata,
    sa.Column("stage_id", BigId, sa.ForeignKey("approval_stages.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", BigId, sa.ForeignKey("users.id"), primary_key=True, index=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
)


class ApprovalStage(db.Model):
    """A step of the route: its approvers decide one after another (sequential) or all at once (parallel)."""

    __tablename__ = "approval_stages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    approval_id: Mapped[int] = mapped_column(sa.ForeignKey("approvals.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    mode: Mapped[str] = mapped_column(sa.String(10))

    approvers: Mapped[list[User]] = relationship(
        secondary=approval_stage_approvers, order_by=approval_stage_approvers.c.position, lazy="selectin"
    )


class ApprovalDecision(db.Model):
    """An approver's decision; a new version of the document cancels the round's decisions."""

    __tablename__ = "approval_decisions"
    __table_args__ = (
        # At most one standing decision per approver and stage, whatever races the handlers lose.
        sa.Index("uq_approval_decisions_standing", "stage_id", "approver_id", unique=True,
                 sqlite_where=sa.text("cancelled = 0"), postgresql_where=sa.text("NOT cancelled")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    approval_id: Mapped[int] = mapped_column(sa.ForeignKey("approvals.id", ondelete="CASCADE"), index=True)
    stage_id: Mapped[int] = mapped_column(sa.ForeignKey("approval_stages.id", ondelete="CASCADE"))
    approver_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(sa.String(8))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    signature_id: Mapped[int | None] = mapped_column(sa.ForeignKey("signatures.id"), unique=True)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled: Mapped[bool] = mapped_column(default=False)
    # Decided by a deputy in the approver's name: the deputy (`approver_id` stays the approver due).
    acting_deputy_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    approver: Mapped[User] = relationship(lazy="joined", foreign_keys=[approver_id])
