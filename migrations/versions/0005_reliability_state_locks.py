"""never twice: locks, idempotent actions, refresh grace

An Idempotency-Key is claimed before its request runs (a row without an answer yet, carrying the
claim token), and a session remembers when it last rotated, so a retried refresh within the grace
period is answered with the same pair.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("idempotent_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim", sa.String(length=32), nullable=True))
        batch_op.alter_column("status", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("body", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.alter_column("content_type", existing_type=sa.String(length=100), nullable=True)
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rotated_at", models.base.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("rotated_at")
    # Claims still running have no answer to keep.
    op.execute("DELETE FROM idempotent_responses WHERE status IS NULL OR body IS NULL OR content_type IS NULL")
    with op.batch_alter_table("idempotent_responses", schema=None) as batch_op:
        batch_op.alter_column("content_type", existing_type=sa.String(length=100), nullable=False)
        batch_op.alter_column("body", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column("status", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("claim")
