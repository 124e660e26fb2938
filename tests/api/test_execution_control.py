"""Execution control through the API: reports accepted or returned, co-executors reporting to the
responsible executor, acknowledgements, extension requests, withdrawal, and who hears of each."""
import io
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from models import AuditEvent, Document, OutboxMessage, db

DEADLINE = (datetime.now(timezone.utc) + timedelta(days=10)).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _doc(n=1) -> int:
    return db.session.scalar(sa.select(Document.id).where(Document.reg_number.like(f"МЦР-{n}/%")))


def _issue(author, executors, deadline=DEADLINE, doc=1, **extra) -> dict:
    resp = author.post(f"/documents/{_doc(doc)}/resolutions", json={
        "text": "Подготовить ответ заявителю", "executors": [str(e.id) for e in executors],
        "deadline": _iso(deadline) if deadline else None, "issue": True, **extra})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _task(api, resolution_id) -> dict:
    [task] = [t for t in api.get("/sync").get_json()["tasks"]["upserted"] if t["resolution_id"] == resolution_id]
    return task


def _line(api, kind, doc=1):
    """The user's current inbox line of this kind on the document, or None."""
    lines = [i for i in api.get("/inbox").get_json()["items"]
             if i["kind"] == kind and i["document_id"] == str(_doc(doc))]
    return lines[0] if lines else None


def _pushes(event, user) -> list[dict]:
    return [m.payload for m in db.session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.event == event, OutboxMessage.user_id == user.id).order_by(OutboxMessage.id))]


def _audited(obj_type, obj_id) -> list[tuple[str, int]]:
    return [tuple(row) for row in db.session.execute(sa.select(AuditEvent.action, AuditEvent.actor_id).where(
        AuditEvent.object_type == obj_type, AuditEvent.object_id == str(obj_id)).order_by(AuditEvent.id))]


def _refused(resp, status, code, state=None):
    body = resp.get_json()
    assert resp.status_code == status and body["code"] == code, body
    if state is not None:
        assert body["state"] == state, body


def test_a_report_returned_reported_again_and_accepted_executes_the_resolution(login, demo):
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    res = _issue(exec1, [demo["employee1"], demo["employee2"]])
    assert res["control"] is True and res["controller"] == str(demo["exec1"].id)
    mine, theirs = _task(emp1, res["id"]), _task(emp2, res["id"])
    assert (mine["responsible"], mine["control"], mine["status"]) == (True, True, "open")
    assert theirs["responsible"] is False

    # The responsible executor reports with a file: the controller has a report line and a push.
    reported = emp1.post(f"/tasks/{mine['id']}/report", data={
        "text": "Ответ подготовлен", "file": (io.BytesIO(b"%PDF-1.4 answer"), "Ответ.pdf", "application/pdf")})
    body = reported.get_json()
    assert reported.status_code == 200 and body["status"] == "reported" and body["report"] == "Ответ подготовлен"
    [entry] = body["reports"]
    assert entry["outcome"] is None and [f["name"] for f in entry["files"]] == ["Ответ.pdf"]
    file_url = f"/tasks/{mine['id']}/reports/{entry['id']}/files/{entry['files'][0]['id']}"
    assert exec1.get(file_url).data == b"%PDF-1.4 answer"
    assert login("exec2").get(file_url).status_code == 404
    assert _line(exec1, "report")["unread"] is True and _line(emp1, "task") is None
    assert _pushes("report_submitted", demo["exec1"])[-1]["task_id"] == mine["id"]

    # Returned without a comment: refused; with one, open again, returned, and back in the executor's inbox.
    assert exec1.post(f"/tasks/{mine['id']}/return", json={}).status_code == 422
    back = exec1.post(f"/tasks/{mine['id']}/return", json={"comment": "Дополнить расчётами"}).get_json()
    assert (back["status"], back["returned"]) == ("open", True)
    assert back["reports"][0]["outcome"] == "returned" and back["reports"][0]["comment"] == "Дополнить расчётами"
    assert _line(emp1, "task")["unread"] is True and _line(exec1, "report") is None
    assert _task(emp1, res["id"])["returned"] is True  # what a phone's sync carries
    assert _pushes("report_returned", demo["employee1"])[-1]["task_id"] == mine["id"]

    again = emp1.post(f"/tasks/{mine['id']}/report", json={"text": "Расчёты приложены"}).get_json()
    assert (again["status"], again["returned"], len(again["reports"])) == ("reported", False, 2)

    # The co-executor reports to the responsible executor, who accepts; the controller never sees it.
    emp2.post(f"/tasks/{theirs['id']}/report", json={"text": "Свою часть сделала"})
    assert _line(emp1, "report") is not None
    assert _pushes("report_submitted", demo["employee1"])[-1]["task_id"] == theirs["id"]
    assert exec1.get("/inbox").get_json()["items"][0]["kind"] == "report"  # the responsible's report still waits
    _refused(emp2.post(f"/tasks/{mine['id']}/accept", json={}), 403, "forbidden")  # not hers to accept
    accepted = emp1.post(f"/tasks/{theirs['id']}/accept", json={"comment": "Спасибо"}).get_json()
    assert accepted["status"] == "done" and accepted["reports"][0]["outcome"] == "accepted"
    assert _line(emp1, "report") is None
    assert exec1.get(f"/resolutions/{res['id']}").get_json()["status"] == "issued"

    done = exec1.post(f"/tasks/{mine['id']}/accept", json={})
    assert done.status_code == 200 and done.get_json()["status"] == "done"
    assert exec1.get(f"/resolutions/{res['id']}").get_json()["status"] == "executed"
    assert _pushes("report_accepted", demo["employee1"])[-1]["task_id"] == mine["id"]
    assert mine["id"] in [t["id"] for t in emp1.get("/tasks?view=done").get_json()["items"]]
    _refused(exec1.post(f"/tasks/{mine['id']}/accept", json={}), 409, "invalid_state", "done")
    _refused(exec1.post(f"/tasks/{mine['id']}/return", json={"comment": "Нет"}), 409, "invalid_state", "done")
    e1, x1 = demo["employee1"].id, demo["exec1"].id
    assert _audited("task", mine["id"]) == [("task.reported", e1), ("task.returned", x1), ("task.reported", e1),
                                           ("task.accepted", x1)]
    assert _audited("task", theirs["id"]) == [("task.reported", demo["employee2"].id), ("task.accepted", e1)]
    assert ("resolution.executed", x1) in _audited("resolution", res["id"])


