"""never lost: leases by database clock, heartbeats, push event ids

Heartbeats are kept per process and per loop: a loop row names its process, and each row says
how long it may stay silent before /readyz calls it stalled (a loop) or gone (a process).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("process_heartbeats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("process", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("silence_s", sa.Integer(), server_default="30", nullable=False))
        batch_op.add_column(sa.Column("state", sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table("process_heartbeats", schema=None) as batch_op:
        batch_op.drop_column("state")
        batch_op.drop_column("silence_s")
        batch_op.drop_column("process")
