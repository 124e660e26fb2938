"""a voice note's resolution found by an index, not a scan of every resolution

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

DICTATED = sa.text("voice_note_id IS NOT NULL")


def upgrade():
    op.create_index("ix_resolutions_voice_note_id", "resolutions", ["voice_note_id"],
                    postgresql_where=DICTATED, sqlite_where=DICTATED)


def downgrade():
    op.drop_index("ix_resolutions_voice_note_id", table_name="resolutions")
