"""The seeded year of execution control is one domain.control could have left, and the seeded text is
searched as registration's is: the summary counts what the seed drew, every report waiting is in its
reviewer's inbox, a withdrawn resolution left nothing running, and a document is found by a form of a
word its text has in another."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from mobile_api.seed import seed
from models import (
    Document,
    DocumentText,
    ExtensionRequest,
    InboxItem,
    Resolution,
    Task,
    TaskReport,
    Unit,
    User,
    db,
    unit_members,
    utcnow,
)
from tests.conftest import DEMO_PASSWORD

STATES = ("open", "due_soon", "overdue", "done_on_time", "done_late")


def _login(client, username):
    token = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}).get_json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.mark.slow
def test_the_seeded_execution_history_is_consistent_and_its_text_searchable(app, client):
    made = seed(users=200, documents=900, password=DEMO_PASSWORD)
    assert made["resolutions"] > 300 and made["tasks"] > made["resolutions"]
    # Every life a task may have was drawn.
    for life in ("done on time", "done late", "returned, then done", "reported", "returned", "late, open",
                 "open, extension asked", "acknowledged", "resolution executed", "resolution withdrawn"):
        assert made["history"].get(life, 0) > 0, life

    # The head of each organization reads the summary of the year: exactly the states the seed drew.
    now = utcnow()
    for org_id, expected in made["summary"].items():
        head = db.session.scalar(sa.select(User).join(unit_members, unit_members.c.user_id == User.id)
                                 .join(Unit, Unit.id == unit_members.c.unit_id)
                                 .where(Unit.organization_id == org_id, Unit.parent_id.is_(None),
                                        User.role_list == "executive").order_by(User.id).limit(1))
        resp = client.get("/api/v1/control/summary", headers=_login(client, head.username), query_string={
            "from": (now - timedelta(days=400)).date().isoformat(), "to": (now + timedelta(days=1)).date().isoformat()})
        assert resp.status_code == 200, resp.get_json()
        total = resp.get_json()["total"]
        assert {s: total[s] for s in STATES} == {s: expected.get(s, 0) for s in STATES}
        assert sum(expected.values()) > 0

    # A report waiting: the task is reported, its one waiting report is there and so is its reviewer's line.
    reported = db.session.scalars(sa.select(Task).where(Task.status == "reported")).all()
    assert reported
    for task in reported:
        waiting = db.session.scalars(sa.select(TaskReport).where(TaskReport.task_id == task.id,
                                                                 TaskReport.outcome.is_(None))).all()
        assert len(waiting) == 1 and waiting[0].created_at == task.reported_at and task.control
        assert db.session.scalar(sa.select(sa.func.count()).select_from(InboxItem).where(
            InboxItem.user_id == task.reviewer_id, InboxItem.document_id == task.document_id,
            InboxItem.kind == "report", InboxItem.removed.is_(False))) == 1
    # No report waits on a task that is not reported; a returned task is open and its last report returned.
    stray = db.session.scalar(sa.select(sa.func.count()).select_from(TaskReport)
                              .join(Task, Task.id == TaskReport.task_id)
                              .where(TaskReport.outcome.is_(None), Task.status != "reported"))
    assert stray == 0
    for task in db.session.scalars(sa.select(Task).where(Task.returned.is_(True), Task.withdrawn.is_(False))):
        assert task.status == "open" and task.reports[-1].outcome == "returned"
    # Withdrawn resolutions left nothing running; executed ones have every task done.
    for res in db.session.scalars(sa.select(Resolution).where(Resolution.status.in_(("withdrawn", "executed")))):
        tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == res.id)).all()
        assert tasks and all(t.status == "done" for t in tasks) and res.closed_at is not None
        if res.status == "withdrawn":
            assert any(t.withdrawn for t in tasks)
            ids = [t.id for t in tasks]
            assert not db.session.scalar(sa.select(sa.func.count()).select_from(ExtensionRequest).where(
                ExtensionRequest.task_id.in_(ids), ExtensionRequest.status == "pending"))
        else:
            assert res.closed_at == max(t.completed_at for t in tasks)
    # An approved extension moved its task's deadline; a pending one waits in its controller's inbox.
    for request in db.session.scalars(sa.select(ExtensionRequest).where(ExtensionRequest.status == "approved")):
        later = db.session.scalar(sa.select(sa.func.count()).select_from(ExtensionRequest).where(
            ExtensionRequest.task_id == request.task_id, ExtensionRequest.status == "approved",
            ExtensionRequest.id > request.id))
        assert later or request.task.deadline == request.new_deadline > request.old_deadline
    pending = db.session.scalars(sa.select(ExtensionRequest).where(ExtensionRequest.status == "pending")).all()
    assert pending
    for request in pending:
        assert request.task.status != "done" and request.decider_id == request.task.controller_id
        assert db.session.scalar(sa.select(sa.func.count()).select_from(InboxItem).where(
            InboxItem.user_id == request.decider_id, InboxItem.document_id == request.task.document_id,
            InboxItem.kind == "extension", InboxItem.removed.is_(False))) == 1

    # The controller's views and a delegated resolution's tree read the history through the API.
    task = reported[0]
    reviewer = _login(client, db.session.get(User, task.reviewer_id).username)
    views = client.get("/api/v1/control", headers=reviewer, query_string={"view": "reports", "limit": 100}).get_json()
    assert str(task.id) in {item["task"]["id"] for item in views["items"]}
    parent = db.session.scalar(sa.select(Resolution).where(Resolution.parent_task_id.is_not(None)).limit(1))
    top = db.session.get(Task, parent.parent_task_id).resolution
    tree = client.get(f"/api/v1/resolutions/{top.id}/execution", headers=_login(client, top.author.username))
    assert tree.status_code == 200
    delegated = [r["resolution"]["id"] for t in tree.get_json()["tasks"] for r in t["resolutions"]]
    assert str(parent.id) in delegated

    # Each document's text is searchable: a word of it, asked in another form, finds it.
    text = db.session.scalar(sa.select(DocumentText).where(DocumentText.words.contains("договорами")).limit(1))
    assert text is not None and len(text.words.encode()) > 2000
    doc = text.document_id
    document = db.session.get(Document, doc)
    found = client.get("/api/v1/search", headers=_login(client, db.session.get(User, document.owner_id).username),
                       query_string={"q": "договор", "reg_number": document.reg_number}).get_json()
    assert [item["document_id"] for item in found["items"]] == [str(doc)]
    assert re.search(r"<mark>договор", found["items"][0]["snippet"], re.I)

