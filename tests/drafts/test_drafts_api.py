"""An assistant drafts for the executive they serve; the executive issues, edits or rejects; an assistant
the executive allowed issues in the executive's name. Through the API, on SQLite and PostgreSQL."""
import sqlalchemy as sa

from models import AuditEvent, Document, InboxItem, OutboxMessage, Resolution, Task, db
from tests.support.tablet import Tablet


def _doc() -> int:
    """A letter in exec1's inbox to resolve (so assistant1, who serves exec1, sees it too)."""
    return db.session.scalar(sa.select(Document.id).where(Document.reg_number.like("МЦР-1/%")))


def _problem(resp, status: int, code: str) -> dict:
    body = resp.get_json()
    assert resp.status_code == status and body["code"] == code, (resp.status_code, body)
    return body


def _pushes(event: str, user_id: int, resolution_id: str) -> list[OutboxMessage]:
    return [m for m in db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.event == event, OutboxMessage.user_id == user_id))
        if m.payload.get("resolution_id") == resolution_id]


def _line(user_id: int, document_id: int, kind: str = "resolution") -> InboxItem | None:
    return db.session.scalar(sa.select(InboxItem).where(
        InboxItem.user_id == user_id, InboxItem.document_id == document_id, InboxItem.kind == kind,
        InboxItem.removed.is_(False)))


def _draft(assistant, demo, text="Подготовить ответ заявителю", **extra):
    resp = assistant.post(f"/documents/{_doc()}/resolutions", json={
        "text": text, "executors": [str(demo["employee1"].id)], "author": str(demo["exec1"].id), **extra})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_an_assistants_draft_is_the_executives_and_reaches_their_inbox_with_a_push(login, demo):
    assistant, exec1 = login("assistant1"), login("exec1")
    doc = _doc()
    db.session.execute(sa.update(InboxItem).where(InboxItem.user_id == demo["exec1"].id).values(removed=True))
    db.session.commit()

    draft = _draft(assistant, demo)

    assert draft["author"]["id"] == str(demo["exec1"].id) and draft["status"] == "draft"
    assert draft["drafted_by"] == str(demo["assistant1"].id) and draft["issued_by"] is None
    [line] = [i for i in exec1.get("/inbox").get_json()["items"]
              if i["document_id"] == str(doc) and i["kind"] == "resolution"]
    assert line["from"].startswith("Миннуллина") and line["unread"] is True  # from the assistant
    [push] = _pushes("draft_prepared", demo["exec1"].id, draft["id"])
    assert push.payload == {"event": "draft_prepared", "document_id": str(doc), "resolution_id": draft["id"]}
    # The executive edits it as their own, and sees it among the document's resolutions.
    edited = exec1.patch(f"/resolutions/{draft['id']}", json={"text": "Подготовить ответ к пятнице"})
    assert edited.status_code == 200 and edited.get_json()["text"] == "Подготовить ответ к пятнице"
    listed = exec1.get(f"/documents/{doc}").get_json()["resolutions"]
    assert [(r["id"], r["drafted_by"]) for r in listed if r["id"] == draft["id"]] == [
        (draft["id"], str(demo["assistant1"].id))]


def test_an_author_the_assistant_does_not_serve_is_refused_and_nothing_is_written(login, demo):
    assistant, clerk = login("assistant1"), login("clerk1")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Resolution))
    body = {"text": "Исполнить", "executors": [str(demo["employee2"].id)]}
    _problem(assistant.post(f"/documents/{_doc()}/resolutions", json={**body, "author": str(demo["minister"].id)}),
             403, "not_your_executive")
    _problem(assistant.post(f"/documents/{_doc()}/resolutions", json={**body, "author": str(demo["exec2"].id)}),
             403, "not_your_executive")  # another organization's executive
    _problem(clerk.post(f"/documents/{_doc()}/resolutions", json={**body, "author": str(demo["exec1"].id)}),
             403, "not_your_executive")  # she registered the letter, but serves no one
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution)) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.event == "draft_prepared")) == 0


