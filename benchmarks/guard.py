"""What the request guard and the object store cost.

1. The request guard (mobile_api/guard.py) on POST bodies: the same app with and without the guard,
   alternating, for a typical 1 KB JSON body and a 60 KB worst case (many brackets: a full parse
   and walk). The request fails authentication right after the guard, so nothing else differs.
2. Failed logins with the database-backed limits, on SQLite, per attempt (scrypt included).
3. Reading a stored 4 MB file, whole and a 64 KB range from the middle, from the S3 store (moto's
   server on 127.0.0.1, so network and S3 protocol included) against the local directory.

Each figure is the median of paired ratios over rounds, with the baseline measured in the same run.
Run from the repository root: ``python -m benchmarks.guard [--rounds 15]``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from tqdm import tqdm


def _timed(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def bench_guard(rounds: int) -> None:
    from mobile_api import create_app
    data_dir = tempfile.mkdtemp()
    guarded = create_app({"DATA_DIR": data_dir, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data_dir}/b.db"})
    bare = create_app({"DATA_DIR": data_dir, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data_dir}/b.db"})
    funcs = bare.before_request_funcs[None]
    funcs[:] = [f for f in funcs if f.__name__ != "_guard_request"]  # the baseline: no guard
    small = json.dumps({"token": "x" * 160, "platform": "android", "locale": "ru-RU", "app_version": "4.2.1",
                        "notes": ["a" * 40] * 18}).encode()
    count = 5000
    while len(big := json.dumps({"rows": [[{"a": [i]}] for i in range(count)]}).encode()) > 60_000:
        count -= 100
    for name, body in (("1 KB JSON", small), ("60 KB, 20k brackets", big)):
        ratios, times = [], []
        clients = guarded.test_client(), bare.test_client()
        for _ in tqdm(range(rounds), desc=f"guard {name}", unit="round"):
            pair = [_timed(lambda c=c: c.post("/api/v1/devices", data=body, content_type="application/json"), 200)
                    for c in clients]
            ratios.append(pair[0] / pair[1])
            times.append(pair[0] - pair[1])
        print(f"guard, {name:<20}: {statistics.median(ratios):.3f}x the unguarded request "
              f"(+{statistics.median(times) * 1e6:.0f} µs per request)")


def bench_login(rounds: int) -> None:
    from mobile_api import create_app
    from mobile_api.demo import load
    from models import db
    data_dir = tempfile.mkdtemp()
    app = create_app({"DATA_DIR": data_dir, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{data_dir}/l.db",
                      "LOGIN_RATE_LIMIT": "100000 per minute", "LOGIN_USERNAME_LIMIT": "100000 per minute",
                      "LOGIN_ADDRESS_LIMIT": "100000 per minute"})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
        load("demo")
        db.session.commit()
    client = app.test_client()
    times = []
    for i in tqdm(range(rounds), desc="failed logins", unit="round"):
        times.append(_timed(lambda: client.post("/api/v1/auth/login", json={"username": "exec1", "password": "no"},
                                                environ_base={"REMOTE_ADDR": f"10.0.{i}.1"}), 5))
    print(f"failed login with database limits (SQLite, scrypt included): {statistics.median(times) * 1e3:.1f} ms")


def bench_s3(rounds: int) -> None:
    import boto3
    import requests

    from models import blobstore
    from tests.guard.live import free_port
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                requests.get(url, timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.1)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        boto3.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="bench")
        data_dir = tempfile.mkdtemp()
        s3 = blobstore.from_config({"BLOB_STORE": "s3://bench/b", "S3_ENDPOINT_URL": url, "S3_REGION": "us-east-1",
                                    "DATA_DIR": data_dir})
        local = blobstore.from_config({"DATA_DIR": data_dir})
        content = os.urandom(4 * 1024 * 1024)
        sha, _ = s3.put(io.BytesIO(content))
        local.put(io.BytesIO(content))

        def whole(store):
            with store.open(sha) as blob:
                assert len(blob.read()) == len(content)

        def middle(store):
            with store.open(sha) as blob:
                blob.seek(2 * 1024 * 1024)
                assert len(blob.read(64 * 1024)) == 64 * 1024

        for name, fn in (("whole 4 MB", whole), ("64 KB range", middle)):
            pairs = []
            for _ in tqdm(range(rounds), desc=f"s3 {name}", unit="round"):
                pairs.append((_timed(lambda: fn(s3), 3), _timed(lambda: fn(local), 3)))
            ratio = statistics.median(a / b for a, b in pairs)
            print(f"blob read, {name:<12}: S3 {statistics.median(a for a, _ in pairs) * 1e3:.1f} ms, "
                  f"local {statistics.median(b for _, b in pairs) * 1e3:.2f} ms ({ratio:.0f}x)")
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    bench_guard(args.rounds)
    bench_login(args.rounds)
    bench_s3(args.rounds)


if __name__ == "__main__":
    main()
