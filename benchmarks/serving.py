"""What the served benchmarks (inbox, control, acting) share: their seeded PostgreSQL database, the API
and a bare Flask endpoint on the same gunicorn settings, wrk, and the cost of a request read from /proc.

wrk shares the machine with the server, so requests/s alone would measure both: each run also reports
the CPU seconds the gunicorn process tree and every PostgreSQL process spent on it, per request.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import sqlalchemy as sa

from benchmarks.signals import stop_on_signals
from tests.debian import apt_install
from tests.support.database import admin_url, claimed_scratch_database, drop_abandoned, scratch_database, url_of
from tests.support.live import Gunicorn

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PASSWORD = os.environ.get("DEMO_PASSWORD", "demo")
ADMIN_URL = admin_url("BENCH_POSTGRES_URL")
TICK = os.sysconf("SC_CLK_TCK")


def need_wrk() -> str:
    if not shutil.which("wrk"):
        print("installing wrk (Debian package)...", flush=True)
        apt_install("wrk")
    return shutil.which("wrk")


@contextmanager
def seeded_database(prefix: str, args: argparse.Namespace, *seed_options: str) -> Iterator[tuple[str, sa.Engine]]:
    """The URL of a database and an engine on it: `args.reuse` as it is, or a new one named after
    `prefix`, migrated and filled by `flask seed --users --documents` (and `seed_options`). A new one is
    dropped at the end however the run ends (SIGTERM included; one a killed run left is dropped by the
    next), unless `args.keep` keeps it, named `prefix_kept_...`."""
    stop_on_signals()
    with ExitStack() as stack:
        if args.reuse:
            name, url = args.reuse, url_of(args.reuse, ADMIN_URL)
        elif args.keep:
            name, url, _ = scratch_database(f"{prefix}_kept", ADMIN_URL)
        else:
            for abandoned in drop_abandoned(prefix, ADMIN_URL):
                print(f"dropped {abandoned}, left by an earlier run", flush=True)
            name, url = stack.enter_context(claimed_scratch_database(prefix, ADMIN_URL))
            stack.callback(print, f"dropped {name}")
        env = {**os.environ, "DATABASE_URL": url, "DEMO_PASSWORD": PASSWORD}
        if not args.reuse:
            subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                           capture_output=True)
            print(f"seeding {args.users} users, {args.documents} documents into {name}...", flush=True)
            started = time.perf_counter()
            subprocess.run([str(BIN / "flask"), "--app", "wsgi", "seed", "--users", str(args.users),
                            "--documents", str(args.documents), *seed_options], cwd=ROOT, env=env, check=True)
            print(f"seed time: {time.perf_counter() - started:.0f} s", flush=True)
        engine = sa.create_engine(url)
        stack.callback(engine.dispose)
        if args.keep and not args.reuse:
            stack.callback(print, f"kept {name}: --reuse {name}")
        yield url, engine


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live children, and the children it has reaped (restarted workers)."""
    def stat(p):
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    total = 0.0
    fields = stat(pid)
    total += sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                child = stat(entry)
            except OSError:
                continue
            if int(child[1]) == pid:
                total += (int(child[11]) + int(child[12])) / TICK
    return total


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process of this machine (the region's one shared database), and
    of those that have ended: the postmaster reaps its backends, and their time is then its children's
    (a connection closed during a run would otherwise take its time out of the sum)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    head, rest = f.read().rsplit(")", 1)
            except OSError:
                continue
            if head.endswith("(postgres"):
                total += sum(int(x) for x in rest.split()[11:15]) / TICK  # utime stime cutime cstime
    return total


def serve(app: str, url: str, workers: int, **settings: str) -> Gunicorn:
    """The API or the bare endpoint on the same gunicorn settings (and any further settings given)."""
    # No keep-alive (connections = threads), for both servers: wrk's few connections would at times all
    # land on one worker and leave the other idle (see gunicorn.conf.py)
    return Gunicorn({"DATABASE_URL": url, "PYTHONPATH": str(ROOT), "DEMO_PASSWORD": PASSWORD, "MAX_REQUESTS": "0",
                     "WORKER_CONNECTIONS": "2", **settings}, app=app, workers=workers, threads=2,
                    ready="/healthz" if "wsgi" in app else "/bare").start()


def call(port, method, path, token=None, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    hdrs = {**({"Content-Type": "application/json"} if body is not None else {}),
            **({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=hdrs)
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read()
        return resp.status, (json.loads(text) if text else None), resp.headers


def sign_in(server: Gunicorn, username: str) -> str:
    """An access token of a seeded user (every one has the demo password)."""
    return call(server.port, "POST", "/api/v1/auth/login", body={"username": username,
                                                                  "password": PASSWORD})[1]["access_token"]


def wrk(port, path, seconds, headers=None, script=None, connections=4) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = sorted(set(re.findall(r"^failed: (.*)$", out, re.M)))  # written by the scripts' response()
    return {"requests": total, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms("50"), "p99": ms("99"), "bad": int(bad.group(1)) if bad else 0, "failed": failed}


def measure(server: Gunicorn, path, seconds, headers=None, script=None, connections=4) -> dict:
    before, db_before = tree_cpu(server.process.pid), postgres_cpu()
    result = wrk(server.port, path, seconds, headers, script, connections)
    result["cpu_ms"] = (tree_cpu(server.process.pid) - before) * 1000 / max(1, result["requests"])
    result["db_ms"] = (postgres_cpu() - db_before) * 1000 / max(1, result["requests"])
    return result


def in_rounds(reads: dict[str, tuple[Gunicorn, str, dict]], rounds: int, seconds: int) -> dict[str, list[dict]]:
    """Each read (its server, path and headers) measured once a round, all of them in every round, so that
    a read and its baseline share each round's machine (compare them with tests.support.timing.Paired)."""
    results = {name: [] for name in reads}
    for r in range(rounds):
        for name, (server, path, hdrs) in reads.items():
            print(f"round {r + 1}/{rounds}: {name}...", flush=True)
            results[name].append(measure(server, path, seconds, hdrs))
    return results
