"""The live server, once per module of these tests: gunicorn (2 workers x 8 threads) on a fresh PostgreSQL
database built by the migrations and loaded with the demo government."""
import pytest

from tests.conftest import _pg_database
from tests.support.live import live_demo_server

# A retried refresh within this many seconds gets the same pair; short, so a test can wait it out.
REFRESH_GRACE_S = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn on a fresh, migrated PostgreSQL database with the demo data; a LiveServer."""
    with live_demo_server(_pg_database(), tmp_path_factory.mktemp("live"),
                          REFRESH_GRACE_S=str(REFRESH_GRACE_S)) as server:
        yield server
