"""The real `flask --app wsgi push-dispatcher` killed mid-batch: nothing lost, and the batch caught
in flight is sent again under the same event id and collapse tag, so each phone shows it once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.notify import notify
from models import Device, OutboxMessage, PushDelivery, db, utcnow
from tests.fakes.fcm_server import FakeFcm
from tests.support.live import FlaskCommand, wait_for

ROOT = Path(__file__).resolve().parents[2]
DEVICES, BATCH, LEASE_S = 25, 10, 3


class SlowFcm(FakeFcm):
    """A fake FCM that takes its time to answer, so a batch can be caught in flight."""

    delay = 1.0

    def _answer_send(self, project, headers, body):
        time.sleep(self.delay)
        return super()._answer_send(project, headers, body)


def delivered(outbox_id: int) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(PushDelivery)
                           .where(PushDelivery.outbox_id == outbox_id, PushDelivery.status == "delivered"))


@pytest.fixture
def slow_fcm(service_key, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with SlowFcm(service_key.public_key()) as fake:
        yield fake


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_dispatcher_killed_mid_batch_resends_that_batch_under_the_same_event(app, demo, slow_fcm, service_key,
                                                                             tmp_path):
    from tests.fakes.fcm_server import write_service_account

    employee = demo["employee1"]
    db.session.execute(sa.update(OutboxMessage).values(status="done"))  # the demo's own, phoneless
    tokens = [f"tok-{i:02d}" for i in range(DEVICES)]
    db.session.add_all(Device(user_id=employee.id, token=t, platform="android", locale="ru") for t in tokens)
    row = notify("task_assigned", employee.id, None, task_id=99)
    db.session.commit()
    settings = {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "DATA_DIR": str(tmp_path / "data"),
                "FIREBASE_CREDENTIALS": str(write_service_account(tmp_path / "sa.json", service_key,
                                                                  slow_fcm.token_uri)),
                "FCM_ENDPOINT": slow_fcm.url, "PUSH_BATCH_SIZE": str(BATCH), "PUSH_LEASE_S": str(LEASE_S),
                "PUSH_POLL_MS": "100", "NO_PROXY": "127.0.0.1"}

    with FlaskCommand("push-dispatcher", settings=settings, log=tmp_path / "first.log") as first:
        # The first batch is answered; the second has reached FCM and waits for its answers.
        wait_for(lambda: len(slow_fcm.sends()) >= 2 * BATCH and delivered(row.id) == BATCH, 60,
                 "the second batch in flight", interval=0.02)
        output = first.stop(signal.SIGKILL, 10)
    assert first.returncode == -signal.SIGKILL, output
    time.sleep(slow_fcm.delay)  # let the orphaned requests finish on the fake's side

    statuses = Counter(db.session.scalars(sa.select(PushDelivery.status).where(PushDelivery.outbox_id == row.id)))
    assert statuses == {"delivered": BATCH, "sending": BATCH}
    lease_until = db.session.scalar(sa.select(OutboxMessage.lease_until).where(OutboxMessage.id == row.id))
    time.sleep(max(0.0, (lease_until - utcnow()).total_seconds()) + 0.2)

    with FlaskCommand("push-dispatcher", "--once", settings=settings, log=tmp_path / "second.log") as second:
        output = second.wait(60)
    assert second.returncode == 0, output

    sends = slow_fcm.sends()
    per_token = Counter(r.body["message"]["token"] for r in sends)
    # At least once: every device; the batch in flight at the kill went twice, nothing else did.
    assert set(per_token) == set(tokens)
    assert sorted(per_token.values()) == [1] * (DEVICES - BATCH) + [2] * BATCH
    # ...and the two copies are one event to the phone: same event id, same collapse slot.
    for token in (t for t, n in per_token.items() if n == 2):
        copies = [r.body["message"] for r in sends if r.body["message"]["token"] == token]
        assert {(c["data"]["event_id"], c["android"]["collapse_key"], c["android"]["notification"]["tag"])
                for c in copies} == {(str(row.id), f"event-{row.id}", f"event-{row.id}")}
    assert len({(r.body["message"]["token"], r.body["message"]["data"]["event_id"]) for r in sends}) == DEVICES
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).status == "done"
    statuses = Counter(db.session.scalars(sa.select(PushDelivery.status).where(PushDelivery.outbox_id == row.id)))
    assert statuses == {"delivered": DEVICES}
    assert "sending them again" in output
