"""Lookups on hot paths have an index to walk, on the migrated PostgreSQL schema.

With sequential scans priced out (enable_seqscan off), PostgreSQL still scans a table when no index
serves the condition: a plan with "Seq Scan" here is a lookup that would read a whole table at the
region's scale (300,000 resolutions: a voice note's poll took 0.86 s before its index).
"""
import contextlib

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from mobile_api import create_app
from models import Document, db
from tests.conftest import _pg_database

LOOKUPS = {
    "a voice note's resolution (polled while it is transcribed)": "SELECT * FROM resolutions WHERE voice_note_id = 7",
    "a page of a document's resolutions": "SELECT * FROM resolutions WHERE document_id = 7 AND id > 0 "
                                          "ORDER BY id LIMIT 51",
    "a user's inbox page": "SELECT * FROM inbox_items WHERE user_id = 7 AND NOT removed "
                           "ORDER BY received_at DESC, id DESC LIMIT 26",
    "a user's sync page": "SELECT * FROM inbox_items WHERE user_id = 7 AND (seq, id) > (0, 0) "
                          "ORDER BY seq, id LIMIT 101",
    "a user's open tasks": "SELECT * FROM tasks WHERE executor_id = 7 AND status <> 'done' AND NOT removed "
                           "ORDER BY created_at DESC, id DESC LIMIT 26",
    "a controller's overdue tasks": "SELECT * FROM tasks WHERE controller_id = 7 AND NOT removed "
                                    "AND status <> 'done' AND deadline < now() ORDER BY deadline, id LIMIT 26",
    "a controller's open tasks": "SELECT * FROM tasks WHERE controller_id = 7 AND NOT removed AND status <> 'done' "
                                 "ORDER BY created_at DESC, id DESC LIMIT 26",
    "reports waiting for their reviewer": "SELECT * FROM tasks WHERE reviewer_id = 7 AND status = 'reported' "
                                          "AND NOT removed ORDER BY reported_at DESC, id DESC LIMIT 26",
    "extension requests waiting for a decision": "SELECT * FROM extension_requests WHERE decider_id = 7 "
                                                 "AND status = 'pending' ORDER BY created_at DESC, id DESC LIMIT 26",
    "an execution tree's sub-resolutions": "SELECT * FROM resolutions WHERE parent_task_id = 7",
    "an execution tree's reports": "SELECT * FROM task_reports WHERE task_id IN (7, 8)",
    "a search by words": "SELECT document_id FROM document_texts "
                         "WHERE search_vector @@ plainto_tsquery('russian', 'договоров поставки')",
    "a search by registration number": "SELECT id FROM documents WHERE organization_id = 7 "
                                       "AND reg_number = 'МЦР-12/26'",
}


@pytest.mark.parametrize("lookup", list(LOOKUPS))
def test_a_hot_lookup_walks_an_index(lookup, tmp_path):
    url, drop = _pg_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path)})
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                conn.execute(sa.text("SET enable_seqscan = off"))
                plan = "\n".join(conn.execute(sa.text("EXPLAIN " + LOOKUPS[lookup])).scalars())
            db.engine.dispose()
        assert "Seq Scan" not in plan, plan
    finally:
        drop()


@contextlib.contextmanager
def _demo_on_postgres(tmp_path):
    """The demo government on a migrated PostgreSQL database of its own, in an app context."""
    from mobile_api.demo import load
    from tests.conftest import DEMO_PASSWORD

    url, drop = _pg_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path), "DEMO_PASSWORD": DEMO_PASSWORD})
    try:
        with app.app_context():
            upgrade()
            load(DEMO_PASSWORD)
            try:
                yield
            finally:
                db.engine.dispose()
    finally:
        drop()


def _plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_an_overdue_tasks_page_walks_only_tasks_that_have_a_deadline(tmp_path):
    """An executor with thousands of open tasks without a deadline, newer than their few overdue ones
    (resolutions usually set none): the overdue page must not walk past every task of that history.
    It did, through the open tasks' index: 61,000 of them cost 12 ms of PostgreSQL per page.

    Sorting is priced out (enable_sort off), as a LIMIT does at scale whenever the statistics of one
    executor are off: the page must then come from an index in its order, and that index must hold
    only tasks that have a deadline."""
    from domain import lists

    with _demo_on_postgres(tmp_path):
        task = db.session.execute(sa.text("SELECT resolution_id, document_id, executor_id FROM tasks")).first()
        for count, age, deadline in ((3, "30 days", "(now() - interval '20 days')"), (3000, "1 day", "NULL")):
            db.session.execute(sa.text(
                "INSERT INTO tasks (resolution_id, document_id, executor_id, text, status, removed, seq, "
                "created_at, deadline) SELECT :r, :d, :e, 'Исполнить', 'open', false, 1, "
                f"(now() AT TIME ZONE 'utc') - interval '{age}' + g * interval '1 second', "
                f"{deadline} AT TIME ZONE 'utc' "
                f"FROM generate_series(1, {count}) AS g"),
                {"r": task.resolution_id, "d": task.document_id, "e": task.executor_id})
        db.session.execute(sa.text("ANALYZE tasks"))
        db.session.commit()

        statements = []
        sa.event.listen(db.engine, "before_cursor_execute",
                        lambda conn, cursor, sql, params, *_: statements.append((sql, params)))
        rows, _, _ = lists.task_page(task.executor_id, "overdue", 25, None)
        assert sum(r[7] is not None for r in rows) >= 3  # the old overdue tasks are on the page
        [(sql, params)] = [s for s in statements if "ORDER BY tasks.created_at DESC" in s[0]]
        cursor = db.session.connection().connection.driver_connection.cursor()
        cursor.execute("SET enable_sort = off")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0][0]["Plan"]
        db.session.rollback()
        walked = [n for n in _plan_nodes(plan) if n.get("Relation Name") == "tasks"]
        assert walked, plan
        read = sum(n["Actual Rows"] + n.get("Rows Removed by Filter", 0) for n in walked)
        assert read < 100, f"{read} tasks read for a page of overdue ones: {plan}"


