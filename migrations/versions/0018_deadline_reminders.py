"""deadline reminders: each organization's reminder days, quiet hours and default term; reminders sent
once per (task, kind, deadline); controllers' daily digests; how far the scan has looked

The scan starts from the moment of this migration: deadlines that passed before it owe nothing.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNDIGESTED = sa.text("kind = 'overdue' AND digest_day IS NULL")


def upgrade():
    # Added in place (never a rebuild of organizations, which users refer to).
    for column in (sa.Column("remind_days", sa.String(40), nullable=False, server_default="3,1"),
                   sa.Column("quiet_from", sa.String(5), nullable=True),
                   sa.Column("quiet_to", sa.String(5), nullable=True),
                   sa.Column("default_term_months", sa.Integer(), nullable=False, server_default="1")):
        op.add_column("organizations", column)
    op.create_table(
        "task_reminders",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("task_id", BigId, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("deadline", models.base.UTCDateTime(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("controller_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("digest_day", sa.Date(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("task_id", "kind", "deadline", name="uq_task_reminders"),
    )
    op.create_index("ix_task_reminders_undigested", "task_reminders", ["controller_id", "id"],
                    postgresql_where=UNDIGESTED, sqlite_where=UNDIGESTED)
    op.create_table(
        "control_digests",
        sa.Column("controller_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
    )
    scans = op.create_table(
        "reminder_scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("scanned_until", models.base.UTCDateTime(), nullable=False),
        sa.Column("scanner", sa.String(120), nullable=True),
    )
    op.bulk_insert(scans, [{"id": 1, "scanned_until": models.base.utcnow(), "scanner": None}])


def downgrade():
    op.drop_table("reminder_scans")
    op.drop_table("control_digests")
    op.drop_index("ix_task_reminders_undigested", table_name="task_reminders")
    op.drop_table("task_reminders")
    for column in ("default_term_months", "quiet_to", "quiet_from", "remind_days"):
        op.drop_column("organizations", column)
