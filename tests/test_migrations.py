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
            assert differences == []
            downgrade(revision="base")
            assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            db.engine.dispose()
    finally:
        drop()
