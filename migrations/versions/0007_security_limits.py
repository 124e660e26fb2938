"""security: shared login limits, audit seals, append-only audit, disabling ends sessions

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# PostgreSQL: audit entries are never changed or removed. The one UPDATE allowed is sealing an
# entry written before seals existed (`flask audit seal`), and it may change nothing else.
PG_AUDIT_APPEND_ONLY = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seal IS NULL AND NEW.seal IS NOT NULL
            AND (to_jsonb(NEW) - 'seal') = (to_jsonb(OLD) - 'seal') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""

# Disabling a user ends its sessions, whoever or whatever flips is_active, so that enabling it
# again brings none of them back.
PG_DISABLE_ENDS_SESSIONS = """
CREATE FUNCTION users_disable_ends_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_sessions SET revoked_at = now() AT TIME ZONE 'UTC', revoked_reason = 'user_disabled'
        WHERE user_id = NEW.id AND revoked_at IS NULL;
    RETURN NEW;
END $$;
CREATE TRIGGER users_disable_ends_sessions AFTER UPDATE OF is_active ON users
    FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active) EXECUTE FUNCTION users_disable_ends_sessions();
"""
SQLITE_DISABLE_ENDS_SESSIONS = """
CREATE TRIGGER users_disable_ends_sessions AFTER UPDATE OF is_active ON users
WHEN OLD.is_active AND NOT NEW.is_active
BEGIN
    UPDATE auth_sessions SET revoked_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), revoked_reason = 'user_disabled'
        WHERE user_id = NEW.id AND revoked_at IS NULL;
END
"""


def _sqlite_retype(table: str, column: str, old: str, new: str) -> None:
    """Change a column's declared type on SQLite without rebuilding the table.

    SQLite ignores VARCHAR lengths, so only the schema text changes (the procedure of SQLite's
    ALTER TABLE documentation for changes that leave the stored data as it is). Rebuilding the
    table instead would, with foreign keys on, cascade-delete the push deliveries of every device.
    """
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
    conn.exec_driver_sql("PRAGMA writable_schema=ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = ?",
        (f"{column} {old}", f"{column} {new}", table))
    conn.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "login_failures",
        sa.Column("id", Id, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_address_at", "login_failures", ["address", "at"])
    op.create_index("ix_login_failures_username_at", "login_failures", ["username", "at"])
    op.create_index(op.f("ix_login_failures_at"), "login_failures", ["at"])
    op.add_column("audit_events", sa.Column("seal", sa.String(length=64), nullable=True))
    op.add_column("audit_heads", sa.Column("seal", sa.String(length=64), nullable=True))
    # Push tokens are printable ASCII; 1024 keeps every key within PostgreSQL's unique-index limit.
    if dialect == "postgresql":
        op.alter_column("devices", "token", type_=sa.String(length=1024), existing_type=sa.String(length=4096),
                        existing_nullable=False)
        op.execute(PG_AUDIT_APPEND_ONLY)
        op.execute(PG_DISABLE_ENDS_SESSIONS)
    else:
        _sqlite_retype("devices", "token", "VARCHAR(4096)", "VARCHAR(1024)")
        op.execute(SQLITE_DISABLE_ENDS_SESSIONS)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER users_disable_ends_sessions ON users")
        op.execute("DROP FUNCTION users_disable_ends_sessions()")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
        op.alter_column("devices", "token", type_=sa.String(length=4096), existing_type=sa.String(length=1024),
                        existing_nullable=False)
    else:
        # IF EXISTS: a later migration that rebuilt the users table on SQLite (batch mode) took it along.
        op.execute("DROP TRIGGER IF EXISTS users_disable_ends_sessions")
        _sqlite_retype("devices", "token", "VARCHAR(1024)", "VARCHAR(4096)")
    with op.batch_alter_table("audit_heads") as batch:
        batch.drop_column("seal")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("seal")
    op.drop_index(op.f("ix_login_failures_at"), table_name="login_failures")
    op.drop_index("ix_login_failures_username_at", table_name="login_failures")
    op.drop_index("ix_login_failures_address_at", table_name="login_failures")
    op.drop_table("login_failures")
