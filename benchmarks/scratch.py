"""A PostgreSQL database of a benchmark's own, on the server BENCH_POSTGRES_URL names (default: the
tests' server)."""
import os
import uuid
from typing import Callable

import sqlalchemy as sa

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def url_of(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def create(prefix: str) -> tuple[str, str, Callable[[], None]]:
    """A new database named `prefix_<random>`: its name, its URL and what drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return name, url_of(name), drop
