"""revocation lists: every CRL our CAs issue and every one fetched from an external CA

Revision ID: 0022
Revises: 0023
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0022"
down_revision = "0023"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = models.base.UTCDateTime


def upgrade():
    op.create_table(
        "revocation_lists",
        sa.Column("id", Id, primary_key=True),
        sa.Column("issuer", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("this_update", Time(), nullable=False),
        sa.Column("next_update", Time(), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("fetched_at", Time(), nullable=False),
    )
    op.create_index("ix_revocation_lists_issuer_this_update", "revocation_lists", ["issuer", "this_update"])


def downgrade():
    op.drop_index("ix_revocation_lists_issuer_this_update", table_name="revocation_lists")
    op.drop_table("revocation_lists")
