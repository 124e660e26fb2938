"""While PostgreSQL is down the API answers 503 database_unavailable with Retry-After, and recovers alone."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from domain.notify import notify
from models import Device, OutboxMessage, PushDelivery, User, db
from push.dispatcher import Dispatcher, Settings
from push.log_sender import LogSender
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.slow


def _login(client, username="exec1"):
    resp = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}


def test_the_api_says_database_unavailable_while_postgresql_is_down_and_recovers(outage_app, private_pg):
    client = outage_app.test_client()
    auth = _login(client)
    assert client.get("/api/v1/inbox", headers=auth).status_code == 200  # the pool holds a live connection

    private_pg.stop()
    try:
        for method, path, kwargs in (("get", "/api/v1/inbox", {"headers": auth}),
                                     # Refused before any statement: the session check then runs alone,
                                     # as the answer leaves, and cannot vouch for the caller either.
                                     ("get", "/api/v1/inbox?limit=0", {"headers": auth}),
                                     ("get", "/api/v1/tasks?cursor=not-a-cursor", {"headers": auth}),
                                     ("post", "/api/v1/auth/login",
                                      {"json": {"username": "exec1", "password": DEMO_PASSWORD}}),
                                     ("get", "/api/v1/me", {"headers": auth})):
            resp = getattr(client, method)(path, **kwargs)
            assert resp.status_code == 503, (path, resp.get_data(as_text=True))
            assert resp.mimetype == "application/problem+json"
            assert resp.get_json()["code"] == "database_unavailable"
            assert int(resp.headers["Retry-After"]) > 0
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "database unreachable" in ready.get_json()["detail"]
    finally:
        private_pg.start()

    # Nobody restarts the web process: its pool drops the dead connections and the next request works.
    assert client.get("/api/v1/inbox", headers=auth).status_code == 200
    me = client.get("/api/v1/me", headers=_login(client, "employee1"))
    assert me.status_code == 200 and me.get_json()["id"]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_restart_between_two_requests_costs_the_phone_nothing(outage_app, private_pg, mode):
    """The pool's idle connection died with the server it came from (a clean shutdown says so, a crash
    just closes it); the next request is answered from a fresh connection, not with a 503."""
    client = outage_app.test_client()
    auth = _login(client)
    assert client.get("/api/v1/inbox", headers=auth).status_code == 200  # the pool holds a connection
    # This throwaway cluster commits asynchronously: written out, the sign-in survives a crash.
    with db.engine.connect() as conn:
        conn.execute(sa.text("CHECKPOINT"))

    private_pg.stop(mode)
    private_pg.start()

    resp = client.get("/api/v1/inbox", headers=auth)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert client.post("/api/v1/auth/login", json={"username": "exec1", "password": DEMO_PASSWORD}).status_code == 200


def test_a_worker_waits_an_outage_out_and_a_once_run_says_it_failed(outage_app, private_pg):
    """The leased-worker skeleton (workers/leased.py), through the dispatcher: a loop backs off while
    PostgreSQL is down and sends what was owed once it is back; `--once` fails instead of waiting."""
    employee = db.session.scalar(sa.select(User).where(User.username == "employee1"))
    db.session.execute(sa.update(OutboxMessage).values(status="done"))
    db.session.add(Device(user_id=employee.id, token="outage-phone", platform="android", locale="ru"))
    notify("task_assigned", employee.id, None, task_id=1)
    db.session.commit()
    settings = Settings(poll_s=0.2, beat_s=0.2)
    dispatcher = Dispatcher(LogSender(), settings, name="outage-dispatcher")

    private_pg.stop()
    try:
        with pytest.raises(sa.exc.OperationalError):
            Dispatcher(LogSender(), settings, name="outage-once").run(once=True)

        def run() -> None:
            with outage_app.app_context():
                dispatcher.run()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(3)  # several failed passes, backing off
        assert thread.is_alive()
    finally:
        private_pg.start()
    try:
        deadline = time.monotonic() + 30
        delivered = []
        # A delivery is written `sending` before the send and `delivered` after: wait for the second.
        while time.monotonic() < deadline and delivered != ["delivered"]:
            db.session.rollback()
            delivered = db.session.scalars(sa.select(PushDelivery.status).join(Device)
                                           .where(Device.token == "outage-phone")).all()
            time.sleep(0.2)
        assert delivered == ["delivered"]
    finally:
        dispatcher.stop()
        thread.join(30)
    assert not thread.is_alive()