def test_a_reported_task_stays_in_the_executors_open_list_until_accepted(login, demo):
    exec1, emp1 = login("exec1"), login("employee1")
    res = _issue(exec1, [demo["employee1"]])
    task = _task(emp1, res["id"])
    emp1.post(f"/tasks/{task['id']}/report", json={"text": "Готово"})
    [listed] = [t for t in emp1.get("/tasks?view=open").get_json()["items"] if t["id"] == task["id"]]
    assert listed["status"] == "reported" and listed["reports"][0]["text"] == "Готово"


def test_an_information_task_is_acknowledged_and_complete_keeps_working(login, demo):
    exec1, emp1 = login("exec1"), login("employee1")
    info = _issue(exec1, [demo["employee1"]], deadline=None)
    assert info["control"] is False
    task = _task(emp1, info["id"])
    _refused(emp1.post(f"/tasks/{task['id']}/report", json={"text": "x"}), 409, "invalid_state", "open")
    _refused(exec1.post(f"/tasks/{task['id']}/acknowledge"), 404, "not_found")
    acknowledged = emp1.post(f"/tasks/{task['id']}/acknowledge")
    assert acknowledged.status_code == 200 and acknowledged.get_json()["status"] == "done"
    _refused(emp1.post(f"/tasks/{task['id']}/acknowledge"), 409, "invalid_state", "done")
    assert _pushes("task_completed", demo["exec1"])[-1]["task_id"] == task["id"]

    # An app that only knows `complete`: on a controlled task it reports.
    controlled = _issue(exec1, [demo["employee1"]], doc=3)
    task = _task(emp1, controlled["id"])
    _refused(emp1.post(f"/tasks/{task['id']}/acknowledge"), 409, "invalid_state", "open")
    completed = emp1.post(f"/tasks/{task['id']}/complete", json={"report": "Исполнено"}).get_json()
    assert completed["status"] == "reported" and completed["reports"][0]["text"] == "Исполнено"


