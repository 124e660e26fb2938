"""The end of a substitution racing the deputy's acts, on a live gunicorn (2 processes x 8 threads) over
PostgreSQL: every outcome is consistent. An act either happened before the end, and is recorded in the
principal's name (`acting_for`, the deputy as its author, its time before the end), or it was refused and
left nothing; the deputy keeps no live copy of the principal's lines."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from models import AuditEvent, InboxItem, Resolution, Substitution, Unit, User, db
from models.signing import ApprovalDecision
from tests.support.live import together

pytestmark = pytest.mark.slow  # a real gunicorn and a database of its own
ROUNDS = 6


def _ids(server, *usernames) -> list[str]:
    with server.app.app_context():
        by_name = dict(db.session.execute(sa.select(User.username, User.id).where(User.username.in_(usernames))).all())
    return [str(by_name[name]) for name in usernames]


def _document(server, clerk: str) -> str:
    with server.app.app_context():
        office = db.session.scalar(sa.select(Unit.id).where(Unit.short_name == "Аппарат"))
    meta = {"title": f"Письмо {uuid.uuid4().hex[:6]}", "correspondent": "ГКУ «ЦИТ»", "addressees": [str(office)]}
    resp = server.call("POST", "/documents", clerk, data={"metadata": json.dumps(meta, ensure_ascii=False)},
                       files={"file": ("Письмо.txt", "Текст письма".encode())})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _period(deputy: str) -> dict:
    now = datetime.now(timezone.utc)
    return {"deputy": deputy, "starts_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ends_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scopes": ["inbox", "resolutions", "approvals"]}


def test_the_end_racing_an_issue_and_a_decision_leaves_every_outcome_consistent(server):
    exec1_id, deputy_id, minister_id, employee1_id = _ids(server, "exec1", "employee2", "minister", "employee1")
    exec1, deputy = server.login("exec1")["access_token"], server.login("employee2")["access_token"]
    clerk = server.login("clerk1")["access_token"]
    outcomes = {"issue": set(), "decision": set()}
    for round_ in range(ROUNDS):
        doc = _document(server, clerk)
        draft = server.call("POST", f"/documents/{doc}/resolutions", exec1,
                            json={"text": "Подготовить ответ", "executors": [employee1_id]}).json()
        route = server.call("PUT", f"/documents/{_document(server, clerk)}/approval-route", clerk, json={
            "stages": [{"mode": "sequential", "approvers": [exec1_id]},
                       {"mode": "sequential", "approvers": [minister_id]}]}).json()
        made = server.call("POST", "/substitutions", exec1, json=_period(deputy_id))
        assert made.status_code == 201, made.text
        sub = made.json()["id"]
        # Half the decisions name the principal, half leave it to be inferred.
        decision = {"decision": "approve", **({"acting_for": exec1_id} if round_ % 2 else {})}

        end, issued, decided = together([
            lambda: server.call("DELETE", f"/substitutions/{sub}", exec1),
            lambda: server.call("POST", f"/resolutions/{draft['id']}/issue", deputy, json={}),
            lambda: server.call("POST", f"/approvals/{route['id']}/decision", deputy, json=decision),
        ])

        assert end.status_code == 204, end.text
        assert issued.status_code in (200, 404), issued.text
        assert decided.status_code in (200, 403, 404), decided.text
        outcomes["issue"].add(issued.status_code)
        outcomes["decision"].add(decided.status_code)
        with server.app.app_context():
            ended_at = db.session.get(Substitution, int(sub)).ended_at
            assert ended_at is not None
            res = db.session.get(Resolution, int(draft["id"]))
            if issued.status_code == 200:
                assert res.status == "issued" and res.issued_at <= ended_at
                assert (res.issued_by_id, res.acting_for_id) == (int(deputy_id), int(exec1_id))
                entry = db.session.scalar(sa.select(AuditEvent).where(
                    AuditEvent.action == "resolution.issued", AuditEvent.object_id == draft["id"]))
                assert entry.actor_id == int(deputy_id) and entry.details["acting_for"] == exec1_id
            else:
                assert res.status == "draft" and res.issued_by_id is None
            decisions = db.session.scalars(sa.select(ApprovalDecision).where(
                ApprovalDecision.approval_id == int(route["id"]))).all()
            if decided.status_code == 200:
                assert [(d.approver_id, d.acting_deputy_id) for d in decisions] == [(int(exec1_id), int(deputy_id))]
                assert decisions[0].decided_at <= ended_at
            else:
                assert decisions == []
            assert not db.session.scalar(sa.select(InboxItem.id).where(
                InboxItem.user_id == int(deputy_id), InboxItem.for_user_id == int(exec1_id),
                InboxItem.removed.is_(False)).limit(1))
        # A millisecond later, nothing more in the principal's name.
        assert server.call("POST", f"/approvals/{route['id']}/decision", deputy,
                           json={"decision": "approve", "acting_for": exec1_id}).status_code in (403, 404, 409)
    print("outcomes over", ROUNDS, "rounds:", outcomes)
