"""summary tables vacuumed close behind their writes: the summary reads task_months and the tasks by
index-only scans, which fetch from the table every row of a page that a write has taken out of the
visibility map until VACUUM puts it back. By default autovacuum waits for a fifth of a table to change:
63,000 changes of task_months (about a day of the region's reports and accepts) and 450,000 of tasks;
measured at full scale, a tenth of a ministry's month counts changed made its year summary's statement
40% slower until VACUUM (benchmarks/control.py, part `stale`). Now every 1,000 changes of task_months
and 20,000 of tasks. PostgreSQL only: SQLite has no such scans.

Revision ID: 0027
Revises: 0026
"""
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# Changes (updates and deletes, or inserts) that start an autovacuum of the table, whatever its size.
AFTER = {"task_months": 1000, "tasks": 20000}
OPTIONS = ("autovacuum_vacuum_scale_factor", "autovacuum_vacuum_threshold", "autovacuum_vacuum_insert_scale_factor",
           "autovacuum_vacuum_insert_threshold")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, changes in AFTER.items():
        op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = "
                   f"{changes}, autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = "
                   f"{changes})")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in AFTER:
        op.execute(f"ALTER TABLE {table} RESET ({', '.join(OPTIONS)})")
