"""push deliveries: per-device state of each outbox message

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "push_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("outbox_id", BIG_ID, nullable=False),
        sa.Column("device_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("updated_at", models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name=op.f("fk_push_deliveries_outbox_id_outbox"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_push_deliveries_device_id_devices"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_deliveries")),
        sa.UniqueConstraint("outbox_id", "device_id", name=op.f("uq_push_deliveries_outbox_id_device_id")),
    )
    op.create_index(op.f("ix_push_deliveries_device_id"), "push_deliveries", ["device_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_push_deliveries_device_id"), table_name="push_deliveries")
    op.drop_table("push_deliveries")
