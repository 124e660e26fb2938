"""Text resolutions: drafts, edits kept as revisions, issue into tasks, completion."""
import sqlalchemy as sa

from models import Document, Organization, OutboxMessage, Resolution, ResolutionRevision, Task, db


def _doc(demo, n=1):
    return db.session.scalar(sa.select(Document.id).where(Document.reg_number.like(f"МЦР-{n}/%")))


def test_draft_edit_and_issue(login, demo):
    exec1, assistant = login("exec1"), login("assistant1")
    e1, e2 = str(demo["employee1"].id), str(demo["employee2"].id)
    draft = exec1.post(f"/documents/{_doc(demo)}/resolutions",
                       json={"text": "Подготовить ответ", "executors": [e1]}).get_json()
    assert draft["status"] == "draft" and draft["revisions"] == 0 and draft["issued_at"] is None
    edited = assistant.patch(f"/resolutions/{draft['id']}", json={
        "text": "Подготовить ответ до пятницы", "executors": [e1, e2], "deadline": "2026-12-04T15:00:00+03:00"})
    body = edited.get_json()
    assert edited.status_code == 200 and body["revisions"] == 1
    assert body["deadline"] == "2026-12-04T12:00:00Z" and [e["id"] for e in body["executors"]] == [e1, e2]
    revision = db.session.scalar(sa.select(ResolutionRevision))
    assert revision.editor_id == demo["assistant1"].id
    assert revision.changes["text"] == ["Подготовить ответ", "Подготовить ответ до пятницы"]

    issued = exec1.post(f"/resolutions/{draft['id']}/issue")
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == int(draft["id"]))).all()
    assert sorted(t.executor_id for t in tasks) == sorted([demo["employee1"].id, demo["employee2"].id])
    events = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.event == "task_assigned")).all()
    assert {m.user_id for m in events} >= {demo["employee1"].id, demo["employee2"].id}
    # Once issued, nobody edits it and it is not issued twice.
    assert exec1.patch(f"/resolutions/{draft['id']}", json={"text": "x"}).status_code == 409
    assert exec1.post(f"/resolutions/{draft['id']}/issue").status_code == 409


def test_an_issue_gives_each_executor_a_task_of_their_own_and_a_push_naming_it(login, demo):
    exec1 = login("exec1")
    e1, e2 = demo["employee1"].id, demo["employee2"].id
    document_id = _doc(demo)
    resp = exec1.post(f"/documents/{document_id}/resolutions", json={
        "text": "Свести замечания", "executors": [str(e2), str(e1)], "deadline": "2026-12-10T15:00:00+03:00",
        "issue": True})
    issued = resp.get_json()
    assert resp.status_code == 201 and issued["status"] == "issued" and issued["issued_at"]
    assert [e["id"] for e in issued["executors"]] == [str(e2), str(e1)]  # as named: the first is responsible
    assert resp.headers["Location"].endswith(f"/resolutions/{issued['id']}")
    assert exec1.get(f"/resolutions/{issued['id']}").get_json() == issued  # what was answered is what was kept
    for username, user_id in (("employee1", e1), ("employee2", e2)):
        executor = login(username)
        [task] = [t for t in executor.get("/tasks").get_json()["items"] if t["resolution_id"] == issued["id"]]
        assert (task["text"], task["deadline"], task["status"]) == ("Свести замечания", "2026-12-10T12:00:00Z", "open")
        assert task["author"]["short_name"] == "Галиев И.Р."
        changes = executor.get("/sync").get_json()  # a phone that syncs gets the task and its inbox line
        assert task["id"] in [t["id"] for t in changes["tasks"]["upserted"]]
        assert any(line["document_id"] == str(document_id) and line["kind"] == "task"
                   for line in changes["inbox"]["upserted"])
        [push] = [m for m in db.session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.user_id == user_id, OutboxMessage.event == "task_assigned"))
            if m.payload.get("resolution_id") == issued["id"]]
        assert push.payload == {"event": "task_assigned", "document_id": str(document_id), "task_id": task["id"],
                                "resolution_id": issued["id"]}
        assert push.status == "queued" and push.urgent