def test_control_may_be_chosen_and_the_controller_named(login, demo):
    exec1, assistant = login("exec1"), login("assistant1")
    res = _issue(exec1, [demo["employee1"]], control=False, controller=str(demo["minister"].id))
    assert res["control"] is False and res["controller"] == str(demo["minister"].id)
    refused = exec1.post(f"/documents/{_doc()}/resolutions", json={
        "text": "x", "executors": [str(demo["employee1"].id)], "controller": str(demo["exec2"].id)})
    assert refused.status_code == 422 and "controller" in refused.get_json()["errors"]
    draft = exec1.post(f"/documents/{_doc()}/resolutions", json={
        "text": "Проект", "executors": [str(demo["employee1"].id)]}).get_json()
    assert draft["control"] is False and draft["controller"] == str(demo["exec1"].id)
    patched = assistant.patch(f"/resolutions/{draft['id']}", json={
        "deadline": _iso(DEADLINE), "controller": str(demo["minister"].id)}).get_json()
    assert patched["control"] is True and patched["controller"] == str(demo["minister"].id)
    issued = exec1.post(f"/resolutions/{draft['id']}/issue").get_json()
    assert issued["control"] is True and issued["controller"] == str(demo["minister"].id)
    # The minister controls it: he accepts, exec1 (its author) does not.
    emp1 = login("employee1")
    task = _task(emp1, issued["id"])
    emp1.post(f"/tasks/{task['id']}/report", json={"text": "Готово"})
    _refused(exec1.post(f"/tasks/{task['id']}/accept", json={}), 403, "forbidden")
    assert login("minister").post(f"/tasks/{task['id']}/accept", json={}).get_json()["status"] == "done"


def test_extension_requests_are_decided_by_the_controller_and_kept_as_history(login, demo):
    exec1, emp1 = login("exec1"), login("employee1")
    res = _issue(exec1, [demo["employee1"]])
    task = _task(emp1, res["id"])
    emp1.post(f"/inbox/{_line(emp1, 'task')['id']}/read")
    later = DEADLINE + timedelta(days=7)
    made = emp1.post(f"/tasks/{task['id']}/extension-requests", json={"deadline": _iso(later),
                                                                        "reason": "Ждём ответа ведомства"})
    first = made.get_json()
    assert made.status_code == 201 and first["status"] == "pending" and first["old_deadline"] == _iso(DEADLINE)
    _refused(emp1.post(f"/tasks/{task['id']}/extension-requests", json={"deadline": _iso(later), "reason": "ещё"}),
             409, "extension_pending", "pending")
    assert emp1.post(f"/tasks/{task['id']}/extension-requests", json={
        "deadline": _iso(datetime.now(timezone.utc) - timedelta(days=1)), "reason": "x"}).status_code == 422
    assert _line(exec1, "extension")["unread"] is True
    assert _pushes("extension_requested", demo["exec1"])[-1]["extension_request_id"] == first["id"]

    _refused(emp1.post(f"/extension-requests/{first['id']}/decision", json={"decision": "approve"}), 403, "forbidden")
    _refused(login("exec2").post(f"/extension-requests/{first['id']}/decision", json={"decision": "approve"}),
             404, "not_found")
    granted = DEADLINE + timedelta(days=5)
    approved = exec1.post(f"/extension-requests/{first['id']}/decision",
                          json={"decision": "approve", "deadline": _iso(granted)}).get_json()
    assert approved["status"] == "approved" and approved["new_deadline"] == _iso(granted)
    assert _task(emp1, res["id"])["deadline"] == _iso(granted)
    line = _line(emp1, "task")
    assert line["unread"] is True and line["due_at"] == _iso(granted)  # the executor's line comes back
    assert _line(exec1, "extension") is None
    assert _pushes("extension_decided", demo["employee1"])[-1]["extension_request_id"] == first["id"]
    _refused(exec1.post(f"/extension-requests/{first['id']}/decision", json={"decision": "reject"}),
             409, "invalid_state", "approved")

    second = emp1.post(f"/tasks/{task['id']}/extension-requests",
                       json={"deadline": "2200-01-01", "reason": "Ещё неделю"}).get_json()
    assert second["old_deadline"] == _iso(granted)
    rejected = exec1.post(f"/extension-requests/{second['id']}/decision",
                          json={"decision": "reject", "comment": "Срок не переносится"}).get_json()
    assert rejected["status"] == "rejected" and rejected["new_deadline"] is None
    assert _task(emp1, res["id"])["deadline"] == _iso(granted)
    history = [emp1.get(f"/extension-requests/{r['id']}").get_json() for r in (first, second)]
    assert [(h["status"], h["old_deadline"]) for h in history] == [("approved", _iso(DEADLINE)),
                                                                   ("rejected", _iso(granted))]
    assert [action for action, _ in _audited("task", task["id"])] == [
        "task.extension_requested", "task.extension_approved", "task.extension_requested", "task.extension_rejected"]


