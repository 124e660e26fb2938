"""signature time-stamps: when a TSA's token was attached to a signature (CAdES-T)

The token itself lives in the signature's .p7s (unsigned attribute id-aa-signatureTimeStampToken);
the column says which signatures have one, and the genTime it carries. Retries go through `jobs`.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signatures") as batch:
        batch.add_column(sa.Column("timestamped_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signatures") as batch:
        batch.drop_column("timestamped_at")
