"""A live server for contract tests: a migrated database with the demo government, gunicorn on a free port."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SECRET = "contract-test-secret-key-long-enough-32"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(database_url: str, data_dir: Path, password: str) -> None:
    """Migrate the database and load the demo data, in this process."""
    from flask_migrate import upgrade

    from mobile_api import create_app
    from mobile_api.demo import load
    from models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET})
    with app.app_context():
        upgrade(revision="heads")
        load(password)
        db.session.remove()
        db.engine.dispose()


class LiveServer:
    """gunicorn serving wsgi:app on 127.0.0.1; stopped with SIGTERM, killed if it lingers."""

    def __init__(self, database_url: str, data_dir: Path, password: str, **env: str) -> None:
        self.database_url, self.data_dir, self.password = database_url, data_dir, password
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir / "server.log", "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"], cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "SECRET_KEY": SECRET,
                 "DEMO_PASSWORD": password, "BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": "1",
                 "WEB_THREADS": "4", "ACCESS_LOG": "0", "LOGIN_RATE_LIMIT": "1000 per minute", **env},
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start within 180 s")

    def login(self, username: str) -> str:
        """An access token of a demo user."""
        resp = requests.post(f"{self.url}/api/v1/auth/login",
                             json={"username": username, "password": self.password}, timeout=30)
        resp.raise_for_status()
        return resp.json()["access_token"]

    def env(self) -> dict[str, str]:
        """The environment of this server, for a CLI command (a worker) on the same database and blobs."""
        return {**os.environ, "DATABASE_URL": self.database_url, "DATA_DIR": str(self.data_dir), "SECRET_KEY": SECRET}

    def stop(self) -> None:
        # SIGINT is gunicorn's quick shutdown: SIGTERM would wait out idle keep-alive connections.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()
