"""dictated reports: a voice note of a task (how its transcript is sent, the files uploaded with it), and
the report it became

Revision ID: 0025
Revises: 0022
"""
import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0022"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _add_reference(table: str, column: str, target: str) -> None:
    """A nullable column referring to `target`, added in place (SQLite takes the reference inline)."""
    name = f"fk_{table}_{column}_{target}"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES {target} (id)")
    else:
        op.add_column(table, sa.Column(column, BigId, nullable=True))
        op.create_foreign_key(name, table, target, [column], ["id"])


def upgrade():
    # Columns are added in place, never by rebuilding a table (see 0015).
    _add_reference("voice_notes", "task_id", "tasks")
    op.add_column("voice_notes", sa.Column("send", sa.String(16), nullable=True))
    op.add_column("voice_notes", sa.Column("files", sa.JSON(), nullable=True))
    op.create_index("ix_voice_notes_task_id", "voice_notes", ["task_id"])
    _add_reference("task_reports", "voice_note_id", "voice_notes")


def downgrade():
    op.drop_column("task_reports", "voice_note_id")
    op.drop_index("ix_voice_notes_task_id", table_name="voice_notes")
    op.drop_column("voice_notes", "files")
    op.drop_column("voice_notes", "send")
    op.drop_column("voice_notes", "task_id")
