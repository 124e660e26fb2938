"""Fixtures of the contract tests: the demo government behind a live gunicorn, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.conftest import _pg_database
from tests.contract.contract_live import LiveServer, prepare

PASSWORD = "contract-demo"


def _database(kind: str, tmp_path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db", (lambda: None)
    return _pg_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request, tmp_path):
    """A migrated database with the demo data, served by gunicorn on a free 127.0.0.1 port."""
    url, drop = _database(request.param, tmp_path)
    try:
        prepare(url, tmp_path, PASSWORD)
        server = LiveServer(url, tmp_path, PASSWORD)
        try:
            yield server
        finally:
            server.stop()
    finally:
        drop()
