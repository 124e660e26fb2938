"""The live server, once per module of these tests: gunicorn (2 workers x 8 threads) on a fresh PostgreSQL
database built by the migrations and loaded with the demo government."""
import pytest
import requests

from mobile_api import create_app
from models import db
from tests.conftest import _pg_database
from tests.support.live import Gunicorn, demo_database

PASSWORD = "live-demo-pass"
SECRET_KEY = "live-test-secret-key-long-enough-for-hs256"
# A retried refresh within this many seconds gets the same pair; short, so a test can wait it out.
REFRESH_GRACE_S = 2


class LiveServer:
    """The running server: `url`, `app` (an app on the same database, for set-up and checks), `call`,
    `login`, and `kill_workers`."""

    def __init__(self, gunicorn: Gunicorn, app) -> None:
        self.gunicorn, self.url, self.app = gunicorn, gunicorn.url, app

    def kill_workers(self) -> None:
        self.gunicorn.kill_workers()

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)

    def login(self, username: str) -> dict:
        resp = self.call("POST", "/auth/login", json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn on a fresh, migrated PostgreSQL database with the demo data; a LiveServer."""
    url, drop = _pg_database()
    data = tmp_path_factory.mktemp("live") / "data"
    try:
        demo_database(url, data, PASSWORD, SECRET_KEY)
        settings = {"DATABASE_URL": url, "DATA_DIR": str(data), "SECRET_KEY": SECRET_KEY,
                    "LOGIN_RATE_LIMIT": "1000 per minute", "REFRESH_GRACE_S": str(REFRESH_GRACE_S)}
        with Gunicorn(settings, workers=2, threads=8, log=data.parent / "gunicorn.log") as gunicorn:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(data), "SECRET_KEY": SECRET_KEY})
            yield LiveServer(gunicorn, app)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        drop()
