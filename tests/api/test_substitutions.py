"""Acting for others (domain.substitutions): who names a deputy, within what bounds, and what the deputy
sees and does in the principal's name while the period runs, and no longer once it ends."""
import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from domain import inbox, substitutions
from models import AuditEvent, Document, InboxItem, OutboxMessage, Resolution, Substitution, db, utcnow


def _at(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


NOW, TOMORROW, NEXT_WEEK = _at(timedelta(seconds=-1)), _at(timedelta(days=1)), _at(timedelta(days=7))


def _period(deputy, scopes=("inbox", "resolutions", "approvals"), starts_at=None, ends_at=None, **more) -> dict:
    return {"deputy": str(deputy.id), "starts_at": starts_at or NOW, "ends_at": ends_at or TOMORROW,
            "scopes": list(scopes), **more}


@pytest.fixture
def deputize(login, demo):
    """deputize(principal, deputy, by=principal, **period) -> the answer to the POST (asserted 201)."""

    def _deputize(principal: str, deputy: str, by: str | None = None, **period):
        resp = login(by or principal).post("/substitutions", json={
            **_period(demo[deputy], **period), **({"principal": str(demo[principal].id)} if by else {})})
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()

    return _deputize


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- who names whom ---------------------------------------------------------------------------------

def test_the_principal_names_a_deputy_and_both_see_it_until_it_is_deleted(login, demo, deputize):
    made = deputize("exec1", "employee1", scopes=["inbox", "approvals"])
    assert made["principal"]["id"] == str(demo["exec1"].id) and made["deputy"]["id"] == str(demo["employee1"].id)
    assert made["scopes"] == ["inbox", "approvals"] and made["running"] is True
    for who in ("exec1", "employee1"):
        assert [s["id"] for s in login(who).get("/substitutions").get_json()["items"]] == [made["id"]]
    assert login("employee2").get("/substitutions").get_json()["items"] == []
    assert login("employee2").delete(f"/substitutions/{made['id']}").status_code == 404  # not theirs
    assert login("exec1").delete(f"/substitutions/{made['id']}").status_code == 204
    assert login("employee1").get("/substitutions").get_json()["items"] == []
    assert login("exec1").delete(f"/substitutions/{made['id']}").status_code == 204  # over already: still 204
    assert [e.details["deputy"] for e in _audit("substitution.ended")] == [str(demo["employee1"].id)]


def test_no_one_makes_themselves_a_deputy_nor_names_one_for_someone_else(login, demo):
    employee = login("employee1")
    mine = employee.post("/substitutions", json=_period(demo["employee1"], principal=str(demo["exec1"].id)))
    assert mine.status_code == 403 and mine.get_json()["code"] == "forbidden"
    for_other = employee.post("/substitutions", json=_period(demo["employee2"], principal=str(demo["exec1"].id)))
    assert for_other.status_code == 403
    admin_self = login("admin1").post("/substitutions", json=_period(demo["admin1"], principal=str(demo["exec1"].id)))
    assert admin_self.status_code == 403  # an admin names deputies, never themselves
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Substitution)) == 0


def test_an_admin_names_a_deputy_for_someone_of_the_organization(login, demo, deputize):
    made = deputize("exec1", "employee1", by="admin1")
    assert made["principal"]["id"] == str(demo["exec1"].id) and made["created_by"] == str(demo["admin1"].id)
    # The principal and the deputy may end it; so may the admin.
    assert login("employee1").delete(f"/substitutions/{made['id']}").status_code == 204


def test_a_substitution_never_crosses_an_organization(login, demo):
    # A principal of another organization is not found; a deputy from another is refused.
    other_principal = login("admin1").post("/substitutions",
                                           json=_period(demo["employee1"], principal=str(demo["exec2"].id)))
    assert other_principal.status_code == 404
    other_deputy = login("exec1").post("/substitutions", json=_period(demo["exec2"]))
    assert other_deputy.status_code == 422 and "deputy" in other_deputy.get_json()["errors"]
    from_outside = login("exec2").post("/substitutions", json=_period(demo["employee1"]))
    assert from_outside.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Substitution)) == 0


def test_bad_periods_and_scopes_are_refused(login, demo):
    exec1 = login("exec1")
    for body in (_period(demo["employee1"], ends_at=_at(timedelta(hours=-1)), starts_at=_at(timedelta(hours=-2))),
                 _period(demo["employee1"], starts_at=TOMORROW, ends_at=NOW),
                 _period(demo["employee1"], ends_at=_at(timedelta(days=400))),
                 _period(demo["employee1"], scopes=[]), _period(demo["employee1"], scopes=["everything"]),
                 _period(demo["exec1"])):
        resp = exec1.post("/substitutions", json=body)
        assert resp.status_code == 422, (body, resp.get_json())


