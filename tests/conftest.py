"""Shared fixtures: every app test runs on SQLite and on PostgreSQL, on a schema built by the migrations.

PostgreSQL is required: if it cannot be reached the tests that need it error out (they are never
skipped), so a CI without the database goes red.
"""
import glob

import pytest
import sqlalchemy as sa

from mobile_api import create_app
from models import db
from tests.contract.answers import answers_are_in_the_contract  # noqa: F401  (every run holds its answers to it)
from tests.debian import apt_install
from tests.support.database import admin_url, scratch_database

PG_ADMIN_URL = admin_url()
DEMO_PASSWORD = "demo-pass"
OPS_PATHS = ("/healthz", "/readyz", "/metrics")


def _pg_database() -> tuple[str, callable]:
    """A scratch PostgreSQL database: its URL and what drops it. The tests fail without PostgreSQL."""
    try:
        _, url, drop = scratch_database("mobile_test", PG_ADMIN_URL)
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN_URL}: {exc}",
                    pytrace=False)
    return url, drop


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):
    """A migrated, empty database of each kind, made once per test session."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/test.db", (lambda: None)
    else:
        url, drop = _pg_database()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade(revision="heads")
        db.engine.dispose()
    yield url
    drop()


def _empty_all_tables() -> None:
    existing = set(sa.inspect(db.engine).get_table_names())
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name in existing]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        with db.engine.connect() as conn:  # resolutions and tasks point at each other
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for table in tables:
                conn.execute(table.delete())
            conn.commit()
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    db.session.commit()


@pytest.fixture
def app(database_url, tmp_path):
    """A fresh app on an emptied database, with its own data directory."""
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "test-secret-key-that-is-long-enough-32",
        "DEMO_PASSWORD": DEMO_PASSWORD,
    })
    with app.app_context():
        _empty_all_tables()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def demo(app):
    """The demo government; returns {username: User}."""
    from mobile_api.demo import load
    from models import User

    load(DEMO_PASSWORD)
    return {u.username: u for u in db.session.scalars(sa.select(User))}


class Api:
    """A signed-in test client: `api.get("/inbox")` prefixes /api/v1 and sends the bearer token."""

    def __init__(self, client, tokens: dict):
        self.client, self.tokens = client, tokens

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def _call(self, method, path, headers=None, **kwargs):
        url = path if path.startswith("/api/") or path in OPS_PATHS else f"/api/v1{path}"
        return getattr(self.client, method)(url, headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path, **kw):
        return self._call("get", path, **kw)

    def post(self, path, **kw):
        return self._call("post", path, **kw)

    def patch(self, path, **kw):
        return self._call("patch", path, **kw)

    def put(self, path, **kw):
        return self._call("put", path, **kw)

    def delete(self, path, **kw):
        return self._call("delete", path, **kw)


@pytest.fixture
def login(client, demo):
    """login("exec1") -> Api signed in as that demo user."""

    def _login(username: str) -> Api:
        resp = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
        assert resp.status_code == 200, resp.get_json()
        return Api(client, resp.get_json())

    return _login


def _libfaketime() -> str | None:
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1")
    return found[0] if found else None


@pytest.fixture(scope="session")
def faketime() -> str:
    """libfaketime, to run a real process whose machine clock is wrong (preloaded: the `faketime`
    wrapper would not pass SIGTERM on); installed from Debian's packages when missing."""
    if _libfaketime() is None:
        apt_install("faketime")
    return _libfaketime()


def pytest_collection_modifyitems(items):
    """Files with slow tests run first: with a file per process, a long file started last keeps one
    process busy while the others have nothing left to do."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: each file's order is kept
