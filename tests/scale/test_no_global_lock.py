"""Writes without a global lock, on PostgreSQL (SQLite has one writer at a time by design).

A registration to exec1's unit is held open, uncommitted, in another thread: exec1's read mark and
a resolution he issues (whose audit entry joins the same organization's chain) must go through at
once (every connection has a lock timeout that turns any wait into a failure), and a sync taken while
the registration is open must not move past it: once it commits, the next sync brings the new line,
and the audit chain holds both entries intact.
"""
import io
import threading

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from werkzeug.datastructures import FileStorage

from domain import documents
from mobile_api import create_app
from mobile_api.demo import load
from models import AuditEvent, InboxItem, User, audit, db
from tests.conftest import DEMO_PASSWORD, _pg_database


@pytest.mark.slow
def test_a_read_mark_and_a_sync_do_not_wait_for_an_open_registration(tmp_path):
    url, drop = _pg_database()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path),
                      "SECRET_KEY": "test-secret-key-that-is-long-enough-32", "DEMO_PASSWORD": DEMO_PASSWORD,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": "-c lock_timeout=3000"}}})
    try:
        with app.app_context():
            upgrade()
            load(DEMO_PASSWORD)
            exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
            office = exec1.units[0].id
            employee1 = db.session.scalar(sa.select(User.id).where(User.username == "employee1"))
            client = app.test_client()
            token = client.post("/api/v1/auth/login", json={"username": "exec1", "password": DEMO_PASSWORD}
                                ).get_json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            before = client.get("/api/v1/sync", headers=auth).get_json()
            line = client.get("/api/v1/inbox?view=unread", headers=auth).get_json()["items"][0]

            delivered, release, failures = threading.Event(), threading.Event(), []

            def registration():
                try:
                    with app.app_context():
                        clerk = db.session.scalar(sa.select(User).where(User.username == "clerk1"))
                        meta = {"title": "Циркуляр о годовом отчёте", "summary": "", "correspondent": "Минфин",
                                "addressees": [office], "for_information": [], "urgent": False}
                        documents.register(clerk, meta, [FileStorage(io.BytesIO(b"x"), filename="c.txt")])
                        db.session.flush()
                        delivered.set()
                        release.wait(60)
                        db.session.commit()
                except BaseException as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)
                    delivered.set()

            writer = threading.Thread(target=registration)
            writer.start()
            try:
                assert delivered.wait(60) and not failures, failures
                assert client.post(f"/api/v1/inbox/{line['id']}/read", headers=auth).status_code == 204
                issued = client.post(f"/api/v1/documents/{line['document_id']}/resolutions", headers=auth, json={
                    "text": "Подготовить ответ", "executors": [str(employee1)], "issue": True})
                assert issued.status_code == 201, issued.get_json()
                during = client.get(f"/api/v1/sync?since={before['next']}", headers=auth).get_json()
                assert [i["id"] for i in during["inbox"]["upserted"]] == [line["id"]]
            finally:
                release.set()
                writer.join(60)
            assert not failures, failures
            after = client.get(f"/api/v1/sync?since={during['next']}", headers=auth).get_json()
            titles = [i["title"] for i in after["inbox"]["upserted"]]
            assert "Циркуляр о годовом отчёте" in titles
            new = db.session.scalar(sa.select(InboxItem).where(InboxItem.user_id == exec1.id,
                                                               InboxItem.title == "Циркуляр о годовом отчёте"))
            assert new is not None and new.unread
            chain = db.session.scalars(sa.select(AuditEvent.action).where(
                AuditEvent.organization_id == exec1.organization_id).order_by(AuditEvent.seq)).all()
            assert chain[-2:] == ["resolution.issued", "document.registered"]  # linked in commit order
            assert audit.verify_chain(exec1.organization_id) is None
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
