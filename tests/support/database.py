"""PostgreSQL for tests and benchmarks: a scratch database on the shared server, and a private cluster.

A scratch database is created on the server `TEST_POSTGRES_URL` names (the benchmarks: `BENCH_POSTGRES_URL`)
and dropped with its connections when done. A run can be killed before it drops its own (SIGKILL, a
crash), so a claimed scratch database is marked as in use for as long as its process lives, and the next
run drops what such runs left behind, never a database another live run is using.

The shared server must never be stopped, so outage tests and the fault-injection run get a cluster of
their own: initdb into a fresh directory, listening on 127.0.0.1 on a free port. PostgreSQL refuses to
run as root, so under root the cluster belongs to an unprivileged user (`postgres` if the machine has
one, else `nobody`).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.support.live import free_port

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def committed(condition: Callable[[], object]) -> Callable[[], object]:
    """`condition`, asked after the session's transaction ends and its objects expire, so that it sees
    what other processes have committed since (for `wait_for`)."""
    from models import db

    def check() -> object:
        db.session.rollback()
        db.session.expire_all()
        return condition()
    return check


def admin_url(variable: str = "TEST_POSTGRES_URL") -> str:
    """The SQLAlchemy URL of a database on the server to make scratch databases on."""
    return os.environ.get(variable, DEFAULT_ADMIN_URL)


def url_of(name: str, admin: str | None = None) -> str:
    """The URL of database `name` on the admin URL's server."""
    return (admin or admin_url()).rsplit("/", 1)[0] + f"/{name}"


def scratch_database(prefix: str, admin: str | None = None) -> tuple[str, str, Callable[[], None]]:
    """A new database `prefix_<random>`: its name, its URL and what drops it (and ends its connections).
    Raises SQLAlchemy's OperationalError when the server cannot be reached."""
    admin = admin or admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except BaseException:
        engine.dispose()
        raise

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return name, url_of(name, admin), drop


# The claim of a database: a session-level advisory lock, on the admin URL's database, keyed by its name.
# The server releases it when the session ends, however its process ended.
_CLAIM_KEY = "hashtext(:name)"


@contextmanager
def claimed_scratch_database(prefix: str, admin: str | None = None) -> Iterator[tuple[str, str]]:
    """A new database `prefix_<random>`, its name and URL, claimed by this process while the block runs
    and dropped (with its connections) however the block ends."""
    admin = admin or admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as claim:
            claim.execute(sa.text(f"SELECT pg_advisory_lock({_CLAIM_KEY})"), {"name": name})
            try:
                claim.execute(sa.text(f'CREATE DATABASE "{name}"'))
                yield name, url_of(name, admin)
            finally:
                claim.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def drop_abandoned(prefix: str, admin: str | None = None) -> list[str]:
    """Drop the databases that runs of `claimed_scratch_database(prefix)` left behind, and name them:
    those named as it names them that no process claims and nobody is connected to."""
    admin = admin or admin_url()
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    dropped = []
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname ~ :pattern ORDER BY 1"),
                                 {"pattern": f"^{re.escape(prefix)}_[0-9a-f]{{10}}$"}).scalars().all()
            for name in names:
                if not conn.execute(sa.text(f"SELECT pg_try_advisory_lock({_CLAIM_KEY})"), {"name": name}).scalar():
                    continue  # a live run's
                try:
                    # Without FORCE: one that someone is connected to (a run that makes no claim) stays.
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
                    dropped.append(name)
                except sa.exc.DBAPIError as exc:
                    if getattr(exc.orig, "sqlstate", None) != "55006":  # object_in_use
                        raise
                finally:
                    conn.execute(sa.text(f"SELECT pg_advisory_unlock({_CLAIM_KEY})"), {"name": name})
    finally:
        engine.dispose()
    return dropped


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                           "(apt-get install -y postgresql)")
    return Path(found[-1]).parent


class PgCluster:
    """initdb, start, stop, start again, remove; `url` is the SQLAlchemy URL of database `app`."""

    def __init__(self, port: int | None = None) -> None:
        self.bin = _bin_dir()
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pg-private-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres" if _has_user("postgres") else "nobody"
            os.chmod(self.root, 0o700)
            shutil.chown(self.root, self.user)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/app"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd=self.root)

    def init(self) -> PgCluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "app")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: roll back open transactions and cut every connection)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def remove(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.init()

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
