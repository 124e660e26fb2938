"""the overdue tasks view walks only open tasks that have a deadline

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

DUE = sa.text("status = 'open' AND deadline IS NOT NULL AND NOT removed")


def upgrade():
    op.create_index("ix_tasks_due", "tasks", ["executor_id", "created_at", "id"], postgresql_where=DUE,
                    sqlite_where=DUE)


def downgrade():
    op.drop_index("ix_tasks_due", table_name="tasks")