def test_one_deputy_per_principal_and_scope_at_a_time(login, demo, deputize):
    deputize("exec1", "employee1", scopes=["approvals"])
    overlapping = login("exec1").post("/substitutions", json=_period(demo["employee2"], scopes=["inbox", "approvals"]))
    assert overlapping.status_code == 409 and overlapping.get_json()["code"] == "substitution_overlaps"
    # Another scope may go to another deputy; a later period to anyone.
    deputize("exec1", "employee2", scopes=["inbox", "resolutions"])
    deputize("exec1", "employee2", scopes=["approvals"], starts_at=TOMORROW, ends_at=NEXT_WEEK)


def test_a_deputy_who_is_away_is_refused(login, demo, deputize):
    deputize("employee1", "employee2", scopes=["inbox"])
    away = login("exec1").post("/substitutions", json=_period(demo["employee1"]))
    assert away.status_code == 409 and away.get_json()["code"] == "deputy_away"


# --- the deputy's inbox -----------------------------------------------------------------------------

def _lines(api) -> list[dict]:
    return api.get("/inbox?limit=100").get_json()["items"]


def test_the_deputy_sees_the_principals_lines_marked_for_them_until_the_end(login, demo, deputize):
    exec1, deputy = login("exec1"), login("employee2")
    own = {(i["document_id"], i["kind"]) for i in _lines(exec1)}
    before = deputy.get("/sync").get_json()
    assert before["inbox"]["upserted"] == []
    made = deputize("exec1", "employee2", scopes=["inbox"])
    lines = _lines(deputy)
    assert {(i["document_id"], i["kind"]) for i in lines} == own
    assert all(i["for"] == {"id": str(demo["exec1"].id), "short_name": demo["exec1"].short_name} for i in lines)
    assert all("for" not in i for i in _lines(exec1))  # the principal's own lines are theirs
    assert all(len(json.dumps(i, ensure_ascii=False, separators=(",", ":")).encode()) < 400 for i in lines)
    synced = deputy.get(f"/sync?since={before['next']}").get_json()
    assert {(i["document_id"], i["kind"]) for i in synced["inbox"]["upserted"]} == own
    # The deputy opens what the principal's inbox holds.
    doc_id = lines[0]["document_id"]
    assert deputy.get(f"/documents/{doc_id}").status_code == 200

    # A new line of the principal reaches the deputy too, and a line the principal loses goes.
    doc = db.session.get(Document, int(doc_id))
    inbox.deliver([demo["exec1"].id], doc, "info", "Минфин")
    inbox.withdraw(demo["exec1"].id, int(lines[-1]["document_id"]), lines[-1]["kind"])
    db.session.commit()
    changed = deputy.get(f"/sync?since={synced['next']}").get_json()
    assert [(i["document_id"], i["kind"], i["for"]["id"]) for i in changed["inbox"]["upserted"]] == [
        (doc_id, "info", str(demo["exec1"].id))]
    assert len(changed["inbox"]["removed"]) == 1

    # The end: every copy leaves through /sync, and the documents are the principal's again.
    assert login("exec1").delete(f"/substitutions/{made['id']}").status_code == 204
    ended = deputy.get(f"/sync?since={changed['next']}").get_json()
    assert len(ended["inbox"]["removed"]) == len(own)  # the one withdrawn before is reported once
    assert _lines(deputy) == []
    assert deputy.get(f"/documents/{doc_id}").status_code == 404
    assert {(i["document_id"], i["kind"]) for i in _lines(exec1)} >= own - {(lines[-1]["document_id"],
                                                                             lines[-1]["kind"])}


def test_a_later_period_copies_at_its_start_and_withdraws_at_its_end(login, demo, deputize):
    """The push dispatcher's sweep: lines come when the period begins and go when it ends."""
    made = deputize("exec1", "employee2", scopes=["inbox"], starts_at=TOMORROW, ends_at=NEXT_WEEK)
    deputy = login("employee2")
    assert _lines(deputy) == []
    starts = datetime.fromisoformat(made["starts_at"].replace("Z", "+00:00"))
    assert substitutions.sweep(starts + timedelta(seconds=1)) == 1
    assert len(_lines(deputy)) == len(_lines(login("exec1")))
    assert substitutions.sweep(starts + timedelta(seconds=2)) == 0  # nothing more to do until the end
    assert substitutions.sweep(starts + timedelta(days=7)) == 1
    assert _lines(deputy) == []


