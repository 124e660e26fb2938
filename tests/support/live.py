"""Real servers for tests and benchmarks: a free port, waiting for readiness, gunicorn, a served demo database."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], T], timeout: float, what: str, *, interval: float = 0.1,
             process: subprocess.Popen | None = None, log: Path | None = None) -> T:
    """Call `condition` until it returns something true, and return that. A connection error counts as
    "not yet". Raises RuntimeError after `timeout` seconds, or as soon as `process` (the thing waited
    for) has exited; the error ends with the tail of `log`."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before {what}{_tail(log)}")
        try:
            if result := condition():
                return result
        except (requests.RequestException, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout:.0f} s{_tail(log)}")
        time.sleep(interval)


def answers(url: str) -> Callable[[], bool]:
    """A condition for `wait_for`: `url` answers 200."""
    return lambda: requests.get(url, timeout=5).status_code == 200


def _tail(log: Path | None, size: int = 4000) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + log.read_text(errors="replace")[-size:]


def demo_database(database_url: str, data_dir: Path | str, password: str, secret_key: str = "demo-secret") -> None:
    """Migrate the database to the latest revision and load the demo government into it, in this process."""
    from flask_migrate import upgrade

    from mobile_api import create_app
    from mobile_api.demo import load
    from models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_DIR": str(data_dir), "SECRET_KEY": secret_key})
    with app.app_context():
        upgrade(revision="heads")
        load(password)
        db.session.remove()
        db.engine.dispose()


