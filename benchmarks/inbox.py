"""Inbox throughput at regional scale, against a bare Flask JSON endpoint on the same server settings.

    .venv/bin/python -m benchmarks.inbox [--users 22000 --documents 2200000] [--reuse]

Creates (or with --reuse keeps) the PostgreSQL database `bench_inbox`, seeds it with `flask seed`,
serves the API and the bare endpoint with gunicorn (same settings), and prints requests/s and
p50/p99 latency of the first and of a deep inbox page, bytes per item, and PostgreSQL's plans.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from benchmarks import loadgen

ROOT = Path(__file__).resolve().parent.parent
ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DB = "bench_inbox"
URL = ADMIN.rsplit("/", 1)[0] + f"/{DB}"
BIN = Path(sys.executable).parent


def sh(*args, **env):
    return subprocess.run(args, cwd=ROOT, env={**os.environ, "DATABASE_URL": URL, **env}, check=True)


def serve(app: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": URL, "PORT": str(port), "WEB_CONCURRENCY": str(workers),
           "ACCESS_LOG": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", app], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz" if "wsgi" in app else
                                   f"http://127.0.0.1:{port}/bare", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{app} did not start")


def post_json(port, path, body, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    return json.load(urllib.request.urlopen(req))


def get_json(port, path, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(req))


def explain(engine, sql: str, **params) -> str:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + sql), params).scalars().all()
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=22000)
    parser.add_argument("--documents", type=int, default=2_200_000)
    parser.add_argument("--heavy-inbox", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    args = parser.parse_args()

    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    if not args.reuse:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{DB}"'))
        sh(str(BIN / "flask"), "--app", "wsgi", "db", "upgrade", "heads")
        started = time.perf_counter()
        sh(str(BIN / "flask"), "--app", "wsgi", "seed", "--users", str(args.users),
           "--documents", str(args.documents), "--heavy-inbox", str(args.heavy_inbox))
        print(f"seeding took {time.perf_counter() - started:.0f} s", flush=True)
        sh(str(BIN / "psql") if (BIN / "psql").exists() else "psql", "-q", "-h", "127.0.0.1", "-U", "postgres",
           "-d", DB, "-c", "VACUUM ANALYZE")
    engine = sa.create_engine(URL)
    with engine.connect() as conn:
        heavy = conn.execute(sa.text(
            "SELECT u.username, u.id FROM users u JOIN inbox_items i ON i.user_id = u.id "
            "GROUP BY u.id ORDER BY count(*) DESC LIMIT 1")).one()
        conn.execute(sa.text("UPDATE users SET password_hash = (SELECT password_hash FROM users LIMIT 1)"))
        conn.commit()

    api = serve("wsgi:app", 8801, args.workers)
    bare = serve("benchmarks.bare_app:app", 8802, args.workers)
    try:
        token = post_json(8801, "/api/v1/auth/login", {"username": heavy.username, "password": "seed"})["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        # Walk to a page near the end of the 5,000-item inbox for the deep-page cursor.
        cursor, pages = None, 0
        while pages < args.heavy_inbox // 100 - 1:
            page = get_json(8801, "/api/v1/inbox?limit=100" + (f"&cursor={cursor}" if cursor else ""), token)
            cursor, pages = page["next_cursor"], pages + 1
        first = get_json(8801, "/api/v1/inbox", token)["items"]
        per_item = sum(len(json.dumps(i, ensure_ascii=False, separators=(",", ":")).encode()) for i in first) / len(first)

        results = {}
        for name, port, path, headers in (
            ("bare flask JSON", 8802, "/bare", {}),
            ("inbox first page", 8801, "/api/v1/inbox", auth),
            ("inbox deep page", 8801, f"/api/v1/inbox?cursor={cursor}", auth),
        ):
            print(f"measuring {name} for {args.seconds:.0f} s with {args.clients} clients...", flush=True)
            results[name] = loadgen.run(port, path, headers, args.seconds, args.clients)
    finally:
        for proc in (api, bare):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()

    print(f"\n{'endpoint':<20}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'bytes':>8}")
    for name, r in results.items():
        print(f"{name:<20}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['errors']:>8}{r['body_bytes']:>8}")
    base = results["bare flask JSON"]["rps"]
    print(f"\ninbox first page / bare: {results['inbox first page']['rps'] / base:.2f} (target >= 0.50)")
    print(f"inbox deep page / first page: {results['inbox deep page']['rps'] / results['inbox first page']['rps']:.2f}")
    print(f"bytes per inbox item (JSON): {per_item:.0f} (target < 400)")

    uid = heavy.id
    with engine.connect() as conn:
        at, item_id = conn.execute(sa.text(
            "SELECT received_at, id FROM inbox_items WHERE user_id = :u AND NOT removed "
            "ORDER BY received_at DESC, id DESC OFFSET 4900 LIMIT 1"), {"u": uid}).one()
    plans = {
        "inbox first page": explain(engine, "SELECT * FROM inbox_items WHERE user_id = :u AND removed = false "
                                    "ORDER BY received_at DESC, id DESC LIMIT 26", u=uid),
        "inbox deep page": explain(engine, "SELECT * FROM inbox_items WHERE user_id = :u AND removed = false AND "
                                   "(received_at, id) < (:at, :id) ORDER BY received_at DESC, id DESC LIMIT 26",
                                   u=uid, at=at, id=item_id),
        "sync inbox": explain(engine, "SELECT * FROM inbox_items WHERE user_id = :u AND seq > 0 ORDER BY seq "
                              "LIMIT 101", u=uid),
        "sync tasks": explain(engine, "SELECT * FROM tasks WHERE executor_id = :u AND seq > 0 ORDER BY seq LIMIT 101",
                              u=uid),
    }
    for name, plan in plans.items():
        verdict = "uses an index" if "Index" in plan and "Seq Scan" not in plan else "SCANS"
        print(f"\nEXPLAIN {name}: {verdict}\n{plan}")


if __name__ == "__main__":
    main()
