"""The seed is the region in small: every role in its own organization's units, inboxes for all,
tasks in every state (tests/scale/test_seed_history.py reads their history), approvals in progress,
and registration carrying on from the seeded numbers."""
import io
import json

import pytest
import sqlalchemy as sa

from mobile_api.seed import seed
from models import AuthSession, Document, InboxItem, Task, User, assistants, db, unit_members
from models.org import Unit
from tests.conftest import DEMO_PASSWORD


@pytest.mark.slow
def test_a_small_region_is_seeded_consistently_and_works_through_the_api(app, client):
    made = seed(users=400, documents=3000, password=DEMO_PASSWORD)
    assert made["documents"] == 3000 and made["users"] == 400

    # Everyone sits in a unit of their own organization; every role is there.
    strays = db.session.scalar(sa.select(sa.func.count()).select_from(unit_members)
                               .join(User, User.id == unit_members.c.user_id)
                               .join(Unit, Unit.id == unit_members.c.unit_id)
                               .where(Unit.organization_id != User.organization_id))
    assert strays == 0
    roles = set(db.session.scalars(sa.select(User.role_list)))
    assert roles == {"executive", "assistant", "clerk", "employee", "admin"}
    # Assistants serve executives of their own organization.
    pairs = db.session.execute(sa.select(assistants)).all()
    assert pairs and all(db.session.get(User, a).organization_id == db.session.get(User, e).organization_id
                         and db.session.get(User, e).has_role("executive") for a, e in pairs)
    # Everyone's apps are signed in (executives' phones and tablets), some earlier sessions ended; the
    # sign-ins below get new session numbers after them.
    live = dict(db.session.execute(sa.select(AuthSession.user_id, sa.func.count()).where(
        AuthSession.revoked_at.is_(None)).group_by(AuthSession.user_id)).tuples().all())
    assert len(live) == 400 and max(live.values()) == 2 and made["auth_sessions"] > 400
    # Inboxes: executives have many lines, employees some; tasks open, done and overdue.
    sizes = dict(db.session.execute(sa.select(User.role_list, sa.func.max(sa.literal_column("n"))).select_from(
        sa.select(InboxItem.user_id, sa.func.count().label("n")).group_by(InboxItem.user_id).subquery())
        .join(User, User.id == sa.literal_column("user_id")).group_by(User.role_list)).tuples().all())
    assert sizes["executive"] > sizes["employee"] > 0
    now = db.session.scalar(sa.select(sa.func.max(Document.created_at)))
    states = db.session.execute(sa.select(Task.status, Task.deadline)).all()
    assert {s for s, _ in states} == {"open", "reported", "done"}
    assert any(s == "open" and d is not None and d < now for s, d in states)  # overdue
    assert any(s == "open" and d is None for s, d in states)  # for information: never overdue

    # A seeded user signs in with the demo password and reads a page; a seeded clerk registers the next number.
    login = client.post("/api/v1/auth/login", json={"username": made["unit_executive"], "password": DEMO_PASSWORD})
    assert login.status_code == 200
    token = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    assert len(client.get("/api/v1/inbox", headers=token).get_json()["items"]) == 25
    clerk = client.post("/api/v1/auth/login", json={"username": made["clerk"], "password": DEMO_PASSWORD})
    ctoken = {"Authorization": f"Bearer {clerk.get_json()['access_token']}"}
    clerk_user = db.session.scalar(sa.select(User).where(User.username == made["clerk"]))
    seeded = db.session.scalar(sa.select(sa.func.count()).select_from(Document)
                               .where(Document.organization_id == clerk_user.organization_id))
    unit_id = made["big_unit"]
    resp = client.post("/api/v1/documents", headers=ctoken, content_type="multipart/form-data", data={
        "metadata": json.dumps({"title": "Циркуляр", "correspondent": "Минфин", "addressees": [str(unit_id)]}),
        "file": [(io.BytesIO(b"x"), "c.txt")]})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["reg_number"].split("-")[1].startswith(f"{seeded + 1}/")
    # It reached every executive of that unit at once.
    reached = db.session.scalar(sa.select(sa.func.count()).select_from(InboxItem)
                                .where(InboxItem.document_id == int(resp.get_json()["id"])))
    members = db.session.scalar(sa.select(sa.func.count()).select_from(unit_members)
                                .where(unit_members.c.unit_id == unit_id))
    assert reached == members > 1
