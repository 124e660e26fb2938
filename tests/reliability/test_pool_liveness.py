"""A pooled connection the server ended while it was idle (an administrator, an idle session timeout)
is replaced before a request uses it (models.liveness), on the shared PostgreSQL."""
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from models import db

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _one_pooled_connection(api) -> None:
    db.session.remove()
    db.engine.dispose()
    assert api.get("/inbox").status_code == 200  # the pool now holds this one connection, idle


def test_a_connection_the_server_ended_is_replaced_before_the_next_request(app, login):
    api = login("exec1")
    _one_pooled_connection(api)
    # Autocommit: the activity view is read once per transaction, and the wait below reads it anew.
    admin = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")).all()
        assert ended, "the pooled connection's server process"
        deadline = time.monotonic() + 10
        while conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid()")).scalar():
            assert time.monotonic() < deadline, "the ended process did not go"
            time.sleep(0.01)  # ended once its process is gone
    admin.dispose()

    assert api.get("/inbox").status_code == 200

