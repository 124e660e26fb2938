"""Push fan-out: one resolution issued to 1,000 executors with two phones each, through a fake FCM.

The dispatcher (claim, plan, record every delivery before and after sending, settle) against a bare
loop of `messaging.send_each` over the same messages, with the same firebase_admin app, in the same
run. Run from the repository root: ``python -m benchmarks.push_fanout [--executors 1000] [--devices 2]``.
Needs PostgreSQL (BENCH_POSTGRES_URL, default the tests' server); a database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from firebase_admin import messaging
from tqdm import tqdm

from mobile_api import create_app
from push.dispatcher import Dispatcher, Settings
from push.fcm import MAX_BATCH, FcmSender
from push.messages import Event, build_message
from push.sender import OutgoingMessage, SendResult
from benchmarks.signals import stop_on_signals
from tests.fakes.fcm_server import FakeFcm, generate_key, write_service_account
from tests.support.database import admin_url, scratch_database


class TimedFcm(FakeFcm):
    """The fake FCM, noting when it answered last."""

    last_answer = 0.0

    def _answer_send(self, project, headers, body):
        answer = super()._answer_send(project, headers, body)
        self.last_answer = time.perf_counter()
        return answer


class RecordingSender:
    """Passes batches to the FCM sender and keeps the messages for the bare loop."""

    def __init__(self, inner: FcmSender) -> None:
        self.inner = inner
        self.messages: list[messaging.Message] = []

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        self.messages.extend(o.message for o in messages)
        return self.inner.send(messages)


def progress(fake: FakeFcm, total: int, desc: str) -> tuple[threading.Event, threading.Thread]:
    """A bar that follows the fake's count of answered sends."""
    done, start = threading.Event(), len(fake.sends())

    def follow() -> None:
        with tqdm(total=total, desc=desc, unit="msg") as bar:
            while True:
                stop = done.wait(0.2)
                bar.n = min(total, len(fake.sends()) - start)
                bar.refresh()
                if stop:
                    return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    return done, thread


def seed(executors: int, devices: int) -> tuple[int, int, list[int]]:
    """The demo government plus `executors` people with `devices` phones each; (author, document, ids)."""
    from mobile_api.demo import load
    from models import Device, InboxItem, OutboxMessage, User, db

    load("bench-password")
    author = db.session.scalar(sa.select(User).where(User.username == "exec1"))
    document_id = db.session.scalar(sa.select(InboxItem.document_id).where(InboxItem.user_id == author.id))
    db.session.execute(sa.update(OutboxMessage).values(status="done"))  # the demo's own, nobody has a phone
    rows = [{"organization_id": author.organization_id, "username": f"bench{i:05d}", "password_hash": "-",
             "name": f"Исполнитель {i}", "short_name": f"Исп. {i}", "role_list": "employee",
             "locale": "ru" if i % 2 else "en"} for i in range(executors)]
    ids = list(db.session.scalars(sa.insert(User).returning(User.id), rows))
    phones = [{"user_id": uid, "token": f"bench-{uid}-{d}-{uuid.uuid4().hex}", "platform": ("android", "ios")[d % 2],
               "locale": None} for uid in ids for d in range(devices)]
    db.session.execute(sa.insert(Device), phones)
    db.session.commit()
    return author.id, document_id, ids


def issue(author_id: int, document_id: int, executor_ids: list[int]) -> None:
    """Issue one resolution to everyone, through the domain code the API uses."""
    from domain import resolutions
    from models import Document, User, db

    author, document = db.session.get(User, author_id), db.session.get(Document, document_id)
    resolution = resolutions.create(author, document, "Прошу обеспечить исполнение", executor_ids, None)
    resolutions.issue(author, resolution.id)
    db.session.commit()


