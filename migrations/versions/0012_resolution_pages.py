"""a document's resolutions read a page at a time: indexed by (document_id, id)

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_resolutions_document_id_id", "resolutions", ["document_id", "id"])
    op.drop_index("ix_resolutions_document_id", table_name="resolutions")


def downgrade():
    op.create_index("ix_resolutions_document_id", "resolutions", ["document_id"])
    op.drop_index("ix_resolutions_document_id_id", table_name="resolutions")