def test_a_withdrawn_resolution_ends_its_open_tasks(login, demo):
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    res = _issue(exec1, [demo["employee1"], demo["employee2"]])
    mine, theirs = _task(emp1, res["id"]), _task(emp2, res["id"])
    emp1.post(f"/tasks/{mine['id']}/report", json={"text": "Готово"})
    pending = emp2.post(f"/tasks/{theirs['id']}/extension-requests",
                        json={"deadline": "2200-01-01", "reason": "Не успеваю"}).get_json()
    _refused(emp1.post(f"/resolutions/{res['id']}/withdraw", json={"reason": "x"}), 403, "forbidden")
    _refused(login("exec2").post(f"/resolutions/{res['id']}/withdraw", json={"reason": "x"}), 404, "not_found")
    assert exec1.post(f"/resolutions/{res['id']}/withdraw", json={}).status_code == 422
    withdrawn = exec1.post(f"/resolutions/{res['id']}/withdraw", json={"reason": "Вопрос снят"})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    for api, task in ((emp1, mine), (emp2, theirs)):
        ended = _task(api, res["id"])
        assert (ended["status"], ended["withdrawn"]) == ("done", True)
    assert emp2.get(f"/extension-requests/{pending['id']}").get_json()["status"] == "cancelled"
    assert _line(emp2, "task") is None and _line(exec1, "report") is None and _line(exec1, "extension") is None
    assert {p["task_id"] for p in _pushes("resolution_withdrawn", demo["employee1"])
            + _pushes("resolution_withdrawn", demo["employee2"])} == {mine["id"], theirs["id"]}
    _refused(emp2.post(f"/tasks/{theirs['id']}/report", json={"text": "x"}), 409, "invalid_state", "done")
    _refused(exec1.post(f"/resolutions/{res['id']}/withdraw", json={"reason": "x"}), 409, "invalid_state",
             "withdrawn")
    assert emp1.get(f"/resolutions/{res['id']}").status_code == 200  # still readable by its executors
    assert ("resolution.withdrawn", demo["exec1"].id) in _audited("resolution", res["id"])


def test_the_others_cannot_touch_a_task(login, demo):
    exec1, emp1 = login("exec1"), login("employee1")
    res = _issue(exec1, [demo["employee1"]])
    task = _task(emp1, res["id"])
    _refused(exec1.post(f"/tasks/{task['id']}/accept", json={}), 409, "invalid_state", "open")
    _refused(emp1.post(f"/tasks/{task['id']}/accept", json={}), 403, "forbidden")  # not one's own report
    _refused(exec1.post(f"/tasks/{task['id']}/report", json={"text": "x"}), 404, "not_found")
    _refused(exec1.post(f"/tasks/{task['id']}/extension-requests", json={"deadline": "2200-01-01", "reason": "x"}),
             404, "not_found")
    for path in (f"/tasks/{task['id']}/accept", f"/tasks/{task['id']}/return"):
        _refused(login("exec2").post(path, json={"comment": "x"}), 404, "not_found")
    _refused(exec1.post("/tasks/999999/accept", json={}), 404, "not_found")
    _refused(exec1.post("/extension-requests/999999/decision", json={"decision": "approve"}), 404, "not_found")


def test_a_retried_report_or_accept_with_its_key_runs_once(login, demo):
    exec1, emp1 = login("exec1"), login("employee1")
    res = _issue(exec1, [demo["employee1"]])
    task = _task(emp1, res["id"])

    def report():
        return emp1.post(f"/tasks/{task['id']}/report", headers={"Idempotency-Key": "report-1"}, data={
            "text": "Готово", "file": (io.BytesIO(b"scan"), "Скан.png", "image/png")})

    first, again = report(), report()
    assert first.status_code == again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert first.get_json() == again.get_json() and len(again.get_json()["reports"]) == 1
    assert len(_pushes("report_submitted", demo["exec1"])) == 1
    accepted = [exec1.post(f"/tasks/{task['id']}/accept", json={}, headers={"Idempotency-Key": "accept-1"})
                for _ in range(2)]
    assert [a.status_code for a in accepted] == [200, 200] and accepted[0].get_json() == accepted[1].get_json()
    assert len(_pushes("report_accepted", demo["employee1"])) == 1
