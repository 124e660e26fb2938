"""document pages: each stored file's page images and text, prepared by the documents worker

A `renditions` row per file content and declared type (processing, ready or failed, with the reason),
and a job in `jobs` for each. The files stored before this revision get theirs here, so every
attachment is prepared once the worker runs.

Revision ID: 0017
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0021"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "renditions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("mime", sa.String(127), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("sha256", "mime", name="uq_renditions_sha256_mime"),
    )
    # The files stored before: one rendition per distinct (content, type), and a job for each.
    from domain.pages import backfill
    backfill(op.get_bind())


def downgrade():
    op.execute("DELETE FROM jobs WHERE kind = 'document_pages'")
    op.drop_table("renditions")
