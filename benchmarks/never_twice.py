"""What "never twice" costs a request: a task completion with an Idempotency-Key (claim, then answer
recorded with the work) and its replay, against the same completion without a key, in the same run.

    .venv/bin/python -m benchmarks.never_twice [--tasks 150] [--rounds 5] [--database sqlite|postgresql|both]

In-process through Flask's test client, on a throwaway SQLite file and a throwaway PostgreSQL database
(`BENCH_POSTGRES_URL`, default the test server). Each round completes `--tasks` tasks in pairs: one
without a key (the baseline), one with a fresh key, then replays that key; it prints the median of the
per-pair ratios of each round, and the median over rounds.
"""
import argparse
import statistics
import tempfile
import time
import uuid

import sqlalchemy as sa
from tqdm import tqdm

from domain import access
from domain import resolutions as rules
from mobile_api import create_app
from models import Document, Task, User, db
from benchmarks.signals import stop_on_signals
from tests.support.database import admin_url, scratch_database
from tests.support.live import demo_database

PASSWORD = "bench"


def _tasks(n: int) -> list[int]:
    """n open tasks of employee1, from resolutions of exec1 issued through the rules."""
    exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
    employee1 = db.session.scalar(sa.select(User.id).where(User.username == "employee1"))
    doc = access.get_document(exec1, db.session.scalar(sa.select(Document.id).order_by(Document.id).limit(1)))
    ids = []
    for i in range(n):
        res = rules.create(exec1, doc, f"Поручение {i}", [employee1], None)
        rules.issue(exec1, res.id)
        ids += db.session.scalars(sa.select(Task.id).where(Task.resolution_id == res.id))
    db.session.commit()
    return ids


def _timed(client, path: str, headers: dict) -> float:
    start = time.perf_counter()
    resp = client.post(path, json={"report": "Исполнено"}, headers=headers)
    elapsed = time.perf_counter() - start
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return elapsed


def run(url: str, data_dir: str, tasks: int, rounds: int) -> None:
    demo_database(url, data_dir, PASSWORD, "b" * 40)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": data_dir, "SECRET_KEY": "b" * 40})
    with app.app_context():
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "employee1", "password": PASSWORD}).get_json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        keyed, replayed = [], []
        for round_ in range(rounds):
            ids = _tasks(tasks)
            pairs = []
            for plain_id, keyed_id in tqdm(list(zip(ids[::2], ids[1::2])), desc=f"round {round_ + 1}", unit="pair"):
                key = {**auth, "Idempotency-Key": uuid.uuid4().hex}
                base = _timed(client, f"/api/v1/tasks/{plain_id}/complete", auth)
                first = _timed(client, f"/api/v1/tasks/{keyed_id}/complete", key)
                again = _timed(client, f"/api/v1/tasks/{keyed_id}/complete", key)
                pairs.append((base, first / base, again / base))
            keyed.append(statistics.median(p[1] for p in pairs))
            replayed.append(statistics.median(p[2] for p in pairs))
            print(f"  round {round_ + 1}: without key {statistics.median(p[0] for p in pairs) * 1000:.2f} ms, "
                  f"with a new key x{keyed[-1]:.2f}, replay x{replayed[-1]:.2f}")
        print(f"{db.engine.dialect.name}: median over rounds: with a new key x{statistics.median(keyed):.2f}, "
              f"replay x{statistics.median(replayed):.2f} (of a completion without a key)")
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    stop_on_signals()  # SIGTERM too drops the scratch database, in the finally below
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database in ("sqlite", "both"):
            run(f"sqlite:///{tmp}/bench.db", tmp, args.tasks, args.rounds)
        if args.database in ("postgresql", "both"):
            _, url, drop = scratch_database("bench_twice", admin_url("BENCH_POSTGRES_URL"))
            try:
                run(url, tmp, args.tasks, args.rounds)
            finally:
                drop()


if __name__ == "__main__":
    main()
