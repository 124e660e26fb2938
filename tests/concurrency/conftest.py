"""The live server, once per module of these tests (see tests/live.py)."""
import pytest

from mobile_api import create_app
from models import db
from tests import live
from tests.conftest import _pg_database

# A retried refresh within this many seconds gets the same pair; short, so a test can wait it out.
REFRESH_GRACE_S = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn on a fresh, migrated PostgreSQL database with the demo data; a LiveServer."""
    url, drop = _pg_database()
    tmp = tmp_path_factory.mktemp("live")
    process = None
    try:
        process, base = live.start(url, tmp / "data", tmp / "gunicorn.log", REFRESH_GRACE_S=REFRESH_GRACE_S)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp / "data"),
                          "SECRET_KEY": live.SECRET_KEY})
        yield live.LiveServer(base, app, process)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        if process is not None:
            live.stop(process)
        drop()
