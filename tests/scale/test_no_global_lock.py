"""Writes without a global lock, on PostgreSQL (SQLite has one writer at a time by design).

A registration to exec1's unit is held open, uncommitted, in another thread: exec1's read mark and
a resolution he issues (whose audit entry joins the same organization's chain) must go through at
once (every connection has a lock timeout that turns any wait into a failure), and a sync taken while
the registration is open must not move past it: once it commits, the next sync brings the new line,
and the audit chain holds both entries intact.
"""
import io
import threading
import time

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from domain import documents, inbox
from mobile_api import create_app
from mobile_api.demo import load
from models import AuditEvent, AuditHead, Document, InboxItem, Organization, Resolution, User, audit, db
from tests.conftest import DEMO_PASSWORD, _pg_database


def _demo_on_postgresql(tmp_path, lock_timeout_ms: int):
    """The demo data in a database of its own, every connection with a lock timeout (a wait becomes a
    failure); returns the app and what drops the database."""
    url, drop = _pg_database()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path),
                      "SECRET_KEY": "test-secret-key-that-is-long-enough-32", "DEMO_PASSWORD": DEMO_PASSWORD,
                      "SQLALCHEMY_ENGINE_OPTIONS": {
                          "connect_args": {"options": f"-c lock_timeout={lock_timeout_ms}"}}})
    try:
        with app.app_context():
            upgrade()
            load(DEMO_PASSWORD)
    except BaseException:
        drop()
        raise
    return app, drop


def _first_held_while_second_runs(app, work) -> list:
    """Run `work(hold)` in two threads, each in an app context of its own: the first with a `hold`
    that parks it mid-transaction, the second once it is parked; the first is let go half a second
    later, when the second is waiting on it. Returns what either raised."""
    held, release, failures = threading.Event(), threading.Event(), []

    def hold():
        held.set()
        release.wait(30)

    def run(hold_or_none):
        try:
            with app.app_context():
                work(hold_or_none)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            failures.append(exc)
            held.set()

    first = threading.Thread(target=run, args=(hold,))
    first.start()
    assert held.wait(30)
    second = threading.Thread(target=run, args=(None,))
    second.start()
    threading.Event().wait(0.5)  # the second is now waiting on the first
    release.set()
    first.join(30)
    second.join(30)
    return failures


def _signed_in(client, username: str) -> dict:
    token = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
                        ).get_json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
def test_a_read_mark_and_a_sync_do_not_wait_for_an_open_registration(tmp_path):
    app, drop = _demo_on_postgresql(tmp_path, lock_timeout_ms=3000)
    try:
        with app.app_context():
            exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
            office = exec1.units[0].id
            employee1 = db.session.scalar(sa.select(User.id).where(User.username == "employee1"))
            client = app.test_client()
            auth = _signed_in(client, "exec1")
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


@pytest.mark.slow
def test_two_transactions_delivering_one_line_at_once_both_succeed_and_leave_one_unread_line(tmp_path):
    """Two drafts of one document reach the same reviewer at once: the second upsert waits for the
    first's row, then updates it. Neither fails, the reviewer has one line, unread, that sync reports."""
    app, drop = _demo_on_postgresql(tmp_path, lock_timeout_ms=10000)
    try:
        with app.app_context():
            client = app.test_client()
            auth = _signed_in(client, "employee2")
            before = client.get("/api/v1/sync", headers=auth).get_json()
            reader = db.session.scalar(sa.select(User.id).where(User.username == "employee2"))
            doc_id = db.session.scalar(sa.select(InboxItem.document_id).where(InboxItem.user_id != reader).limit(1))
            db.session.remove()

            def deliver(hold):
                inbox.deliver([reader], db.session.get(Document, doc_id), "review", "Первый" if hold else "Второй")
                if hold:  # the first holds its new row until the second is waiting on it
                    hold()
                db.session.commit()

            failures = _first_held_while_second_runs(app, deliver)
            assert not failures, failures
            lines = db.session.scalars(sa.select(InboxItem).where(
                InboxItem.user_id == reader, InboxItem.document_id == doc_id, InboxItem.kind == "review")).all()
            assert [(line.sender, line.unread, line.removed) for line in lines] == [("Второй", True, False)]
            after = client.get(f"/api/v1/sync?since={before['next']}", headers=auth).get_json()
            assert [i["id"] for i in after["inbox"]["upserted"]] == [str(lines[0].id)]
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