def test_a_draft_written_and_issued_in_one_transaction_is_kept_issued(demo):
    """As the demo loader does: the new draft is written by its own INSERT and attached to the session,
    so that the issue that follows in the same transaction is written too, not lost with the object."""
    from domain import access
    from domain import resolutions as rules

    exec1, employee1 = demo["exec1"], demo["employee1"]
    draft = rules.create(exec1, access.get_document(exec1, _doc(demo)), "Свести предложения", [employee1.id], None)
    rules.issue(exec1, draft.id)
    db.session.commit()
    db.session.expire_all()
    kept = db.session.get(Resolution, draft.id)
    assert kept.status == "issued" and kept.issued_at is not None and [e.id for e in kept.executors] == [employee1.id]
    tasks = db.session.scalars(sa.select(Task).where(Task.resolution_id == draft.id)).all()
    assert [(t.executor_id, t.text) for t in tasks] == [(employee1.id, "Свести предложения")]


def test_executors_must_be_people_of_the_authors_organization(login, demo):
    resp = login("exec1").post(f"/documents/{_doc(demo)}/resolutions",
                               json={"text": "Исполнить", "executors": [str(demo["exec2"].id)]})
    assert resp.status_code == 422 and "executors" in resp.get_json()["errors"]


def test_task_completion_reaches_the_author(login, demo):
    exec1, emp = login("exec1"), login("employee1")
    exec1.post(f"/documents/{_doc(demo)}/resolutions",
               json={"text": "Подготовить справку", "executors": [str(demo["employee1"].id)], "issue": True})
    task = next(t for t in emp.get("/tasks").get_json()["items"] if t["text"] == "Подготовить справку")
    assert task["author"]["short_name"] == "Галиев И.Р."
    done = emp.post(f"/tasks/{task['id']}/complete", json={"report": "Справка направлена"})
    assert done.status_code == 200 and done.get_json()["status"] == "done"
    assert task["id"] in [t["id"] for t in emp.get("/tasks?view=done").get_json()["items"]]
    assert task["id"] not in [t["id"] for t in emp.get("/tasks?view=open").get_json()["items"]]
    assert emp.post(f"/tasks/{task['id']}/complete", json={"report": "again"}).status_code == 409
    told = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.event == "task_completed"))
    assert told.user_id == demo["exec1"].id and told.payload["task_id"] == task["id"]


def test_delegating_a_task_makes_a_child_resolution(login, demo):
    # exec1 holds the minister's task on document 2 and hands it down to employee2.
    resp = login("exec1").post(f"/documents/{_doc(demo, 2)}/resolutions",
                               json={"text": "Подготовить проект", "executors": [str(demo["employee2"].id)]})
    parent = db.session.scalar(sa.select(Task).where(Task.executor_id == demo["exec1"].id))
    assert resp.get_json()["parent_task_id"] == str(parent.id)


def test_assistant_of_another_executive_cannot_see_the_draft(login, demo):
    draft = login("exec1").post(f"/documents/{_doc(demo)}/resolutions",
                                json={"text": "Черновик", "executors": [str(demo["employee1"].id)]}).get_json()
    assert login("minister").get(f"/resolutions/{draft['id']}").status_code == 404
    assert login("assistant1").get(f"/resolutions/{draft['id']}").status_code == 200
    doc = login("minister").get(f"/documents/{_doc(demo)}").get_json()
    assert draft["id"] not in [r["id"] for r in doc["resolutions"]]


def test_a_deadline_given_as_a_date_is_the_end_of_that_day_in_the_organizations_zone(login, demo):
    """What /resolutions/parse and the console's date picker give, the API takes: a plain date."""
    exec1 = login("exec1")
    org = db.session.get(Organization, demo["exec1"].organization_id)
    org.timezone = "Asia/Yekaterinburg"  # UTC+5: the end of the day there is 18:59:59 UTC
    db.session.commit()
    made = exec1.post(f"/documents/{_doc(demo)}/resolutions",
                      json={"text": "Доложить", "executors": [str(demo["employee1"].id)], "deadline": "2026-12-10"})
    assert made.status_code == 201 and made.get_json()["deadline"] == "2026-12-10T18:59:59Z"
    moved = exec1.patch(f"/resolutions/{made.get_json()['id']}", json={"deadline": "2026-12-11"})
    assert moved.status_code == 200 and moved.get_json()["deadline"] == "2026-12-11T18:59:59Z"
    timed = exec1.patch(f"/resolutions/{made.get_json()['id']}", json={"deadline": "2026-12-12T09:00:00+03:00"})
    assert timed.status_code == 200 and timed.get_json()["deadline"] == "2026-12-12T06:00:00Z"
    for bad in ("2026-02-30", "2026-12-10T10:00:00", "10.12.2026", "1999-01-01"):
        refused = exec1.patch(f"/resolutions/{made.get_json()['id']}", json={"deadline": bad})
        assert refused.status_code == 422 and "deadline" in refused.get_json()["errors"], bad