def requeue() -> None:
    """Make the fan-out owed again, for another round."""
    from models import OutboxMessage, PushDelivery, db

    db.session.execute(sa.delete(PushDelivery))
    db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.event == "task_assigned")
                       .values(status="queued", attempts=0, available_at=sa.func.now() - sa.text("interval '1 s'")))
    db.session.commit()


def run_dispatcher(dispatcher: Dispatcher, fake: TimedFcm, total: int) -> float:
    done, bar = progress(fake, total, "dispatcher")
    started = time.perf_counter()
    dispatcher.drain()
    done.set()
    bar.join()
    return fake.last_answer - started


def run_bare(app, messages: list[messaging.Message], fake: TimedFcm) -> float:
    done, bar = progress(fake, len(messages), "bare send_each")
    started = time.perf_counter()
    for start in range(0, len(messages), MAX_BATCH):
        messaging.send_each(messages[start : start + MAX_BATCH], app=app)
    done.set()
    bar.join()
    return fake.last_answer - started


def main() -> None:
    stop_on_signals()  # SIGTERM too drops the scratch database, in the finally below
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    total = args.executors * args.devices

    name, url, drop = scratch_database("push_bench", admin_url("BENCH_POSTGRES_URL"))
    workdir = Path(tempfile.mkdtemp(prefix="push-bench-"))
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url,
                          "DATA_DIR": str(workdir / "data")})
        key = generate_key()
        with app.app_context(), TimedFcm(key.public_key()) as fake:
            from flask_migrate import upgrade

            from models import OutboxMessage, PushDelivery, db

            print(f"database {name}: migrating and seeding {args.executors} executors x {args.devices} devices")
            upgrade(revision="heads")
            author_id, document_id, ids = seed(args.executors, args.devices)
            issue(author_id, document_id, ids)
            queued = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                       .where(OutboxMessage.status == "queued"))
            print(f"resolution issued: {queued} outbox rows")
            credentials = write_service_account(workdir / "sa.json", key, fake.token_uri)
            os.environ.setdefault("NO_PROXY", "127.0.0.1")
            with FcmSender.from_credentials(str(credentials), endpoint=fake.url) as fcm:
                recorder = RecordingSender(fcm)
                dispatcher = Dispatcher(recorder, Settings(), name="bench")
                # Warm up: the OAuth token and the connection pool, for both contenders alike.
                warm = [build_message(f"warm-{i}", "android", "ru", Event.TASK_ASSIGNED, {}, 0)
                        for i in range(MAX_BATCH)]
                messaging.send_each(warm, app=fcm.app)

                figures = []
                for round_no in range(1, args.rounds + 1):
                    if round_no > 1:
                        requeue()
                        recorder.messages.clear()
                    took = run_dispatcher(dispatcher, fake, total)
                    delivered = db.session.scalar(sa.select(sa.func.count()).select_from(PushDelivery)
                                                  .where(PushDelivery.status == "delivered"))
                    assert delivered == total == len(recorder.messages), (delivered, total)
                    bare = run_bare(fcm.app, list(recorder.messages), fake)
                    figures.append((took, bare))
                    print(f"round {round_no}: dispatcher {total / took:,.0f} msg/s (last delivery after {took:.2f} s), "
                          f"bare send_each {total / bare:,.0f} msg/s ({bare:.2f} s), ratio {bare / took:.2f}")

        took, bare = min(f[0] for f in figures), min(f[1] for f in figures)
        print()
        print(f"fan-out of one resolution to {args.executors} executors x {args.devices} devices = {total} messages")
        print(f"  dispatcher (outbox, per-device state, PostgreSQL): {total / took:8,.0f} msg/s, "
              f"last delivery after {took:.2f} s")
        print(f"  bare messaging.send_each loop:                    {total / bare:8,.0f} msg/s, {bare:.2f} s")
        print(f"  ratio dispatcher / bare: {bare / took:.2f} (target >= 0.8); best of {args.rounds} rounds")
    finally:
        drop()


if __name__ == "__main__":
    main()
