"""Lookups on hot paths have an index to walk, on the migrated PostgreSQL schema.

With sequential scans priced out (enable_seqscan off), PostgreSQL still scans a table when no index
serves the condition: a plan with "Seq Scan" here is a lookup that would read a whole table at the
region's scale (300,000 resolutions: a voice note's poll took 0.86 s before its index).
"""
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from mobile_api import create_app
from models import db
from tests.conftest import _pg_database

LOOKUPS = {
    "a voice note's resolution (polled while it is transcribed)": "SELECT * FROM resolutions WHERE voice_note_id = 7",
    "a page of a document's resolutions": "SELECT * FROM resolutions WHERE document_id = 7 AND id > 0 "
                                          "ORDER BY id LIMIT 51",
    "a user's inbox page": "SELECT * FROM inbox_items WHERE user_id = 7 AND NOT removed "
                           "ORDER BY received_at DESC, id DESC LIMIT 26",
    "a user's sync page": "SELECT * FROM inbox_items WHERE user_id = 7 AND (seq, id) > (0, 0) "
                          "ORDER BY seq, id LIMIT 101",
    "a user's open tasks": "SELECT * FROM tasks WHERE executor_id = 7 AND status = 'open' AND NOT removed "
                           "ORDER BY created_at DESC, id DESC LIMIT 26",
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