def app_settings(app) -> dict[str, str]:
    """The environment that points another process at the same database, blobs and keys as `app`."""
    return {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "DATA_DIR": str(app.config["DATA_DIR"]),
            "SECRET_KEY": app.config["SECRET_KEY"], "CA_PASSPHRASE": app.config["CA_PASSPHRASE"]}


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` on a free port of 127.0.0.1, as a context manager.

    Its output goes to a file (`log`), never to a pipe nobody reads, which would block it once full.
    It is ready when `ready` answers 200; it stops on SIGINT (gunicorn's quick shutdown: SIGTERM would
    wait out idle keep-alive connections), and its whole process group is killed if it lingers.
    """

    START_S = 120
    STOP_S = 20

    def __init__(self, settings: dict[str, str] | None = None, *, app: str = "wsgi:app", workers: int = 1,
                 threads: int = 4, log: Path | None = None, ready: str = "/healthz", **env: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app, self.ready = app, ready
        self.log, self._own_log = Path(log or tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1]), log is None
        self.env = {**os.environ, "BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(workers),
                    "WEB_THREADS": str(threads), "ACCESS_LOG": "0",
                    **(settings or {}), **{key: str(value) for key, value in env.items()}}
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        # No control socket: gunicorn's default is one path per user, which servers running side by side share.
        command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--no-control-socket",
                   self.app]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        try:
            wait_for(answers(self.url + self.ready), self.START_S, f"answer from gunicorn at {self.url}",
                     process=self.process, log=self.log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGINT, then SIGKILL to the process group (master and workers) after STOP_S seconds. A log
        file of its own (no `log` given) goes with it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(self.STOP_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self._own_log:
            self.log.unlink(missing_ok=True)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def workers(self) -> list[int]:
        """The process ids of the master's workers."""
        pids = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == self.process.pid:
                pids.append(int(entry))
        return pids

    def kill_workers(self) -> None:
        """kill -9 every worker (the master starts new ones) and wait until the server answers again."""
        for pid in self.workers():
            os.kill(pid, signal.SIGKILL)
        wait_for(answers(self.url + self.ready), 60, "answer from new gunicorn workers", process=self.process,
                 log=self.log)


class LiveServer:
    """The served demo government: `url`, `app` (an app on the same database, for set-up and checks),
    `call`, `login`, `ids`, `letter` and `kill_workers`."""

    def __init__(self, gunicorn: Gunicorn, app, password: str) -> None:
        self.gunicorn, self.url, self.app, self.password = gunicorn, gunicorn.url, app, password

    def kill_workers(self) -> None:
        self.gunicorn.kill_workers()

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)

    def login(self, username: str) -> dict:
        resp = self.call("POST", "/auth/login", json={"username": username, "password": self.password})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def ids(self, *usernames: str) -> list[str]:
        """The ids of demo users, as the API writes them, in the order named."""
        from models import User, db

        with self.app.app_context():
            by_name = dict(db.session.execute(
                sa.select(User.username, User.id).where(User.username.in_(usernames))).all())
        return [str(by_name[name]) for name in usernames]

    def letter(self) -> str:
        """The id of a fresh letter registered by clerk1 for the minister's office (exec1, his assistant
        and the minister see it)."""
        from models import Unit, db

        with self.app.app_context():
            office = db.session.scalar(sa.select(Unit.id).where(Unit.short_name == "Аппарат"))
        meta = {"title": f"Письмо {uuid.uuid4().hex[:6]}", "correspondent": "ГКУ «ЦИТ»", "addressees": [str(office)]}
        resp = self.call("POST", "/documents", self.login("clerk1")["access_token"],
                         data={"metadata": json.dumps(meta, ensure_ascii=False)},
                         files={"file": ("Письмо.txt", "Текст письма".encode())})
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]


@contextmanager
def live_demo_server(database: tuple[str, Callable[[], None]], directory: Path, *, password: str = "live-demo-pass",
                     secret_key: str = "live-test-secret-key-long-enough-for-hs256",
                     **settings: str) -> Iterator[LiveServer]:
    """gunicorn (2 workers x 8 threads, the threads that make requests race) on `database` (its URL and
    what drops it, dropped at the end), migrated and loaded with the demo government, its blobs and its
    log in `directory`; `settings` are further environment variables of the server."""
    from mobile_api import create_app
    from models import db

    url, drop = database
    data = directory / "data"
    try:
        demo_database(url, data, password, secret_key)
        server_settings = {"DATABASE_URL": url, "DATA_DIR": str(data), "SECRET_KEY": secret_key,
                           "LOGIN_RATE_LIMIT": "1000 per minute", **settings}
        with Gunicorn(server_settings, workers=2, threads=8, log=directory / "gunicorn.log") as gunicorn:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(data), "SECRET_KEY": secret_key})
            try:
                yield LiveServer(gunicorn, app, password)
            finally:
                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
    finally:
        drop()


def together(calls: list) -> list:
    """Run each zero-argument call in its own thread, all released at once; their results in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # noqa: BLE001  (handed to the test, which fails on it)
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results



class FlaskCommand:
    """`flask --app wsgi <args>` (the transcription worker, the push dispatcher) as a process of its own,
    as a context manager that kills it if it is still running at the end. Its output goes to a file
    (`log`), never to a pipe read only at the end, which would block it once full."""

    def __init__(self, *args: str, settings: dict[str, str], log: Path | None = None) -> None:
        self.log, self._own_log = Path(log or tempfile.mkstemp(prefix="flask-", suffix=".log")[1]), log is None
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                                            env={**os.environ, **settings}, stdout=out, stderr=subprocess.STDOUT)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> str:
        """Send `sig` (unless it has exited already) and wait for the exit; its output."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout)
        return self.output()

    def wait(self, timeout: float = 60) -> str:
        """Wait for it to exit by itself; its output."""
        self.process.wait(timeout)
        return self.output()

    def __enter__(self) -> FlaskCommand:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Kill it if it still runs; a log file of its own (no `log` given) goes with it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self._own_log:
            self.log.unlink(missing_ok=True)


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3-compatible server (a real HTTP S3 API) on a free port of 127.0.0.1; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: requests.get(url, timeout=5) is not None, 60, "answer from moto's S3 server", process=server)
        yield url
    finally:
        server.terminate()
        server.wait(30)
