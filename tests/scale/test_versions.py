"""The horizon behind sync tokens and ETag versions, on PostgreSQL (where change numbers are
transaction ids): a version read while an older write is still open promises nothing, and a long
transaction of another database in the cluster holds nothing back."""
import io
import threading

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from domain import documents
from models import User, db
from tests.conftest import PG_ADMIN_URL
from tests.scale.test_no_global_lock import _demo_on_postgresql, _signed_in

CIRCULAR = "Циркуляр о сроках отчётности"


def _register_held(app, office: int, delivered: threading.Event, release: threading.Event, failures: list):
    """A registration to the unit, delivered (so numbered) but held uncommitted until `release`."""
    try:
        with app.app_context():
            clerk = db.session.scalar(sa.select(User).where(User.username == "clerk1"))
            meta = {"title": CIRCULAR, "summary": "", "correspondent": "Минфин", "addressees": [office],
                    "for_information": [], "urgent": False}
            documents.register(clerk, meta, [FileStorage(io.BytesIO(b"x"), filename="c.txt")])
            db.session.flush()
            delivered.set()
            release.wait(60)
            db.session.commit()
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        failures.append(exc)
        delivered.set()


@pytest.mark.slow
def test_an_inbox_tag_taken_while_an_older_write_is_open_changes_when_it_commits(tmp_path):
    """The registration is numbered below the read mark that commits after it: the user's last change
    (the read mark) is not below the horizon, so the tag must not vouch for the page, and once the
    registration commits the old tag gets the new page, not a 304 that would hide the circular."""
    app, drop = _demo_on_postgresql(tmp_path, lock_timeout_ms=3000)
    try:
        with app.app_context():
            exec1 = db.session.scalar(sa.select(User).where(User.username == "exec1"))
            office = exec1.units[0].id
            client = app.test_client()
            auth = _signed_in(client, "exec1")
            line = client.get("/api/v1/inbox?view=unread", headers=auth).get_json()["items"][0]
            db.session.remove()
            delivered, release, failures = threading.Event(), threading.Event(), []
            writer = threading.Thread(target=_register_held, args=(app, office, delivered, release, failures))
            writer.start()
            try:
                assert delivered.wait(60) and not failures, failures
                assert client.post(f"/api/v1/inbox/{line['id']}/read", headers=auth).status_code == 204
                before = client.get("/api/v1/inbox", headers=auth)
                assert CIRCULAR not in [i["title"] for i in before.get_json()["items"]]
            finally:
                release.set()
                writer.join(60)
            assert not failures, failures
            after = client.get("/api/v1/inbox", headers={**auth, "If-None-Match": before.headers["ETag"]})
            assert after.status_code == 200, "the tag hid a line committed after it was taken"
            assert CIRCULAR in [i["title"] for i in after.get_json()["items"]]
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


@pytest.mark.slow
def test_a_long_transaction_in_another_database_holds_back_neither_tags_nor_sync(tmp_path):
    """A transaction of the cluster's admin database (a dump, another application), older than every
    change here: the inbox still gets its cheap version tag and 304s, and sync tokens move on."""
    app, drop = _demo_on_postgresql(tmp_path, lock_timeout_ms=3000)
    elsewhere = sa.create_engine(PG_ADMIN_URL)
    try:
        with elsewhere.connect() as other, app.app_context():
            other.execute(sa.text("SELECT pg_current_xact_id()"))  # holds a transaction id, uncommitted
            client = app.test_client()
            auth = _signed_in(client, "exec1")
            line = client.get("/api/v1/inbox?view=unread", headers=auth).get_json()["items"][0]
            assert client.post(f"/api/v1/inbox/{line['id']}/read", headers=auth).status_code == 204
            page = client.get("/api/v1/inbox", headers=auth)
            tag = page.headers["ETag"]
            assert tag.startswith('W/"1.'), f"the version gave no promise: {tag}"  # a body tag is strong
            assert client.get("/api/v1/inbox", headers={**auth, "If-None-Match": tag}).status_code == 304
            first = client.get("/api/v1/sync", headers=auth).get_json()
            assert line["id"] in [i["id"] for i in first["inbox"]["upserted"]] and not first["has_more"]
            again = client.get(f"/api/v1/sync?since={first['next']}", headers=auth).get_json()
            assert again["inbox"]["upserted"] == [] and again["tasks"]["upserted"] == [], "sync repeated itself"
            other.rollback()
            db.session.remove()
            db.engine.dispose()
    finally:
        elsewhere.dispose()
        drop()