def test_the_executive_rejects_with_a_comment_and_the_assistant_learns_it(login, demo):
    assistant, exec1 = login("assistant1"), login("exec1")
    draft = _draft(assistant, demo)
    _problem(assistant.post(f"/resolutions/{draft['id']}/reject", json={}), 403, "forbidden")  # not hers
    _problem(login("employee1").post(f"/resolutions/{draft['id']}/reject", json={}), 404, "not_found")

    rejected = exec1.post(f"/resolutions/{draft['id']}/reject", json={"comment": "Вопрос уже решён"})

    assert rejected.status_code == 200, rejected.get_json()
    assert (rejected.get_json()["status"], rejected.get_json()["reject_comment"]) == ("rejected", "Вопрос уже решён")
    seen = assistant.get(f"/resolutions/{draft['id']}").get_json()
    assert (seen["status"], seen["reject_comment"]) == ("rejected", "Вопрос уже решён")
    [push] = _pushes("draft_rejected", demo["assistant1"].id, draft["id"])
    assert push.payload["document_id"] == str(_doc())
    assert _line(demo["exec1"].id, _doc()) is None  # off the executive's inbox
    mine = assistant.get("/me/drafts").get_json()  # the assistant's own list says so too
    assert [(r["id"], r["status"], r["reject_comment"]) for r in mine["items"]] == [
        (draft["id"], "rejected", "Вопрос уже решён")]
    assert exec1.get("/me/drafts").get_json()["items"] == []
    # Rejected is final: no second reject, no issue, no edit; each 409 names the state.
    for resp in (exec1.post(f"/resolutions/{draft['id']}/reject", json={}),
                 exec1.post(f"/resolutions/{draft['id']}/issue", json={}),
                 exec1.patch(f"/resolutions/{draft['id']}", json={"text": "Иначе"})):
        assert _problem(resp, 409, "invalid_state")["state"] == "rejected"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(
        Task.resolution_id == int(draft["id"]))) == 0


def test_a_reject_without_comment_and_repeated_with_one_key_happens_once(login, demo):
    exec1 = login("exec1")
    draft = _draft(login("assistant1"), demo)
    first = exec1.post(f"/resolutions/{draft['id']}/reject", headers={"Idempotency-Key": "rej-1"})
    again = exec1.post(f"/resolutions/{draft['id']}/reject", headers={"Idempotency-Key": "rej-1"})
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    assert first.get_json()["reject_comment"] is None
    assert len(_pushes("draft_rejected", demo["assistant1"].id, draft["id"])) == 1


def test_a_draft_posted_twice_with_one_key_is_written_once(login, demo):
    assistant = login("assistant1")
    body = {"text": "Свести предложения", "executors": [str(demo["employee1"].id)], "author": str(demo["exec1"].id)}
    answers = [assistant.post(f"/documents/{_doc()}/resolutions", json=body, headers={"Idempotency-Key": "d-1"})
               for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201] and answers[0].get_json() == answers[1].get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution).where(
        Resolution.text == "Свести предложения")) == 1


def test_only_the_executive_gives_an_assistant_who_serves_them_the_right_to_issue(login, demo):
    exec1, assistant, minister = login("exec1"), login("assistant1"), login("minister")
    a1 = str(demo["assistant1"].id)
    _problem(exec1.put("/me/assistant-rights", json={"assistant": str(demo["employee1"].id), "may_issue": True}),
             403, "not_your_assistant")
    _problem(minister.put("/me/assistant-rights", json={"assistant": a1, "may_issue": True}),
             403, "not_your_assistant")
    _problem(assistant.put("/me/assistant-rights", json={"assistant": a1, "may_issue": True}),
             403, "not_your_assistant")  # not her own to give
    assert exec1.get("/me/assistant-rights").get_json()["assistants"] == [
        {"assistant": {"id": a1, "short_name": demo["assistant1"].short_name}, "may_issue": False, "set_at": None}]

    given = exec1.put("/me/assistant-rights", json={"assistant": a1, "may_issue": True})

    assert given.status_code == 200 and given.get_json()["may_issue"] is True
    assert [r["may_issue"] for r in exec1.get("/me/assistant-rights").get_json()["assistants"]] == [True]
    assert assistant.get("/me/assistant-rights").get_json()["executives"] == [
        {"executive": {"id": str(demo["exec1"].id), "short_name": demo["exec1"].short_name}, "may_issue": True}]
    assert db.session.scalar(sa.select(AuditEvent.details).where(AuditEvent.action == "assistant_rights.set")) == {
        "may_issue": True}


