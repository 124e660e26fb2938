"""the region on one PostgreSQL: partial indexes per view, sync positions by (change number, id)

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTION = "kind IN ('review', 'resolution', 'approval', 'task')"
INBOX_PARTIAL = {
    "ix_inbox_all": (["user_id", "received_at", "id"], "NOT removed"),
    "ix_inbox_unread": (["user_id", "received_at", "id"], "unread AND NOT removed"),
    "ix_inbox_action": (["user_id", "received_at", "id"], f"{ACTION} AND NOT removed"),
    "ix_inbox_due": (["user_id", "received_at", "id"], "due_at IS NOT NULL AND NOT removed"),
    "ix_inbox_due_at": (["user_id", "due_at"], "due_at IS NOT NULL AND NOT removed"),
}
TASK_PARTIAL = {
    "ix_tasks_open": (["executor_id", "created_at", "id"], "status = 'open' AND NOT removed"),
    "ix_tasks_done": (["executor_id", "created_at", "id"], "status = 'done' AND NOT removed"),
    "ix_tasks_open_deadline": (["executor_id", "deadline"], "status = 'open' AND deadline IS NOT NULL AND NOT removed"),
}


def _create(table, name, columns, where):
    op.create_index(name, table, columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def upgrade():
    op.drop_index("ix_inbox_user_received", table_name="inbox_items")
    op.drop_index("ix_inbox_user_seq", table_name="inbox_items")
    op.drop_index("ix_tasks_executor_status_created", table_name="tasks")
    op.drop_index("ix_tasks_executor_seq", table_name="tasks")
    for name, (columns, where) in INBOX_PARTIAL.items():
        _create("inbox_items", name, columns, where)
    for name, (columns, where) in TASK_PARTIAL.items():
        _create("tasks", name, columns, where)
    op.create_index("ix_inbox_user_seq", "inbox_items", ["user_id", "seq", "id"])
    op.create_index("ix_tasks_executor_seq", "tasks", ["executor_id", "seq", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL now numbers changes by transaction id. Numbers the old counter gave that lie at
        # or beyond today's transaction ids would look unsettled: put them below every transaction.
        for table in ("inbox_items", "tasks"):
            op.execute(f"UPDATE {table} SET seq = 1 WHERE seq >= pg_current_xact_id()::text::bigint")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        # The counter must again lie above every number given.
        op.execute("INSERT INTO change_counter (id, value) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")
        op.execute("UPDATE change_counter SET value = GREATEST(value, (SELECT coalesce(max(seq), 0) FROM inbox_items),"
                   " (SELECT coalesce(max(seq), 0) FROM tasks)) WHERE id = 1")
    op.drop_index("ix_tasks_executor_seq", table_name="tasks")
    op.drop_index("ix_inbox_user_seq", table_name="inbox_items")
    for name in TASK_PARTIAL:
        op.drop_index(name, table_name="tasks")
    for name in INBOX_PARTIAL:
        op.drop_index(name, table_name="inbox_items")
    op.create_index("ix_tasks_executor_seq", "tasks", ["executor_id", "seq"])
    op.create_index("ix_tasks_executor_status_created", "tasks", ["executor_id", "status", "created_at", "id"])
    op.create_index("ix_inbox_user_seq", "inbox_items", ["user_id", "seq"])
    op.create_index("ix_inbox_user_received", "inbox_items",
                    ["user_id", "removed", sa.literal_column("received_at DESC"), sa.literal_column("id DESC")])
