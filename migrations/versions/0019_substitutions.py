"""acting for others: substitutions, and who acted for whom on resolutions, decisions, signatures and
inbox lines

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# resolutions.issued_by_id (who issued in the author's name) came with the assistants' drafts (0020).
USER_REFERENCES = (("resolutions", "acting_for_id"),
                   ("approval_decisions", "acting_deputy_id"), ("signatures", "acting_for_id"),
                   ("inbox_items", "for_user_id"))


def _add_user_reference(table: str, column: str) -> None:
    """A nullable column referring to users, added in place (SQLite takes the reference inline)."""
    name = f"fk_{table}_{column}_users"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES users (id)")
    else:
        op.add_column(table, sa.Column(column, BigId, nullable=True))
        op.create_foreign_key(name, table, "users", [column], ["id"])


def upgrade():
    # Columns are added in place, never by rebuilding a table (see 0015).
    for table, column in USER_REFERENCES:
        _add_user_reference(table, column)
    op.add_column("inbox_items", sa.Column("for_name", sa.String(80), nullable=True))
    op.create_index("ix_inbox_for", "inbox_items", ["for_user_id", "document_id"],
                    postgresql_where=sa.text("for_user_id IS NOT NULL"),
                    sqlite_where=sa.text("for_user_id IS NOT NULL"))
    op.create_table(
        "substitutions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("organization_id", BigId, sa.ForeignKey("organizations.id"), nullable=False),
        sa.Column("principal_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("deputy_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("starts_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("ends_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("inbox", sa.Boolean(), nullable=False),
        sa.Column("resolutions", sa.Boolean(), nullable=False),
        sa.Column("approvals", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("ended_by_id", BigId, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("lines_state", sa.String(10), nullable=False),
    )
    op.create_index("ix_substitutions_deputy", "substitutions", ["deputy_id", "ends_at"])
    op.create_index("ix_substitutions_principal", "substitutions", ["principal_id", "ends_at"])
    op.create_index("ix_substitutions_lines", "substitutions", ["lines_state", "starts_at"])


def downgrade():
    op.drop_table("substitutions")
    op.drop_index("ix_inbox_for", table_name="inbox_items")
    # Dropped in place, as they were added (SQLite drops a column with an inline reference).
    op.drop_column("inbox_items", "for_name")
    for table, column in reversed(USER_REFERENCES):
        op.drop_column(table, column)
