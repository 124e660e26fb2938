"""Fixtures of the contract tests: the demo government behind a live gunicorn, on SQLite and PostgreSQL."""
from __future__ import annotations

import os

import pytest
import requests

from tests.conftest import _pg_database
from tests.support.live import Gunicorn, demo_database

PASSWORD = "contract-demo"
SECRET = "contract-test-secret-key-long-enough-32"


class LiveServer:
    """The served demo government: its `url`, its demo `password`, a sign-in and its settings."""

    def __init__(self, url: str, password: str, settings: dict[str, str]) -> None:
        self.url, self.password, self.settings = url, password, settings

    def login(self, username: str) -> str:
        """An access token of a demo user."""
        resp = requests.post(f"{self.url}/api/v1/auth/login",
                             json={"username": username, "password": self.password}, timeout=30)
        resp.raise_for_status()
        return resp.json()["access_token"]

    def env(self) -> dict[str, str]:
        """The environment of this server, for a CLI command (a worker) on the same database and blobs."""
        return {**os.environ, **self.settings}


def _database(kind: str, tmp_path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db", (lambda: None)
    return _pg_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request, tmp_path):
    """A migrated database with the demo data, served by gunicorn on a free 127.0.0.1 port."""
    url, drop = _database(request.param, tmp_path)
    try:
        demo_database(url, tmp_path, PASSWORD, SECRET)
        settings = {"DATABASE_URL": url, "DATA_DIR": str(tmp_path), "SECRET_KEY": SECRET}
        with Gunicorn(settings, log=tmp_path / "server.log", DEMO_PASSWORD=PASSWORD,
                      LOGIN_RATE_LIMIT="1000 per minute") as server:
            yield LiveServer(server.url, PASSWORD, settings)
    finally:
        drop()
