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
import tempfile

from tqdm import tqdm

from tests.support.live import moto_s3
from tests.support.timing import paired, timed


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
        def posts(client, body=body) -> float:
            return timed(lambda: client.post("/api/v1/devices", data=body, content_type="application/json"), 200)

        with_guard, without = guarded.test_client(), bare.test_client()
        with tqdm(total=rounds, desc=f"guard {name}", unit="round") as bar:
            result = paired(lambda: posts(with_guard), lambda: posts(without), rounds,
                            after_round=lambda *_: bar.update())
        extra = statistics.median(s - b for s, b in zip(result.subject, result.baseline))
        print(f"guard, {name:<20}: {result.ratio():.3f}x the unguarded request (+{extra * 1e6:.0f} µs per request)")


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
        times.append(timed(lambda: client.post("/api/v1/auth/login", json={"username": "exec1", "password": "no"},
                                                environ_base={"REMOTE_ADDR": f"10.0.{i}.1"}), 5))
    print(f"failed login with database limits (SQLite, scrypt included): {statistics.median(times) * 1e3:.1f} ms")


def bench_s3(rounds: int) -> None:
    import boto3

    from models import blobstore
    with moto_s3() as url:
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
            with tqdm(total=rounds, desc=f"s3 {name}", unit="round") as bar:
                result = paired(lambda: timed(lambda: fn(s3), 3), lambda: timed(lambda: fn(local), 3), rounds,
                                after_round=lambda *_: bar.update())
            print(f"blob read, {name:<12}: S3 {result.median('subject') * 1e3:.1f} ms, "
                  f"local {result.median('baseline') * 1e3:.2f} ms ({result.ratio():.0f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    bench_guard(args.rounds)
    bench_login(args.rounds)
    bench_s3(args.rounds)


if __name__ == "__main__":
    main()
