"""The live server of the race of an issue and a reject: gunicorn (2 workers x 8 threads) on a fresh
PostgreSQL database with the demo data, once per module."""
import pytest

from tests.conftest import _pg_database
from tests.support.live import live_demo_server
from tests.voice.conftest import models, worker  # noqa: E402, F401  (a real Vosk model and worker)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn on a fresh, migrated PostgreSQL database with the demo data; a LiveServer."""
    with live_demo_server(_pg_database(), tmp_path_factory.mktemp("live")) as server:
        yield server