def test_rights_never_chain(login, demo, deputize):
    """B acts for A and C for B: C sees B's own lines only, and acts in B's name only."""
    deputize("exec1", "employee1")
    deputize("employee1", "employee2", scopes=["inbox", "resolutions", "approvals"])
    c = login("employee2")
    assert {i["for"]["id"] for i in _lines(c)} <= {str(demo["employee1"].id)}
    assert not any(i["for"]["id"] == str(demo["exec1"].id) for i in _lines(c))
    draft = db.session.scalar(sa.select(Resolution).where(Resolution.author_id == demo["exec1"].id))
    if draft is None:
        doc = db.session.scalar(sa.select(InboxItem.document_id).where(InboxItem.user_id == demo["exec1"].id))
        resp = login("exec1").post(f"/documents/{doc}/resolutions",
                                   json={"text": "Проработать", "executors": [str(demo["employee1"].id)]})
        draft = db.session.get(Resolution, int(resp.get_json()["id"]))
    assert c.post(f"/resolutions/{draft.id}/issue", json={}).status_code == 404
    doc = db.session.scalar(sa.select(InboxItem.document_id).where(InboxItem.user_id == demo["exec1"].id))
    resp = c.post(f"/documents/{doc}/resolutions", json={
        "text": "Проработать", "executors": [str(demo["employee2"].id)], "acting_for": str(demo["exec1"].id)})
    assert resp.status_code == 403 and resp.get_json()["code"] == "not_acting_for"


# --- resolutions in the principal's name ------------------------------------------------------------

def _draft_of_exec1(login, demo) -> tuple[int, int]:
    doc = db.session.scalar(sa.select(InboxItem.document_id).where(
        InboxItem.user_id == demo["exec1"].id, InboxItem.kind == "resolution", InboxItem.removed.is_(False)))
    resp = login("exec1").post(f"/documents/{doc}/resolutions", json={
        "text": "Подготовить ответ", "executors": [str(demo["employee1"].id)]})
    assert resp.status_code == 201
    return doc, int(resp.get_json()["id"])


def test_a_deputy_issues_the_principals_draft_in_their_name(login, demo, deputize):
    doc, draft = _draft_of_exec1(login, demo)
    deputy = login("employee2")
    assert deputy.post(f"/resolutions/{draft}/issue", json={}).status_code == 404  # no right yet
    made = deputize("exec1", "employee2", scopes=["resolutions"])
    resp = deputy.post(f"/resolutions/{draft}/issue", json={})
    assert resp.status_code == 200, resp.get_json()
    issued = resp.get_json()
    assert issued["status"] == "issued" and issued["author"]["id"] == str(demo["exec1"].id)
    assert issued["issued_by"] == str(demo["employee2"].id) and issued["acting_for"] == str(demo["exec1"].id)
    entry = _audit("resolution.issued")[-1]
    assert entry.actor_id == demo["employee2"].id and entry.details["acting_for"] == str(demo["exec1"].id)
    # The principal's line of the draft left the inbox: acting took it off their desk.
    assert not db.session.scalar(sa.select(InboxItem.id).where(
        InboxItem.user_id == demo["exec1"].id, InboxItem.document_id == doc, InboxItem.kind == "resolution",
        InboxItem.removed.is_(False)))
    # Once ended, the right is gone.
    login("exec1").delete(f"/substitutions/{made['id']}")
    _, second = _draft_of_exec1(login, demo)
    assert deputy.post(f"/resolutions/{second}/issue", json={}).status_code == 404
    assert db.session.get(Resolution, second).status == "draft"


def test_a_deputy_writes_a_resolution_in_the_principals_name(login, demo, deputize):
    doc, _ = _draft_of_exec1(login, demo)
    body = {"text": "Рассмотреть и доложить", "executors": [str(demo["employee1"].id)],
            "deadline": NEXT_WEEK, "issue": True, "acting_for": str(demo["exec1"].id)}
    deputy = login("employee2")
    refused = deputy.post(f"/documents/{doc}/resolutions", json=body)
    assert refused.status_code == 403 and refused.get_json()["code"] == "not_acting_for"
    deputize("exec1", "employee2", scopes=["resolutions"])  # no inbox: the document is reached as exec1's
    resp = deputy.post(f"/documents/{doc}/resolutions", json=body)
    assert resp.status_code == 201, resp.get_json()
    made = resp.get_json()
    assert made["author"]["id"] == str(demo["employee2"].id) and made["acting_for"] == str(demo["exec1"].id)
    assert made["controller"] == str(demo["exec1"].id) and made["status"] == "issued"
    entry = _audit("resolution.created")[-1]
    assert entry.actor_id == demo["employee2"].id and entry.details["acting_for"] == str(demo["exec1"].id)
    # The resolutions scope alone is no right to approvals.
    approval = login("employee2").get("/approvals").get_json()["items"]
    assert approval == []