@pytest.mark.parametrize("kind", ["inbox", "tasks"])
def test_an_overdue_page_with_nothing_overdue_walks_nothing(kind, tmp_path):
    """A user whose 3,000 lines (or open tasks) all fall due next week: the overdue page is empty, and
    its statement must not walk the due-date index to find that out (at the region's scale, an
    executive's thousands of lines on every poll). It asks first, in the same statement, whether
    anything is overdue, and PostgreSQL skips the walk."""
    from domain import lists

    with _demo_on_postgres(tmp_path):
        task = db.session.execute(sa.text("SELECT resolution_id, document_id, executor_id FROM tasks")).first()
        user_id = task.executor_id
        next_week = "(now() AT TIME ZONE 'utc') + interval '7 days'"
        # Nothing of theirs overdue now, then 3,000 more that fall due next week.
        for table, owner, due in (("inbox_items", "user_id", "due_at"), ("tasks", "executor_id", "deadline")):
            db.session.execute(sa.text(f"UPDATE {table} SET {due} = {next_week} WHERE {owner} = :u"),
                               {"u": user_id})
        db.session.execute(sa.text(
            "INSERT INTO tasks (resolution_id, document_id, executor_id, text, status, removed, seq, created_at, "
            f"deadline) SELECT :r, :d, :u, 'Исполнить', 'open', false, 1, now() AT TIME ZONE 'utc', {next_week} "
            "FROM generate_series(1, 3000)"), {"r": task.resolution_id, "d": task.document_id, "u": user_id})
        # 3,000 copies of their document (a line is one per document and kind), each in their inbox.
        columns = [c.name for c in Document.__table__.c if c.name != "id"]
        copied = ", ".join("d.reg_number || '-' || g" if c == "reg_number" else f"d.{c}" for c in columns)
        db.session.execute(sa.text(
            f"INSERT INTO documents ({', '.join(columns)}) SELECT {copied} FROM documents d "
            "CROSS JOIN generate_series(1, 3000) AS g WHERE d.id = :d"), {"d": task.document_id})
        db.session.execute(sa.text(
            "INSERT INTO inbox_items (user_id, document_id, kind, reg_number, title, sender, received_at, "
            "due_at, unread, urgent, removed, seq) SELECT :u, d.id, 'info', d.reg_number, d.title, 'Минфин', "
            f"now() AT TIME ZONE 'utc', {next_week}, true, false, false, 1 FROM documents d "
            "WHERE d.reg_number LIKE '%-%' ON CONFLICT DO NOTHING"), {"u": user_id})
        db.session.execute(sa.text("ANALYZE tasks; ANALYZE inbox_items"))
        db.session.commit()

        statements = []
        sa.event.listen(db.engine, "before_cursor_execute",
                        lambda conn, cursor, sql, params, *_: statements.append((sql, params)))
        page = lists.inbox_page if kind == "inbox" else lists.task_page
        rows, next_cursor, _ = page(user_id, "overdue", 25, None)
        assert rows == [] and next_cursor is None
        [(sql, params)] = statements  # the page, its version and the question, in one statement
        cursor = db.session.connection().connection.driver_connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0][0]["Plan"]
        db.session.rollback()
        table = "inbox_items" if kind == "inbox" else "tasks"
        # The walk (not the version's and the question's lookups, which read the same table under other names).
        [walk] = [n for n in _plan_nodes(plan) if n.get("Relation Name") == table and n.get("Alias") == table]
        read = walk["Actual Rows"] * walk["Actual Loops"] + walk.get("Rows Removed by Filter", 0)
        assert read == 0, f"{read} rows of {table} walked for an empty overdue page: {plan}"


def test_no_connection_of_the_app_compiles_statements_with_jit(tmp_path):
    """JIT compilation is started by a plan's estimated cost and cost the summary 11 ms for 40 of work:
    both of the app's engines (the session's and the plain reads') connect with it off, whatever the
    server's default."""
    from models import raw

    url, drop = _pg_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path)})
    try:
        with app.app_context():
            for engine in (db.engine, db.engines[raw.READER]):
                with engine.connect() as conn:
                    assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
            db.engine.dispose()
    finally:
        drop()
