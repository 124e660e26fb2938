"""execution control: controlled and information resolutions, reports, returns, extension requests

Existing tasks keep their state (done stays done, open stays open); existing issued resolutions with
executors and a deadline become controlled by their author, and those of them whose tasks are all
done are executed.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD = {"open": "status = 'open' AND NOT removed",
       "due": "status = 'open' AND deadline IS NOT NULL AND NOT removed",
       "action": "kind IN ('review', 'resolution', 'approval', 'task') AND NOT removed"}
NEW = {"open": "status <> 'done' AND NOT removed",
       "due": "status <> 'done' AND deadline IS NOT NULL AND NOT removed",
       "action": "kind IN ('review', 'resolution', 'approval', 'task', 'report', 'extension') AND NOT removed"}


USER_REFERENCES = (("resolutions", "controller_id"), ("tasks", "controller_id"), ("tasks", "reviewer_id"))


def _add_user_reference(table: str, column: str) -> None:
    """A nullable column referring to users, added in place (SQLite takes the reference inline)."""
    name = f"fk_{table}_{column}_users"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {name} REFERENCES users (id)")
    else:
        op.add_column(table, sa.Column(column, BigId, nullable=True))
        op.create_foreign_key(name, table, "users", [column], ["id"])


def _views(where: dict) -> None:
    for name in ("ix_tasks_open", "ix_tasks_due", "ix_tasks_open_deadline"):
        op.drop_index(name, table_name="tasks")
    op.drop_index("ix_inbox_action", table_name="inbox_items")
    for name, columns, kind in (("ix_tasks_open", ["executor_id", "created_at", "id"], "open"),
                                ("ix_tasks_due", ["executor_id", "created_at", "id"], "due"),
                                ("ix_tasks_open_deadline", ["executor_id", "deadline"], "due")):
        op.create_index(name, "tasks", columns, postgresql_where=sa.text(where[kind]),
                        sqlite_where=sa.text(where[kind]))
    op.create_index("ix_inbox_action", "inbox_items", ["user_id", "received_at", "id"],
                    postgresql_where=sa.text(where["action"]), sqlite_where=sa.text(where["action"]))


def upgrade():
    # Columns are added in place, never by rebuilding a table: on SQLite a rebuild drops the old table,
    # and its ON DELETE CASCADE children (tasks, executors) would go with it.
    for table, column in (("resolutions", sa.Column("control", sa.Boolean(), nullable=True)),
                          ("resolutions", sa.Column("withdraw_reason", sa.Text(), nullable=True)),
                          ("resolutions", sa.Column("closed_at", models.base.UTCDateTime(), nullable=True)),
                          ("tasks", sa.Column("control", sa.Boolean(), nullable=False, server_default=sa.false())),
                          ("tasks", sa.Column("responsible", sa.Boolean(), nullable=False, server_default=sa.true())),
                          ("tasks", sa.Column("reported_at", models.base.UTCDateTime(), nullable=True)),
                          ("tasks", sa.Column("returned", sa.Boolean(), nullable=False, server_default=sa.false())),
                          ("tasks", sa.Column("withdrawn", sa.Boolean(), nullable=False, server_default=sa.false()))):
        op.add_column(table, column)
    for table, column in USER_REFERENCES:
        _add_user_reference(table, column)
    op.create_index("ix_resolutions_controller_id", "resolutions", ["controller_id"])
    op.create_index("ix_tasks_controller", "tasks", ["controller_id", "created_at", "id"])
    op.create_index("ix_tasks_reported", "tasks", ["reviewer_id", "reported_at", "id"],
                    postgresql_where=sa.text("status = 'reported'"), sqlite_where=sa.text("status = 'reported'"))
    op.create_index("ix_tasks_controlled_due", "tasks", ["controller_id", "deadline", "id"],
                    postgresql_where=sa.text(NEW["open"]), sqlite_where=sa.text(NEW["open"]))
    _views(NEW)

    op.create_table(
        "task_reports",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("task_id", BigId, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("author_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=True),
        sa.Column("decided_by_id", BigId, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
    )
    op.create_index("ix_task_reports_task_id", "task_reports", ["task_id"])
    op.create_table(
        "report_files",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("report_id", BigId, sa.ForeignKey("task_reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(127), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_report_files_report_id", "report_files", ["report_id"])
    op.create_table(
        "extension_requests",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("task_id", BigId, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("requester_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("decider_id", BigId, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("old_deadline", models.base.UTCDateTime(), nullable=True),
        sa.Column("deadline", models.base.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("new_deadline", models.base.UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("decided_at", models.base.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_extension_requests_task_id", "extension_requests", ["task_id"])
    op.create_index("uq_extension_requests_pending", "extension_requests", ["task_id"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_index("ix_extension_requests_decider", "extension_requests", ["decider_id", "created_at", "id"],
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    # What existed: issued resolutions with executors and a deadline are controlled by their author;
    # the others are for information. Tasks follow their resolution; the first executor is responsible.
    op.execute("UPDATE resolutions SET control = (deadline IS NOT NULL AND EXISTS (SELECT 1 FROM "
               "resolution_executors WHERE resolution_executors.resolution_id = resolutions.id)), "
               "controller_id = author_id WHERE status = 'issued'")
    op.execute("UPDATE tasks SET control = (SELECT resolutions.control FROM resolutions "
               "WHERE resolutions.id = tasks.resolution_id), controller_id = (SELECT resolutions.controller_id "
               "FROM resolutions WHERE resolutions.id = tasks.resolution_id), responsible = (tasks.executor_id = "
               "(SELECT resolution_executors.user_id FROM resolution_executors WHERE "
               "resolution_executors.resolution_id = tasks.resolution_id ORDER BY resolution_executors.position "
               "LIMIT 1))")
    op.execute("UPDATE tasks SET responsible = " + sa.true().compile(dialect=op.get_bind().dialect).string
               + " WHERE responsible IS NULL")
    op.execute("UPDATE tasks SET control = " + sa.false().compile(dialect=op.get_bind().dialect).string
               + " WHERE control IS NULL")
    op.execute("UPDATE resolutions SET status = 'executed', closed_at = (SELECT max(tasks.completed_at) FROM "
               "tasks WHERE tasks.resolution_id = resolutions.id) WHERE status = 'issued' AND control AND NOT EXISTS "
               "(SELECT 1 FROM tasks WHERE tasks.resolution_id = resolutions.id AND tasks.status <> 'done') "
               "AND EXISTS (SELECT 1 FROM tasks WHERE tasks.resolution_id = resolutions.id)")


def downgrade():
    op.execute("UPDATE resolutions SET status = 'issued' WHERE status IN ('executed', 'withdrawn')")
    op.execute("UPDATE tasks SET status = 'open' WHERE status = 'reported'")
    op.drop_table("extension_requests")
    op.drop_table("report_files")
    op.drop_table("task_reports")
    _views(OLD)
    op.drop_index("ix_tasks_reported", table_name="tasks")
    op.drop_index("ix_tasks_controlled_due", table_name="tasks")
    op.drop_index("ix_tasks_controller", table_name="tasks")
    op.drop_index("ix_resolutions_controller_id", table_name="resolutions")
    # Dropped in place, as they were added (SQLite drops a column with an inline reference).
    for table, columns in (("tasks", ("withdrawn", "returned", "reported_at", "reviewer_id", "controller_id",
                                      "responsible", "control")),
                           ("resolutions", ("closed_at", "withdraw_reason", "controller_id", "control"))):
        for column in columns:
            op.drop_column(table, column)