# --- approvals in the principal's name --------------------------------------------------------------

def _tor_approval(login) -> str:
    items = login("exec1").get("/approvals").get_json()["items"]
    assert len(items) == 1
    return items[0]["id"]


def test_a_deputy_decides_the_approval_waiting_for_the_principal(login, demo, deputize):
    approval_id = _tor_approval(login)
    deputy = login("employee2")
    assert deputy.post(f"/approvals/{approval_id}/decision", json={"decision": "approve"}).status_code == 404
    made = deputize("exec1", "employee2", scopes=["approvals"])
    assert [a["id"] for a in deputy.get("/approvals").get_json()["items"]] == [approval_id]
    named_other = deputy.post(f"/approvals/{approval_id}/decision",
                              json={"decision": "approve", "acting_for": str(demo["minister"].id)})
    assert named_other.status_code == 403 and named_other.get_json()["code"] == "not_acting_for"
    resp = deputy.post(f"/approvals/{approval_id}/decision", json={"decision": "approve"})  # inferred
    assert resp.status_code == 200, resp.get_json()
    decision = resp.get_json()["decisions"][-1]
    assert decision["approver"]["id"] == str(demo["exec1"].id)
    assert decision["decided_by"] == str(demo["employee2"].id) and decision["acting_for"] == str(demo["exec1"].id)
    assert resp.get_json()["due"] == [str(demo["minister"].id)]  # the route moved on
    entry = _audit("approval.decided")[-1]
    assert entry.actor_id == demo["employee2"].id and entry.details["acting_for"] == str(demo["exec1"].id)
    login("exec1").delete(f"/substitutions/{made['id']}")
    assert deputy.get("/approvals").get_json()["items"] == []


def test_an_ended_substitution_decides_nothing(login, demo, deputize):
    approval_id = _tor_approval(login)
    made = deputize("exec1", "employee2", scopes=["approvals"])
    assert login("exec1").delete(f"/substitutions/{made['id']}").status_code == 204
    deputy = login("employee2")
    assert deputy.post(f"/approvals/{approval_id}/decision", json={"decision": "approve"}).status_code == 404
    named = deputy.post(f"/approvals/{approval_id}/decision",
                        json={"decision": "approve", "acting_for": str(demo["exec1"].id)})
    assert named.status_code == 403
    assert login("exec1").get("/approvals").get_json()["items"][0]["due"] == [str(demo["exec1"].id)]


def test_a_substitution_not_yet_begun_gives_no_right(login, demo, deputize):
    approval_id = _tor_approval(login)
    deputize("exec1", "employee2", starts_at=TOMORROW, ends_at=NEXT_WEEK)
    deputy = login("employee2")
    assert deputy.get("/approvals").get_json()["items"] == []
    assert deputy.post(f"/approvals/{approval_id}/decision",
                       json={"decision": "approve", "acting_for": str(demo["exec1"].id)}).status_code == 403
    assert _lines(deputy) == []
    assert utcnow() < db.session.scalar(sa.select(Substitution.starts_at))


def test_the_principals_notifications_reach_the_deputy_naming_the_principal(login, demo, deputize):
    made = deputize("exec1", "employee2", scopes=["inbox"])
    deputize("employee1", "assistant1", scopes=["approvals"])  # no inbox scope: no pushes
    doc = db.session.scalar(sa.select(InboxItem.document_id).where(InboxItem.user_id == demo["minister"].id))
    resp = login("minister").post(f"/documents/{doc}/resolutions", json={
        "text": "Доложить", "executors": [str(demo["exec1"].id), str(demo["employee1"].id)], "issue": True})
    assert resp.status_code == 201, resp.get_json()
    owed = {(m.user_id, m.event, m.payload.get("for")) for m in db.session.scalars(sa.select(OutboxMessage))}
    assert (demo["employee2"].id, "task_assigned", str(demo["exec1"].id)) in owed
    assert not any(user_id == demo["assistant1"].id for user_id, _, _ in owed)
    login("exec1").delete(f"/substitutions/{made['id']}")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    login("minister").post(f"/documents/{doc}/resolutions", json={
        "text": "Доложить ещё", "executors": [str(demo["exec1"].id)], "issue": True})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.user_id == demo["employee2"].id)) == 1  # nothing more once it ended
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == before + 1