def test_an_assistant_issues_in_the_executives_name_only_while_allowed(login, demo):
    exec1, assistant = login("exec1"), login("assistant1")
    a1 = str(demo["assistant1"].id)
    draft = _draft(assistant, demo)
    _problem(assistant.post(f"/resolutions/{draft['id']}/issue", json={}), 403, "forbidden")
    _problem(assistant.post(f"/documents/{_doc()}/resolutions", json={
        "text": "Сразу", "executors": [str(demo["employee1"].id)], "author": str(demo["exec1"].id), "issue": True}),
        403, "forbidden")
    exec1.put("/me/assistant-rights", json={"assistant": a1, "may_issue": True})

    issued = assistant.post(f"/resolutions/{draft['id']}/issue", json={}, headers={"Idempotency-Key": "iss-1"})

    body = issued.get_json()
    assert issued.status_code == 200 and body["status"] == "issued", body
    assert (body["author"]["id"], body["issued_by"], body["drafted_by"]) == (str(demo["exec1"].id), a1, a1)
    [task] = login("employee1").get("/tasks").get_json()["items"][:1]
    assert task["resolution_id"] == draft["id"] and task["author"]["id"] == str(demo["exec1"].id)
    [push] = _pushes("issued_for_you", demo["exec1"].id, draft["id"])
    assert push.payload["document_id"] == str(_doc())
    entry = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "resolution.issued",
                                                          AuditEvent.object_id == draft["id"]))
    assert entry.actor_id == demo["assistant1"].id and entry.details["acting_for"] == str(demo["exec1"].id)
    # At once too, in one request.
    at_once = assistant.post(f"/documents/{_doc()}/resolutions", json={
        "text": "Сразу", "executors": [str(demo["employee2"].id)], "author": str(demo["exec1"].id), "issue": True})
    assert at_once.status_code == 201 and (at_once.get_json()["status"], at_once.get_json()["issued_by"]) == (
        "issued", a1)
    # The right withdrawn, the next issue is refused.
    exec1.put("/me/assistant-rights", json={"assistant": a1, "may_issue": False})
    later = _draft(assistant, demo, text="Позже")
    _problem(assistant.post(f"/resolutions/{later['id']}/issue", json={}), 403, "forbidden")
    assert db.session.get(Resolution, int(later["id"])).status == "draft"


def test_where_issues_are_signed_the_assistant_signs_with_their_own_key(login, demo):
    exec1, assistant = login("exec1"), login("assistant1")
    assert login("admin1").patch("/organization", json={"issue_requires_signature": True}).status_code == 200
    exec1.put("/me/assistant-rights", json={"assistant": str(demo["assistant1"].id), "may_issue": True})
    tablet = Tablet()
    key = assistant.post("/keys", json={"csr": tablet.csr_pem()}).get_json()
    draft = _draft(assistant, demo)
    _problem(assistant.post(f"/resolutions/{draft['id']}/issue", json={}), 422, "signature_required")
    assert db.session.get(Resolution, int(draft["id"])).status == "draft"

    session = assistant.post("/signing-sessions", json={"subject": {"type": "resolution", "id": draft["id"]},
                                                        "key_id": key["id"]}).get_json()
    signed = assistant.post(f"/signing-sessions/{session['id']}/signature",
                            json={"signature": tablet.sign_b64(session["data_to_sign"])})
    assert signed.status_code == 200, signed.get_json()
    issued = assistant.post(f"/resolutions/{draft['id']}/issue", json={"signing_session_id": session["id"]})

    assert issued.status_code == 200 and issued.get_json()["issued_by"] == str(demo["assistant1"].id)
    [signature] = login("exec1").get(f"/documents/{_doc()}/signatures").get_json()["items"]
    assert signature["signer"]["id"] == str(demo["assistant1"].id) and signature["valid"] is True