@pytest.mark.slow
def test_a_lock_timeout_is_answered_busy_not_unreachable_and_leaves_nothing_written(tmp_path):
    """A read mark waiting on a line another transaction holds past the lock timeout: 503 with
    Retry-After, saying the database is busy (it answered), and the line stays as it was."""
    app, drop = _demo_on_postgresql(tmp_path, lock_timeout_ms=200)
    try:
        with app.app_context():
            client = app.test_client()
            auth = _signed_in(client, "exec1")
            line = client.get("/api/v1/inbox?view=unread", headers=auth).get_json()["items"][0]
            with db.engine.connect() as holder:
                holder.execute(sa.select(InboxItem.id).where(InboxItem.id == int(line["id"])).with_for_update())
                resp = client.post(f"/api/v1/inbox/{line['id']}/read", headers=auth)
                holder.rollback()
            assert resp.status_code == 503 and resp.mimetype == "application/problem+json"
            body = resp.get_json()
            assert body["code"] == "database_unavailable" and "busy" in body["detail"]
            assert int(resp.headers["Retry-After"]) > 0
            assert db.session.get(InboxItem, int(line["id"])).unread
            assert client.post(f"/api/v1/inbox/{line['id']}/read", headers=auth).status_code == 204  # once free
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


@pytest.mark.slow
def test_a_deadlock_is_answered_busy_and_leaves_nothing_written(tmp_path):
    """A resolution issued while another transaction holds the organization's audit chain and then
    asks for the executor's task line the issue holds: PostgreSQL breaks the deadlock by failing the
    request, which answers 503 busy with Retry-After (not "unreachable"), and writes no resolution."""
    app, drop = _demo_on_postgresql(tmp_path, lock_timeout_ms=0)
    try:
        with app.app_context():
            client = app.test_client()
            auth = _signed_in(client, "exec1")
            exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
            employee1 = db.session.scalar(sa.select(User.id).where(User.username == "employee1"))
            doc = client.get("/api/v1/inbox", headers=auth).get_json()["items"][0]["document_id"]
            body = {"text": "Рассмотреть", "executors": [str(employee1)], "issue": True}
            url = f"/api/v1/documents/{doc}/resolutions"
            assert client.post(url, json=body, headers=auth).status_code == 201  # the task line exists now
            before = db.session.scalar(sa.select(sa.func.count()).select_from(Resolution)
                                       .where(Resolution.document_id == int(doc)))
            answers = []
            with db.engine.connect() as holder:
                holder.execute(sa.select(AuditHead.seq).where(AuditHead.organization_id == exec1.organization_id)
                               .with_for_update())
                request = threading.Thread(target=lambda: answers.append(_post_in_context(app, url, body, auth)))
                request.start()
                _wait_for_a_lock_wait()  # the issue holds the task line and waits for the chain
                holder.execute(sa.select(InboxItem.id).where(InboxItem.user_id == employee1,
                                                             InboxItem.document_id == int(doc),
                                                             InboxItem.kind == "task").with_for_update())
                request.join(30)
                holder.rollback()
            [(status, problem, retry_after)] = answers
            assert status == 503 and problem["code"] == "database_unavailable" and "busy" in problem["detail"]
            assert retry_after == "1"
            db.session.expire_all()
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution)
                                     .where(Resolution.document_id == int(doc))) == before
            assert client.post(url, json=body, headers=auth).status_code == 201  # its retry goes through
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


def _post_in_context(app, url, body, auth):
    with app.app_context():
        resp = app.test_client().post(url, json=body, headers=auth)
        return resp.status_code, resp.get_json(), resp.headers.get("Retry-After")


def _wait_for_a_lock_wait(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as probe:  # a transaction of its own: activity is read once per transaction
            if probe.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event_type = 'Lock'")).scalar():
                return
        time.sleep(0.02)
    raise AssertionError("no request came to wait on a lock")


@pytest.mark.slow
def test_the_first_two_audit_entries_of_an_organization_at_once_both_commit_on_one_chain(tmp_path):
    """A new organization's chain has no head yet: the first two transactions to record an entry race
    to create it. The first is held just before its commit; the second must wait for it and append
    after it rather than fail on the head's key (it answered 500 before)."""
    app, drop = _demo_on_postgresql(tmp_path, lock_timeout_ms=10000)
    try:
        with app.app_context():
            org = Organization(name="Новое ведомство", short_name="Новое", code="NEW-1")
            db.session.add(org)
            db.session.commit()
            org_id = org.id
            db.session.remove()
            def hold_first(session):  # after _chain, registered earlier, has created and linked the head
                if "hold" in session.info:
                    session.info.pop("hold")()

            def entry(hold):
                if hold:
                    db.session.info["hold"] = hold
                audit.record(org_id, None, "first" if hold else "second", "organization", org_id)
                db.session.commit()

            sa.event.listen(Session, "before_commit", hold_first)
            try:
                failures = _first_held_while_second_runs(app, entry)
            finally:
                sa.event.remove(Session, "before_commit", hold_first)
            assert not failures, failures
            chain = db.session.execute(sa.select(AuditEvent.seq, AuditEvent.action).where(
                AuditEvent.organization_id == org_id).order_by(AuditEvent.seq)).all()
            assert [tuple(row) for row in chain] == [(1, "first"), (2, "second")]
            assert audit.verify_chain(org_id) is None
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