# --- execution control in the principal's name ------------------------------------------------------

def test_a_deputy_accepts_reports_and_decides_extensions_for_the_controller(login, demo, deputize):
    doc = db.session.scalar(sa.select(InboxItem.document_id).where(InboxItem.user_id == demo["minister"].id))
    resp = login("minister").post(f"/documents/{doc}/resolutions", json={
        "text": "Подготовить справку", "executors": [str(demo["employee1"].id)], "deadline": TOMORROW,
        "issue": True, "controller": str(demo["exec1"].id)})
    assert resp.status_code == 201, resp.get_json()
    executor, deputy = login("employee1"), login("employee2")
    task = executor.get("/tasks").get_json()["items"][0]["id"]
    assert executor.post(f"/tasks/{task}/extension-requests",
                         json={"deadline": NEXT_WEEK, "reason": "Жду данных"}).status_code == 201
    request_id = db.session.scalar(sa.text("SELECT id FROM extension_requests"))
    assert deputy.post(f"/extension-requests/{request_id}/decision", json={"decision": "approve"}).status_code == 404
    made = deputize("exec1", "employee2", scopes=["resolutions"])
    resp = deputy.post(f"/extension-requests/{request_id}/decision", json={"decision": "approve"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "approved", resp.get_json()
    assert executor.post(f"/tasks/{task}/report", json={"text": "Справка готова"}).status_code == 200
    resp = deputy.post(f"/tasks/{task}/accept", json={})
    assert resp.status_code == 200 and resp.get_json()["status"] == "done", resp.get_json()
    for action in ("task.extension_approved", "task.accepted"):
        entry = _audit(action)[-1]
        assert entry.actor_id == demo["employee2"].id and entry.details["acting_for"] == str(demo["exec1"].id)
    # Ended: the next report is the controller's alone again.
    login("exec1").delete(f"/substitutions/{made['id']}")
    resp = login("minister").post(f"/documents/{doc}/resolutions", json={
        "text": "Ещё справку", "executors": [str(demo["employee1"].id)], "deadline": TOMORROW, "issue": True,
        "controller": str(demo["exec1"].id)})
    second = [t["id"] for t in executor.get("/tasks").get_json()["items"] if t["id"] != task][0]
    assert executor.post(f"/tasks/{second}/report", json={"text": "Готово"}).status_code == 200
    assert deputy.post(f"/tasks/{second}/accept", json={}).status_code in (403, 404)


# --- search and documents: what the principal sees, only while acting -------------------------------

def test_a_deputy_finds_and_opens_what_the_principal_sees_only_while_acting(login, demo, deputize):
    # clerk1 registered the demo letters for the minister's office; employee2 (IT) sees none of them.
    clerk_doc = db.session.scalar(sa.select(Document).where(Document.reg_number.like("МЦР-1/%")))
    deputy = login("employee2")
    query = f"/search?reg_number={clerk_doc.reg_number}"
    assert deputy.get(query).get_json()["items"] == []
    assert deputy.get(f"/documents/{clerk_doc.id}").status_code == 404
    made = deputize("clerk1", "employee2", scopes=["inbox"])
    found = deputy.get(query).get_json()["items"]
    assert [i["document_id"] for i in found] == [str(clerk_doc.id)]
    opened = deputy.get(f"/documents/{clerk_doc.id}")
    assert opened.status_code == 200 and opened.get_json()["actions"] == []
    login("clerk1").delete(f"/substitutions/{made['id']}")
    assert deputy.get(query).get_json()["items"] == []
    assert deputy.get(f"/documents/{clerk_doc.id}").status_code == 404


def test_a_deputys_copy_of_a_line_stays_under_400_bytes_whatever_its_texts():
    worst = {"id": "9" * 19, "short_name": "Ё" * substitutions.FOR_NAME_CHARS}
    for title in ("Ж" * 1000, "😀" * 300, '"\\' * 500):
        reg_number, cut, sender = inbox.line_texts("МЦР-" + "1" * 36, title, "Министерство " * 5,
                                                   spare=substitutions.FOR_BYTES)
        line = {"id": "9" * 19, "document_id": "9" * 19, "kind": "resolution", "reg_number": reg_number,
                "title": cut, "from": sender, "received_at": "2026-11-25T09:30:00Z",
                "due_at": "2026-11-25T09:30:00Z", "unread": False, "urgent": False, "for": worst}
        assert len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()) < 400
