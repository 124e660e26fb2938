"""A live server for tests that need real concurrency: gunicorn (2 workers x 8 threads) as a subprocess
on a free port of 127.0.0.1, on a fresh PostgreSQL database built by the migrations and loaded with the
demo government. Requests from many threads released by one barrier really land together.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from mobile_api import create_app
from models import db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "live-demo-pass"
SECRET_KEY = "live-test-secret-key-long-enough-for-hs256"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The running server: `url`, `app` (an app on the same database, for set-up and checks), `login`,
    and its gunicorn `process` (to kill its workers)."""

    def __init__(self, url: str, app, process: subprocess.Popen | None = None) -> None:
        self.url, self.app, self.process = url, app, process

    def kill_workers(self) -> None:
        """kill -9 every worker (the master starts new ones) and wait until the server answers again."""
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == self.process.pid:
                os.kill(int(entry), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not start new workers within 60 s")

    def call(self, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)

    def login(self, username: str) -> dict:
        resp = self.call("POST", "/auth/login", json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return resp.json()


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


def start(database_url: str, data_dir: Path, log_path: Path, **env) -> tuple[subprocess.Popen, str]:
    """Migrate the database, load the demo data and start gunicorn on it; returns the process and URL."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_DIR": str(data_dir)})
    with app.app_context():
        from flask_migrate import upgrade

        from mobile_api.demo import load
        upgrade()
        load(PASSWORD)
        db.session.remove()
        db.engine.dispose()
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET_KEY,
                   "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "WEB_THREADS": "8", "ACCESS_LOG": "0",
                   "LOGIN_RATE_LIMIT": "1000 per minute", **{k: str(v) for k, v in env.items()}}
    log = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                               env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                return process, url
        except requests.RequestException:  # not listening yet, or still loading the app
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{log_path.read_text(errors='replace')}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the server (gunicorn's graceful stop), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
