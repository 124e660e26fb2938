"""signing: organization CAs, device keys, signing sessions, signatures, approval routes

Revision ID: 0002
Revises: 0001
Written by hand: it creates only the tables of models/signing.py.
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = models.base.UTCDateTime


def _id() -> sa.Column:
    return sa.Column("id", Id, primary_key=True)


def upgrade():
    op.create_table(
        "organization_cas",
        sa.Column("organization_id", Id, sa.ForeignKey("organizations.id"), primary_key=True),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", Time(), nullable=False),
    )
    op.create_table(
        "signing_keys",
        _id(),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False, unique=True),
        sa.Column("not_after", Time(), nullable=False),
        sa.Column("created_at", Time(), nullable=False),
        sa.Column("revoked_at", Time(), nullable=True),
    )
    op.create_table(
        "signing_sessions",
        _id(),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False, index=True),
        sa.Column("key_id", Id, sa.ForeignKey("signing_keys.id"), nullable=False),
        sa.Column("document_id", Id, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject_type", sa.String(12), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("data_to_sign", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", Time(), nullable=False),
        sa.Column("expires_at", Time(), nullable=False),
        sa.Column("used_at", Time(), nullable=True),
    )
    op.create_table(
        "signatures",
        _id(),
        sa.Column("document_id", Id, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("session_id", Id, sa.ForeignKey("signing_sessions.id"), nullable=False, unique=True),
        sa.Column("signer_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("key_id", Id, sa.ForeignKey("signing_keys.id"), nullable=False),
        sa.Column("subject_type", sa.String(12), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("p7s", sa.LargeBinary(), nullable=False),
        sa.Column("version_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", Time(), nullable=False),
    )
    op.create_table(
        "approvals",
        _id(),
        sa.Column("document_id", Id, sa.ForeignKey("documents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_by", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", Time(), nullable=False),
        sa.Column("finished_at", Time(), nullable=True),
        sa.UniqueConstraint("document_id", "round"),
    )
    op.create_table(
        "approval_stages",
        _id(),
        sa.Column("approval_id", Id, sa.ForeignKey("approvals.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
    )
    op.create_table(
        "approval_stage_approvers",
        sa.Column("stage_id", Id, sa.ForeignKey("approval_stages.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), primary_key=True, index=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "approval_decisions",
        _id(),
        sa.Column("approval_id", Id, sa.ForeignKey("approvals.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("stage_id", Id, sa.ForeignKey("approval_stages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("approver_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("signature_id", Id, sa.ForeignKey("signatures.id"), nullable=True, unique=True),
        sa.Column("decided_at", Time(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
    )
    op.create_index("uq_approval_decisions_standing", "approval_decisions", ["stage_id", "approver_id"], unique=True,
                    sqlite_where=sa.text("cancelled = 0"), postgresql_where=sa.text("NOT cancelled"))


def downgrade():
    op.drop_index("uq_approval_decisions_standing", table_name="approval_decisions")
    for table in ("approval_decisions", "approval_stage_approvers", "approval_stages", "approvals", "signatures",
                  "signing_sessions", "signing_keys", "organization_cas"):
        op.drop_table(table)
