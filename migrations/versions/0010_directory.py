"""the directory: people's names and positions, unit sync

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SearchKey = sa.String(300).with_variant(sa.String(300, collation="C"), "postgresql")
USER_INDEXES = {
    "ix_users_organization_search": ["organization_id", "search", "id"],
    "ix_users_organization_surname_key": ["organization_id", "surname_key"],
    "ix_users_organization_name_key": ["organization_id", "name_key"],
    "ix_users_organization_position_key": ["organization_id", "position_key"],
    "ix_users_organization_seq": ["organization_id", "seq"],
}


def upgrade():
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False, server_default="Europe/Moscow"))
        batch.add_column(sa.Column("deadline_day_off", sa.String(8), nullable=False, server_default="before"))
    with op.batch_alter_table("units") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_units_organization_seq", "units", ["organization_id", "seq"])
    with op.batch_alter_table("users") as batch:
        for name in ("surname", "first_name", "patronymic"):
            batch.add_column(sa.Column(name, sa.String(100), nullable=True))
        batch.add_column(sa.Column("position", sa.String(200), nullable=True))
        for name in ("search", "surname_key", "name_key", "position_key"):
            batch.add_column(sa.Column(name, SearchKey, nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=False, server_default="0"))
    for name, columns in USER_INDEXES.items():
        op.create_index(name, "users", columns)
    with op.batch_alter_table("voice_notes") as batch:
        batch.add_column(sa.Column("suggestions", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("voice_notes") as batch:
        batch.drop_column("suggestions")
    for name in USER_INDEXES:
        op.drop_index(name, table_name="users")
    with op.batch_alter_table("users") as batch:
        for name in ("seq", "position_key", "name_key", "surname_key", "search", "position", "patronymic",
                     "first_name", "surname"):
            batch.drop_column(name)
    op.drop_index("ix_units_organization_seq", table_name="units")
    with op.batch_alter_table("units") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("deadline_day_off")
        batch.drop_column("timezone")
