"""assistants act for executives: drafts written for them, rejected drafts, issues in their name

An executive's grant to an assistant who serves them (may the assistant issue in their name), and on
each resolution the assistant who drafted it and the one who issued it, and a reject's comment.

Revision ID: 0020
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0020"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
USER_REFERENCES = ("drafted_by_id", "issued_by_id")


def upgrade():
    # Added in place, never by rebuilding the table (its ON DELETE CASCADE children would go with it).
    op.add_column("resolutions", sa.Column("reject_comment", sa.Text(), nullable=True))
    for column in USER_REFERENCES:
        name = f"fk_resolutions_{column}_users"
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE resolutions ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES users (id)")
        else:
            op.add_column("resolutions", sa.Column(column, BigId, nullable=True))
            op.create_foreign_key(name, "resolutions", "users", [column], ["id"])
    op.create_index("ix_resolutions_drafted_by", "resolutions", ["drafted_by_id", "created_at", "id"],
                    postgresql_where=sa.text("drafted_by_id IS NOT NULL"),
                    sqlite_where=sa.text("drafted_by_id IS NOT NULL"))
    op.create_table(
        "assistant_rights",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("executive_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("assistant_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("may_issue", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("set_by_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("set_at", models.base.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("executive_id", "assistant_id", name="uq_assistant_rights_pair"),
    )
    op.create_index("ix_assistant_rights_assistant_id", "assistant_rights", ["assistant_id"])


def downgrade():
    # A rejected draft was a state the older schema lacks: it is a draft there again.
    op.execute("UPDATE resolutions SET status = 'draft' WHERE status = 'rejected'")
    op.drop_index("ix_assistant_rights_assistant_id", table_name="assistant_rights")
    op.drop_table("assistant_rights")
    op.drop_index("ix_resolutions_drafted_by", table_name="resolutions")
    # Dropped in place, as they were added (SQLite drops a column with an inline reference).
    for column in ("reject_comment", *USER_REFERENCES):
        op.drop_column("resolutions", column)
