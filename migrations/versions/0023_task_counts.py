"""task counts: the controlled tasks per executor, day of issue, state and due day, for the summary

PostgreSQL only: a trigger on tasks keeps `task_counts` in the transaction of every write to a task
(issue, accept, an extension approved, a withdrawal, a task removed), so /control/summary adds up a
few rows per executor and day instead of every task of a ministry's year. SQLite counts the tasks.

Revision ID: 0023
Revises: 0016
"""
from alembic import op

revision = "0023"
down_revision = "0016"
branch_labels = None
depends_on = None

# The summary's state of a task where it does not hang on the clock: done on time, done late, or not done
# (then the clock decides, by its due day: 9999-12-31 without a deadline).
STATE = ("CASE WHEN {t}.status = 'done' AND ({t}.deadline IS NULL OR coalesce({t}.reported_at, {t}.completed_at) "
         "<= {t}.deadline) THEN 'done_on_time' WHEN {t}.status = 'done' THEN 'done_late' ELSE 'undone' END")
DUE = ("CASE WHEN {t}.status = 'done' THEN DATE '9999-12-31' ELSE coalesce({t}.deadline::date, DATE '9999-12-31') "
       "END")
COUNTED = "{t}.control AND NOT {t}.removed AND NOT {t}.withdrawn"

FUNCTION = f"""
CREATE FUNCTION task_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key text;
    new_key text;
BEGIN
    IF TG_OP <> 'INSERT' AND {COUNTED.format(t='OLD')} THEN
        old_key := concat_ws('|', OLD.executor_id, OLD.created_at::date, {STATE.format(t='OLD')},
                             {DUE.format(t='OLD')});
    END IF;
    IF TG_OP <> 'DELETE' AND {COUNTED.format(t='NEW')} THEN
        new_key := concat_ws('|', NEW.executor_id, NEW.created_at::date, {STATE.format(t='NEW')},
                             {DUE.format(t='NEW')});
    END IF;
    IF old_key IS NOT DISTINCT FROM new_key THEN
        RETURN NULL;  -- a report, a return, a line's number: nothing the summary counts moved
    END IF;
    IF old_key IS NOT NULL THEN
        UPDATE task_counts SET n = n - 1 WHERE executor_id = OLD.executor_id AND day = OLD.created_at::date
            AND state = {STATE.format(t='OLD')} AND due = {DUE.format(t='OLD')};
    END IF;
    IF new_key IS NOT NULL THEN
        INSERT INTO task_counts (executor_id, day, state, due, n)
        VALUES (NEW.executor_id, NEW.created_at::date, {STATE.format(t='NEW')}, {DUE.format(t='NEW')}, 1)
        ON CONFLICT (executor_id, day, state, due) DO UPDATE SET n = task_counts.n + 1;
    END IF;
    RETURN NULL;
END $$
"""
FILL = (f"INSERT INTO task_counts (executor_id, day, state, due, n) SELECT t.executor_id, t.created_at::date, "
        f"{STATE.format(t='t')}, {DUE.format(t='t')}, count(*) FROM tasks t WHERE {COUNTED.format(t='t')} "
        "GROUP BY 1, 2, 3, 4")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE TABLE task_counts (executor_id bigint NOT NULL, day date NOT NULL, state varchar(12) NOT NULL, "
               "due date NOT NULL, n integer NOT NULL, PRIMARY KEY (executor_id, day, state, due))")
    op.execute(FUNCTION)
    op.execute("CREATE TRIGGER tasks_counted AFTER INSERT OR DELETE OR UPDATE OF executor_id, created_at, status, "
               "deadline, reported_at, completed_at, control, removed, withdrawn ON tasks "
               "FOR EACH ROW EXECUTE FUNCTION task_counts_follow()")
    op.execute(FILL)
    # What the summary still reads from tasks: the first and last day of its period, and the tasks due
    # today or on the day "due soon" ends (the clock divides those days).
    op.execute("CREATE INDEX ix_tasks_controlled_created ON tasks (created_at) WHERE control")
    op.execute("CREATE INDEX ix_tasks_undone_deadline ON tasks (deadline) "
               "WHERE control AND status <> 'done' AND NOT removed")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_tasks_undone_deadline")
    op.execute("DROP INDEX ix_tasks_controlled_created")
    op.execute("DROP TRIGGER tasks_counted ON tasks")
    op.execute("DROP FUNCTION task_counts_follow()")
    op.execute("DROP TABLE task_counts")
