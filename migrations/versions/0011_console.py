"""the review console: corrections learned per executive

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "learned_corrections",
        sa.Column("id", Id, primary_key=True),
        sa.Column("executive_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("heard", sa.String(200), nullable=False),
        sa.Column("meant", sa.String(200), nullable=False),
        sa.Column("times", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("executive_id", "heard", "meant",
                            name="uq_learned_corrections_executive_id_heard_meant"),
    )
    op.create_table(
        "correction_sources",
        sa.Column("resolution_id", Id, sa.ForeignKey("resolutions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("executive_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pairs", sa.JSON(), nullable=False),
    )
    op.create_index("ix_correction_sources_executive_id", "correction_sources", ["executive_id"])
    op.add_column("voice_notes", sa.Column("corrected_words", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("voice_notes") as batch:
        batch.drop_column("corrected_words")
    op.drop_index("ix_correction_sources_executive_id", "correction_sources")
    op.drop_table("correction_sources")
    op.drop_table("learned_corrections")
