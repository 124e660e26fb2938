"""summary by organization: each task carries its executor's organization, and the month rollup counts the
tasks not done too, so that a ministry's summary reads ranges of the organization rather than walking
each of its thousands of people

Revision ID: 0026
Revises: 0024
"""
import runpy
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0024"
branch_labels = None
depends_on = None

# What /control/summary counts (domain.summary._counted) for the row OLD or NEW of a trigger, and the
# one of its three kinds the task counts in: done on time, done late, not done.
COUNTED = "{r}.control AND NOT {r}.withdrawn AND NOT {r}.removed"
ON_TIME = ("CASE WHEN {r}.status = 'done' AND ({r}.deadline IS NULL OR coalesce({r}.reported_at, {r}.completed_at) "
           "<= {r}.deadline) THEN 1 ELSE 0 END")
LATE = ("CASE WHEN {r}.status = 'done' AND NOT ({r}.deadline IS NULL OR coalesce({r}.reported_at, {r}.completed_at) "
        "<= {r}.deadline) THEN 1 ELSE 0 END")
NOT_DONE = "CASE WHEN {r}.status <> 'done' THEN 1 ELSE 0 END"
MONTH = {"postgresql": "date_trunc('month', {r}.created_at)::date", "sqlite": "strftime('%Y-%m-01', {r}.created_at)"}
ORGANIZATION = "(SELECT organization_id FROM users WHERE users.id = {r}.executor_id)"
# Every column the rule reads: an update of any other (a report's text, a reviewer) fires nothing.
COLUMNS = "status, withdrawn, removed, control, created_at, executor_id, deadline, reported_at, completed_at"
# The summary's ranges of an organization, with every column they need (PostgreSQL's INCLUDE; SQLite
# reads the rows the index finds): the tasks issued in a period, and those not done by deadline (and
# the few without one, apart: a range of deadlines leaves them out).
COLUMNS_READ = "executor_id, status, deadline, reported_at, completed_at"
COUNTED_NOT_DONE = "control AND NOT removed AND NOT withdrawn AND status <> 'done'"
INDEXES = {
    "ix_tasks_summary_org": ("(organization_id, created_at)", COLUMNS_READ, "control AND NOT removed AND NOT withdrawn"),
    "ix_tasks_summary_due": ("(organization_id, deadline)", f"{COLUMNS_READ}, created_at", COUNTED_NOT_DONE),
    "ix_tasks_summary_undated": ("(organization_id, created_at)", COLUMNS_READ, f"{COUNTED_NOT_DONE} AND deadline IS NULL"),
}


def _rule(dialect: str, r: str) -> dict:
    return {"counted": COUNTED.format(r=r), "on_time": ON_TIME.format(r=r), "late": LATE.format(r=r),
            "not_done": NOT_DONE.format(r=r), "month": MONTH[dialect].format(r=r),
            "organization": ORGANIZATION.format(r=r)}


