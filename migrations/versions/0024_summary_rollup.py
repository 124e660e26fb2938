"""summary rollup: the done controlled tasks per executor and UTC month, kept by triggers, and an index
of the open ones

Revision ID: 0024
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0025"
branch_labels = None
depends_on = None

# What /control/summary counts as done (domain.summary._counted), for the row OLD or NEW of a trigger.
COUNTED = "{r}.control AND {r}.status = 'done' AND NOT {r}.withdrawn AND NOT {r}.removed"
ON_TIME = ("CASE WHEN {r}.deadline IS NULL OR coalesce({r}.reported_at, {r}.completed_at) <= {r}.deadline "
           "THEN 1 ELSE 0 END")
MONTH = {"postgresql": "date_trunc('month', {r}.created_at)::date", "sqlite": "strftime('%Y-%m-01', {r}.created_at)"}
# Every column the rule reads: an update of any other (a report, a reviewer) fires nothing.
COLUMNS = "status, withdrawn, removed, control, created_at, executor_id, deadline, reported_at, completed_at"


def _rule(dialect: str, r: str) -> dict:
    return {"counted": COUNTED.format(r=r), "on_time": ON_TIME.format(r=r), "month": MONTH[dialect].format(r=r)}


def _backfill(dialect: str) -> str:
    rule = _rule(dialect, "tasks")
    return (f"INSERT INTO task_done_months (executor_id, month, on_time, late) "
            f"SELECT executor_id, {rule['month']}, sum({rule['on_time']}), sum(1 - {rule['on_time']}) "
            f"FROM tasks WHERE {rule['counted']} GROUP BY executor_id, {rule['month']}")


def upgrade():
    op.create_table(
        "task_done_months",
        sa.Column("executor_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("executor_id", "month", name=op.f("pk_task_done_months")))
    dialect = op.get_bind().dialect.name
    old, new = _rule(dialect, "OLD"), _rule(dialect, "NEW")
    if dialect == "postgresql":
        # One function for the three events: take the old row's count away, add the new row's. The
        # upsert locks the (executor, month) row to the end of the transaction: concurrent accepts of one
        # executor's tasks of one month wait for each other and never lose a count.
        op.execute(f"""
CREATE FUNCTION tasks_done_months() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND {old['counted']} THEN
        UPDATE task_done_months SET on_time = on_time - {old['on_time']}, late = late - (1 - {old['on_time']})
        WHERE executor_id = OLD.executor_id AND month = {old['month']};
    END IF;
    IF TG_OP <> 'DELETE' AND {new['counted']} THEN
        INSERT INTO task_done_months AS d (executor_id, month, on_time, late)
        VALUES (NEW.executor_id, {new['month']}, {new['on_time']}, 1 - {new['on_time']})
        ON CONFLICT (executor_id, month) DO UPDATE
        SET on_time = d.on_time + EXCLUDED.on_time, late = d.late + EXCLUDED.late;
    END IF;
    RETURN NULL;
END $$""")
        op.execute("CREATE TRIGGER tasks_done_months_insert AFTER INSERT ON tasks FOR EACH ROW "
                   f"WHEN ({new['counted']}) EXECUTE FUNCTION tasks_done_months()")
        op.execute("CREATE TRIGGER tasks_done_months_delete AFTER DELETE ON tasks FOR EACH ROW "
                   f"WHEN ({old['counted']}) EXECUTE FUNCTION tasks_done_months()")
        op.execute(f"CREATE TRIGGER tasks_done_months_update AFTER UPDATE OF {COLUMNS} ON tasks FOR EACH ROW "
                   f"WHEN (({old['counted']}) OR ({new['counted']})) EXECUTE FUNCTION tasks_done_months()")
        # The summary's open tasks of a period, with every column their state needs (PostgreSQL's
        # INCLUDE, as 0023's ix_tasks_summary; SQLite reads the tasks).
        op.execute("CREATE INDEX ix_tasks_summary_open ON tasks (executor_id, created_at) "
                   "INCLUDE (status, deadline, reported_at, completed_at) "
                   "WHERE control AND NOT removed AND NOT withdrawn AND status <> 'done'")
    else:
        add = ("INSERT OR IGNORE INTO task_done_months (executor_id, month, on_time, late) "
               "VALUES (NEW.executor_id, {month}, 0, 0); "
               "UPDATE task_done_months SET on_time = on_time + {on_time}, late = late + 1 - {on_time} "
               "WHERE executor_id = NEW.executor_id AND month = {month};").format(**new)
        take = ("UPDATE task_done_months SET on_time = on_time - {on_time}, late = late - (1 - {on_time}) "
                "WHERE executor_id = OLD.executor_id AND month = {month};").format(**old)
        op.execute(f"CREATE TRIGGER tasks_done_months_insert AFTER INSERT ON tasks "
                   f"WHEN {new['counted']} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER tasks_done_months_delete AFTER DELETE ON tasks "
                   f"WHEN {old['counted']} BEGIN {take} END")
        op.execute(f"CREATE TRIGGER tasks_done_months_take AFTER UPDATE OF {COLUMNS} ON tasks "
                   f"WHEN {old['counted']} BEGIN {take} END")
        op.execute(f"CREATE TRIGGER tasks_done_months_add AFTER UPDATE OF {COLUMNS} ON tasks "
                   f"WHEN {new['counted']} BEGIN {add} END")
    op.execute(_backfill(dialect))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_tasks_summary_open")
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER tasks_done_months_{event} ON tasks")
        op.execute("DROP FUNCTION tasks_done_months()")
    else:
        for event in ("insert", "delete", "take", "add"):
            op.execute(f"DROP TRIGGER tasks_done_months_{event}")
    op.drop_table("task_done_months")
