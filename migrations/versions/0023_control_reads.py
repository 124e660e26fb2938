"""control reads: an index for the executed view, and one the summary counts a person's tasks from

Revision ID: 0023
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0019"
branch_labels = None
depends_on = None

DONE = "status = 'done' AND NOT withdrawn AND NOT removed"


def upgrade():
    # The executed view walks a controller's done tasks, latest first, rather than sorting them all.
    op.create_index("ix_tasks_controlled_done", "tasks", ["controller_id", "completed_at", "id"],
                    postgresql_where=sa.text(DONE), sqlite_where=sa.text(DONE))
    if op.get_bind().dialect.name == "postgresql":
        # The summary: each executor's controlled tasks of the period, with every column their state
        # needs, read by an index-only scan (PostgreSQL's INCLUDE; SQLite reads the tasks).
        op.execute("CREATE INDEX ix_tasks_summary ON tasks (executor_id, created_at) INCLUDE (status, deadline, "
                   "reported_at, completed_at) WHERE control AND NOT removed AND NOT withdrawn")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_tasks_summary")
    op.drop_index("ix_tasks_controlled_done", table_name="tasks")
