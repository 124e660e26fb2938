"""The migrations build exactly the schema the models describe, and can be walked back down."""
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from mobile_api import create_app
from models import db
from tests.conftest import _pg_database


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migrations_match_the_models_and_downgrade_cleanly(kind, tmp_path):
    url, drop = (f"sqlite:///{tmp_path}/m.db", lambda: None) if kind == "sqlite" else _pg_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path)})
    try:
        with app.app_context():
            upgrade()  # plain "head": the history must be one line
            with db.engine.connect() as conn:
                differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
            if kind == "sqlite":
                # SQLite cannot reflect the DESC expressions of the inbox index; PostgreSQL checks it.
                differences = [d for d in differences if getattr(d[1], "name", None) != "ix_inbox_user_received"]
            # Search's index is the migration's, per dialect: FTS5 (a virtual table and its shadow
            # tables) on SQLite, a stored tsvector under a GIN index on PostgreSQL; the models name neither.
            differences = [d for d in differences if not (
                d[0] == "remove_table" and d[1].name.startswith("document_words")
                or d[0] == "remove_index" and d[1].name == "ix_document_texts_words"
                or d[0] == "remove_column" and d[3].name == "search_vector")]
            # The summary's covering indexes (0023, 0026) are PostgreSQL's (INCLUDE; plain on SQLite); the
            # models do not name them.
            differences = [d for d in differences if not (d[0] == "remove_index" and d[1].name in (
                "ix_tasks_summary", "ix_tasks_summary_org", "ix_tasks_summary_due", "ix_tasks_summary_undated",
                "ix_task_months_organization"))]
            assert differences == []
            if kind == "postgresql":  # 0027: autovacuum keeps the summary's index-only scans on fresh pages
                with db.engine.connect() as conn:
                    options = dict(conn.execute(sa.text(
                        "SELECT relname, reloptions FROM pg_class WHERE relname IN ('tasks', 'task_months')")).all())
                for table, changes in (("task_months", 1000), ("tasks", 20000)):
                    assert set(options[table]) == {
                        "autovacuum_vacuum_scale_factor=0", f"autovacuum_vacuum_threshold={changes}",
                        "autovacuum_vacuum_insert_scale_factor=0", f"autovacuum_vacuum_insert_threshold={changes}"}
                downgrade(revision="0026")
                with db.engine.connect() as conn:
                    assert conn.execute(sa.text("SELECT count(*) FROM pg_class WHERE relname IN ('tasks', "
                                                "'task_months') AND reloptions IS NOT NULL")).scalar() == 0
                upgrade()
            downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            db.engine.dispose()
    finally:
        drop()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_execution_control_keeps_what_existed(kind, tmp_path):
    """Resolutions issued before execution control: those with executors and a deadline become
    controlled by their author (executed when every task was done), the others are for information;
    done tasks stay done, open ones open, and the first executor is the responsible one."""
    url, drop = (f"sqlite:///{tmp_path}/m.db", lambda: None) if kind == "sqlite" else _pg_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path)})
    try:
        with app.app_context():
            upgrade(revision="0014")
            with db.engine.begin() as conn:
                run = lambda sql: conn.execute(sa.text(sql))  # noqa: E731
                run("INSERT INTO organizations (id, name, short_name, code, push_shows_document, timezone, "
                    "deadline_day_off, issue_requires_signature, created_at) "
                    "VALUES (1, 'Министерство', 'Мин', 'M', false, 'Europe/Moscow', 'before', false, '2026-01-01')")
                for user_id in (1, 2, 3):
                    run(f"INSERT INTO users (id, organization_id, username, password_hash, name, short_name, roles, "
                        f"is_active, locale, timezone, created_at, seq) VALUES ({user_id}, 1, 'u{user_id}', 'x', 'U', "
                        "'U', 'employee', true, 'ru', 'Europe/Moscow', '2026-01-01', 0)")
                run("INSERT INTO documents (id, organization_id, reg_number, reg_year, reg_date, title, summary, "
                    "correspondent, owner_id, urgent, created_at) VALUES (1, 1, 'M-1/26', 2026, '2026-01-01', 'T', "
                    "'', 'C', 1, false, '2026-01-01')")
                # 1: controlled, one task open; 2: controlled, every task done; 3: no deadline.
                for res_id, deadline in ((1, "'2026-02-01'"), (2, "'2026-02-01'"), (3, "NULL")):
                    run("INSERT INTO resolutions (id, document_id, author_id, status, text, deadline, created_at, "
                        f"updated_at, issued_at) VALUES ({res_id}, 1, 1, 'issued', 'R', {deadline}, '2026-01-01', "
                        "'2026-01-01', '2026-01-01')")
                    for position, executor in enumerate((3, 2)):
                        run("INSERT INTO resolution_executors (resolution_id, user_id, position) "
                            f"VALUES ({res_id}, {executor}, {position})")
                        status = "done" if res_id == 2 or position == 1 else "open"
                        run("INSERT INTO tasks (resolution_id, document_id, executor_id, text, deadline, status, "
                            f"created_at, completed_at, removed, seq) VALUES ({res_id}, 1, {executor}, 'R', "
                            f"{deadline}, '{status}', '2026-01-01', "
                            f"{'NULL' if status == 'open' else chr(39) + '2026-01-20' + chr(39)}, false, 0)")
            upgrade()
            with db.engine.connect() as conn:
                resolutions = conn.execute(sa.text(
                    "SELECT id, status, control, controller_id FROM resolutions ORDER BY id")).all()
                tasks = conn.execute(sa.text("SELECT resolution_id, executor_id, status, control, responsible, "
                                             "controller_id FROM tasks ORDER BY resolution_id, id")).all()
            assert [(r[0], r[1], bool(r[2]), r[3]) for r in resolutions] == [
                (1, "issued", True, 1), (2, "executed", True, 1), (3, "issued", False, 1)]
            assert [(t[0], t[1], t[2], bool(t[3]), bool(t[4]), t[5]) for t in tasks] == [
                (1, 3, "open", True, True, 1), (1, 2, "done", True, False, 1),
                (2, 3, "done", True, True, 1), (2, 2, "done", True, False, 1),
                (3, 3, "open", False, True, 1), (3, 2, "done", False, False, 1)]
            downgrade(revision="0014")  # and back: the rows stay
            with db.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar() == 6
                assert conn.execute(sa.text("SELECT count(*) FROM resolution_executors")).scalar() == 6
            upgrade()
            db.engine.dispose()
    finally:
        drop()
