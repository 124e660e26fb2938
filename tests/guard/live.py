"""Real gunicorn processes on the test database, for promises that span processes."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` with N workers, stopped with SIGTERM on exit."""

    def __init__(self, app, workers: int = 1, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                    "DATA_DIR": app.config["DATA_DIR"], "SECRET_KEY": app.config["SECRET_KEY"],
                    "CA_PASSPHRASE": app.config["CA_PASSPHRASE"], "PORT": str(self.port),
                    "WEB_CONCURRENCY": str(workers), "WEB_THREADS": "1", "ACCESS_LOG": "0", **env}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.process = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    pytest.fail(f"gunicorn exited: {self.process.stdout.read()}")
                try:
                    if requests.get(f"{self.url}/healthz", timeout=10).status_code == 200:
                        return self
                except requests.RequestException:
                    time.sleep(0.2)
            pytest.fail("gunicorn did not come up in 90 s")
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
