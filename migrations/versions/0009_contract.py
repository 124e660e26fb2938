"""the published contract: what app developers miss

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    # The organization decides whether issuing a resolution must be signed (as approval decisions are).
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("issue_requires_signature", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("issue_requires_signature")
