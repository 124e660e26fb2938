"""voice: organization resolution templates and each user's dictation mode

Revision ID: 0004
Revises: 0003
Written by hand: voice_notes and jobs already exist in 0001; this adds only the phrase-list settings.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "resolution_templates",
        sa.Column("id", Id, primary_key=True),
        sa.Column("organization_id", Id, sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_resolution_templates_organization_id", "resolution_templates", ["organization_id"])
    op.create_table(
        "voice_preferences",
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("phrase_mode", sa.String(10), nullable=False),
    )


def downgrade():
    op.drop_table("voice_preferences")
    op.drop_index("ix_resolution_templates_organization_id", "resolution_templates")
    op.drop_table("resolution_templates")
