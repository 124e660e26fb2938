"""Fixtures of the contract tests: the demo government behind a live gunicorn, on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from contract_live import LiveServer, prepare

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "contract-demo"


def _database(kind: str, tmp_path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db", (lambda: None)
    name = f"mobile_contract_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN_URL}: {exc}",
                    pytrace=False)

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop


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