def upgrade():
    dialect = op.get_bind().dialect.name
    op.add_column("tasks", sa.Column("organization_id", sa.BigInteger(), nullable=True))
    if dialect == "postgresql":
        op.execute("UPDATE tasks SET organization_id = users.organization_id FROM users WHERE users.id = tasks.executor_id")
    else:
        op.execute(f"UPDATE tasks SET organization_id = {ORGANIZATION.format(r='tasks')}")
    for name, (columns, include, where) in INDEXES.items():
        covering = f" INCLUDE ({include})" if dialect == "postgresql" else ""
        op.execute(f"CREATE INDEX {name} ON tasks {columns}{covering} WHERE {where}")

    # task_done_months gives way to task_months: the same months, with the tasks not done and the organization.
    if dialect == "postgresql":
        op.execute("DROP INDEX ix_tasks_summary_open")  # 0024's: the summary no longer walks a person's open tasks
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER tasks_done_months_{event} ON tasks")
        op.execute("DROP FUNCTION tasks_done_months()")
    else:
        for event in ("insert", "delete", "take", "add"):
            op.execute(f"DROP TRIGGER tasks_done_months_{event}")
    op.drop_table("task_done_months")
    op.create_table(
        "task_months",
        sa.Column("executor_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("organization_id", sa.BigInteger(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.Column("not_done", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("executor_id", "month", name=op.f("pk_task_months")))
    covering = " INCLUDE (executor_id, on_time, late, not_done)" if dialect == "postgresql" else ""
    op.execute(f"CREATE INDEX ix_task_months_organization ON task_months (organization_id, month){covering}")

    old, new = _rule(dialect, "OLD"), _rule(dialect, "NEW")
    if dialect == "postgresql":
        # The task takes its executor's organization as it is written (every path that writes a task).
        op.execute(f"""
CREATE FUNCTION tasks_organization() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.organization_id := {new['organization']};
    RETURN NEW;
END $$""")
        op.execute("CREATE TRIGGER tasks_organization BEFORE INSERT OR UPDATE OF executor_id ON tasks FOR EACH ROW "
                   "EXECUTE FUNCTION tasks_organization()")
        # One function for the three events: the old row's count taken away, the new row's added, and
        # nothing when the task counts in the same month and kind as before (a report of an open task).
        # The upsert locks the (executor, month) row to the end of the transaction: concurrent writes
        # of one executor's tasks of one month wait for each other and never lose a count.
        op.execute(f"""
CREATE FUNCTION tasks_months() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- (Parenthesized: PL/pgSQL reads an IF's condition up to the first THEN, a CASE's included.)
    IF TG_OP = 'UPDATE' AND (({old['counted']}) = ({new['counted']})) AND OLD.executor_id = NEW.executor_id
            AND ({old['month']} = {new['month']}) AND (({old['on_time']}) = ({new['on_time']}))
            AND (({old['late']}) = ({new['late']})) THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' AND {old['counted']} THEN
        UPDATE task_months SET on_time = on_time - {old['on_time']}, late = late - {old['late']},
            not_done = not_done - {old['not_done']}
        WHERE executor_id = OLD.executor_id AND month = {old['month']};
    END IF;
    IF TG_OP <> 'DELETE' AND {new['counted']} THEN
        INSERT INTO task_months AS m (executor_id, month, organization_id, on_time, late, not_done)
        VALUES (NEW.executor_id, {new['month']}, {new['organization']}, {new['on_time']}, {new['late']},
                {new['not_done']})
        ON CONFLICT (executor_id, month) DO UPDATE
        SET on_time = m.on_time + EXCLUDED.on_time, late = m.late + EXCLUDED.late,
            not_done = m.not_done + EXCLUDED.not_done;
    END IF;
    RETURN NULL;
END $$""")
        op.execute("CREATE TRIGGER tasks_months_insert AFTER INSERT ON tasks FOR EACH ROW "
                   f"WHEN ({new['counted']}) EXECUTE FUNCTION tasks_months()")
        op.execute("CREATE TRIGGER tasks_months_delete AFTER DELETE ON tasks FOR EACH ROW "
                   f"WHEN ({old['counted']}) EXECUTE FUNCTION tasks_months()")
        op.execute(f"CREATE TRIGGER tasks_months_update AFTER UPDATE OF {COLUMNS} ON tasks FOR EACH ROW "
                   f"WHEN (({old['counted']}) OR ({new['counted']})) EXECUTE FUNCTION tasks_months()")
        # A person who moves to another organization takes their tasks' counts along.
        op.execute("""
CREATE FUNCTION users_organization() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tasks SET organization_id = NEW.organization_id WHERE executor_id = NEW.id;
    UPDATE task_months SET organization_id = NEW.organization_id WHERE executor_id = NEW.id;
    RETURN NULL;
END $$""")
        op.execute("CREATE TRIGGER users_organization AFTER UPDATE OF organization_id ON users FOR EACH ROW "
                   "WHEN (OLD.organization_id IS DISTINCT FROM NEW.organization_id) "
                   "EXECUTE FUNCTION users_organization()")
    else:
        op.execute("CREATE TRIGGER tasks_organization_insert AFTER INSERT ON tasks BEGIN "
                   f"UPDATE tasks SET organization_id = {new['organization']} WHERE id = NEW.id; END")
        op.execute("CREATE TRIGGER tasks_organization_update AFTER UPDATE OF executor_id ON tasks BEGIN "
                   f"UPDATE tasks SET organization_id = {new['organization']} WHERE id = NEW.id; END")
        add = ("INSERT OR IGNORE INTO task_months (executor_id, month, organization_id, on_time, late, not_done) "
               "VALUES (NEW.executor_id, {month}, {organization}, 0, 0, 0); "
               "UPDATE task_months SET on_time = on_time + {on_time}, late = late + {late}, "
               "not_done = not_done + {not_done} WHERE executor_id = NEW.executor_id AND month = {month};").format(**new)
        take = ("UPDATE task_months SET on_time = on_time - {on_time}, late = late - {late}, "
                "not_done = not_done - {not_done} WHERE executor_id = OLD.executor_id AND month = {month};").format(**old)
        op.execute(f"CREATE TRIGGER tasks_months_insert AFTER INSERT ON tasks WHEN {new['counted']} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER tasks_months_delete AFTER DELETE ON tasks WHEN {old['counted']} BEGIN {take} END")
        op.execute(f"CREATE TRIGGER tasks_months_take AFTER UPDATE OF {COLUMNS} ON tasks "
                   f"WHEN {old['counted']} BEGIN {take} END")
        op.execute(f"CREATE TRIGGER tasks_months_add AFTER UPDATE OF {COLUMNS} ON tasks "
                   f"WHEN {new['counted']} BEGIN {add} END")
        op.execute("CREATE TRIGGER users_organization AFTER UPDATE OF organization_id ON users "
                   "WHEN OLD.organization_id IS NOT NEW.organization_id BEGIN "
                   "UPDATE tasks SET organization_id = NEW.organization_id WHERE executor_id = NEW.id; "
                   "UPDATE task_months SET organization_id = NEW.organization_id WHERE executor_id = NEW.id; END")
    op.execute(backfill(dialect))


def backfill(dialect: str) -> str:
    """task_months counted from the tasks (the migration's, and the seed's after a COPY that fires no trigger)."""
    rule = _rule(dialect, "tasks")
    return ("INSERT INTO task_months (executor_id, month, organization_id, on_time, late, not_done) "
            f"SELECT executor_id, {rule['month']}, min(organization_id), sum({rule['on_time']}), sum({rule['late']}), "
            f"sum({rule['not_done']}) FROM tasks WHERE {rule['counted']} AND organization_id IS NOT NULL "
            f"GROUP BY executor_id, {rule['month']}")


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER users_organization ON users")
        op.execute("DROP FUNCTION users_organization()")
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER tasks_months_{event} ON tasks")
        op.execute("DROP FUNCTION tasks_months()")
        op.execute("DROP TRIGGER tasks_organization ON tasks")
        op.execute("DROP FUNCTION tasks_organization()")
    else:
        op.execute("DROP TRIGGER users_organization")
        for event in ("insert", "delete", "take", "add"):
            op.execute(f"DROP TRIGGER tasks_months_{event}")
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER tasks_organization_{event}")
    op.drop_table("task_months")
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.drop_column("tasks", "organization_id")
    # 0024's rollup of the done tasks and its index, as that migration makes them.
    runpy.run_path(str(Path(__file__).with_name("0024_summary_rollup.py")))["upgrade"]()
