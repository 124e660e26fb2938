"""Execution control and the directory while someone acts for someone else: a deputy (resolutions scope)
reads the principal's control views, summary and execution trees with `for`, withdraws the principal's
resolutions in their name, and the directory says who is away and who acts for them; all only while the
substitution runs."""
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from models import AuditEvent, InboxItem, Task, db


def _at(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


NOW, TOMORROW, NEXT_WEEK = _at(timedelta(seconds=-1)), _at(timedelta(days=1)), _at(timedelta(days=7))


def _deputize(login, demo, principal: str, deputy: str, scopes=("resolutions",), by: str | None = None) -> str:
    body = {"deputy": str(demo[deputy].id), "starts_at": NOW, "ends_at": NEXT_WEEK, "scopes": list(scopes)}
    if by:
        body["principal"] = str(demo[principal].id)
    resp = login(by or principal).post("/substitutions", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _controlled_by_exec1(login, demo, text="Подготовить справку") -> tuple[int, int]:
    """A resolution the minister issues for employee1, controlled by exec1: (resolution id, task id)."""
    doc = db.session.scalar(sa.select(InboxItem.document_id).where(InboxItem.user_id == demo["minister"].id)
                            .order_by(InboxItem.id))
    resp = login("minister").post(f"/documents/{doc}/resolutions", json={
        "text": text, "executors": [str(demo["employee1"].id)], "deadline": TOMORROW, "issue": True,
        "controller": str(demo["exec1"].id)})
    assert resp.status_code == 201, resp.get_json()
    res = int(resp.get_json()["id"])
    return res, db.session.scalar(sa.select(Task.id).where(Task.resolution_id == res))


def test_a_deputy_reads_the_principals_control_views_with_for_only_while_acting(login, demo):
    res, task = _controlled_by_exec1(login, demo)
    deputy, exec1 = login("employee2"), str(demo["exec1"].id)
    before = deputy.get(f"/control?view=open&for={exec1}")
    assert before.status_code == 403 and before.get_json()["code"] == "not_acting_for"
    assert deputy.get(f"/resolutions/{res}/execution").status_code == 404
    # The inbox scope alone is no view of what the principal controls.
    inbox_only = _deputize(login, demo, "exec1", "employee2", scopes=["inbox"])
    assert deputy.get(f"/control?view=open&for={exec1}").status_code == 403
    login("exec1").delete(f"/substitutions/{inbox_only}")
    made = _deputize(login, demo, "exec1", "employee2")
    page = deputy.get(f"/control?view=open&for={exec1}").get_json()
    assert [i["task"]["id"] for i in page["items"]] == [str(task)] and page["for"]["id"] == exec1
    own = deputy.get("/control?view=open").get_json()
    assert own["items"] == [] and own["for"] is None  # the deputy's own view stays their own
    assert login("employee1").post(f"/tasks/{task}/extension-requests",
                                   json={"deadline": NEXT_WEEK, "reason": "Жду данных"}).status_code == 201
    asked = deputy.get(f"/control?view=extensions&for={exec1}").get_json()["items"]
    assert [i["task"]["id"] for i in asked] == [str(task)] and asked[0]["extension_request"]["status"] == "pending"
    tree = deputy.get(f"/resolutions/{res}/execution")
    assert tree.status_code == 200 and [t["task"]["id"] for t in tree.get_json()["tasks"]] == [str(task)]
    # Someone the deputy does not act for stays out of reach.
    assert deputy.get(f"/control?view=open&for={demo['minister'].id}").status_code == 403
    login("exec1").delete(f"/substitutions/{made}")
    after = deputy.get(f"/control?view=extensions&for={exec1}")
    assert after.status_code == 403 and after.get_json()["code"] == "not_acting_for"
    assert deputy.get(f"/resolutions/{res}/execution").status_code == 404


def test_a_deputy_reads_the_principals_summary_in_the_principals_scope(login, demo):
    _controlled_by_exec1(login, demo)
    deputy, exec1 = login("employee2"), str(demo["exec1"].id)
    own = deputy.get("/control/summary").get_json()
    assert own["unit"]["short_name"] == "Информатизация" and own["for"] is None
    assert deputy.get(f"/control/summary?for={exec1}").status_code == 403
    made = _deputize(login, demo, "exec1", "employee2")
    theirs = deputy.get(f"/control/summary?for={exec1}").get_json()
    # An executive's scope: the organization's top, every unit of it.
    assert theirs["unit"]["short_name"] == "Аппарат" and len(theirs["units"]) == 3
    assert theirs["for"]["id"] == exec1
    login("exec1").delete(f"/substitutions/{made}")
    after = deputy.get(f"/control/summary?for={exec1}")
    assert after.status_code == 403 and after.get_json()["code"] == "not_acting_for"


def test_a_deputy_withdraws_the_principals_resolution_in_their_name_only_while_acting(login, demo):
    res, task = _controlled_by_exec1(login, demo)
    deputy = login("employee2")
    assert deputy.post(f"/resolutions/{res}/withdraw", json={"reason": "Вопрос снят"}).status_code == 404
    made = _deputize(login, demo, "exec1", "employee2")
    # The executor sees the resolution but has no say over it.
    assert login("employee1").post(f"/resolutions/{res}/withdraw", json={"reason": "Нет"}).status_code == 403
    resp = deputy.post(f"/resolutions/{res}/withdraw", json={"reason": "Вопрос снят"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "withdrawn", resp.get_json()
    entry = _audit("resolution.withdrawn")[-1]
    assert entry.actor_id == demo["employee2"].id and entry.details["acting_for"] == str(demo["exec1"].id)
    assert db.session.get(Task, task).status == "done"
    login("exec1").delete(f"/substitutions/{made}")
    second, _ = _controlled_by_exec1(login, demo, "Ещё справку")
    assert deputy.post(f"/resolutions/{second}/withdraw", json={"reason": "Снят"}).status_code == 404
    assert login("exec1").get(f"/resolutions/{second}").get_json()["status"] == "issued"


def test_a_deputy_returns_a_report_and_executes_the_resolution_in_the_principals_name(login, demo):
    res, task = _controlled_by_exec1(login, demo)
    executor, deputy = login("employee1"), login("employee2")
    _deputize(login, demo, "exec1", "employee2")
    assert executor.post(f"/tasks/{task}/report", json={"text": "Черновик справки"}).status_code == 200
    waiting = deputy.get(f"/control?view=reports&for={demo['exec1'].id}").get_json()["items"]
    assert [i["task"]["id"] for i in waiting] == [str(task)]
    resp = deputy.post(f"/tasks/{task}/return", json={"comment": "Дополнить цифрами"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "open", resp.get_json()
    assert _audit("task.returned")[-1].details["acting_for"] == str(demo["exec1"].id)
    assert executor.post(f"/tasks/{task}/report", json={"text": "Справка с цифрами"}).status_code == 200
    assert deputy.post(f"/tasks/{task}/accept", json={}).status_code == 200
    executed = _audit("resolution.executed")[-1]
    assert executed.actor_id == demo["employee2"].id and executed.details["acting_for"] == str(demo["exec1"].id)
    assert login("minister").get(f"/resolutions/{res}").get_json()["status"] == "executed"


# --- the directory: who is away, and who acts for them --------------------------------------------

def _person(api, q: str, who) -> dict:
    items = api.get(f"/directory/people?q={q}").get_json()["items"]
    return next(p for p in items if p["id"] == str(who.id))


def test_the_directory_shows_who_acts_for_someone_away_only_while_it_runs(login, demo):
    clerk = login("clerk1")
    assert _person(clerk, "Сафин", demo["minister"]).get("away") is None
    # A period to come is not away yet.
    later = login("minister").post("/substitutions", json={
        "deputy": str(demo["employee1"].id), "starts_at": _at(timedelta(days=2)), "ends_at": NEXT_WEEK,
        "scopes": ["approvals"]})
    assert later.status_code == 201
    assert _person(clerk, "Сафин", demo["minister"]).get("away") is None
    inbox = _deputize(login, demo, "minister", "employee2", scopes=["inbox"])
    _deputize(login, demo, "minister", "exec1", scopes=["resolutions"])
    away = _person(clerk, "Сафин", demo["minister"])["away"]
    # With several deputies, the one acting for resolutions is named.
    assert away["deputy"] == {"id": str(demo["exec1"].id), "short_name": demo["exec1"].short_name}
    assert away["until"] == NEXT_WEEK
    assert _person(clerk, "Галиев", demo["exec1"]).get("away") is None  # the deputy is not away
    # Another organization's directory never shows the minister, nor their deputy.
    assert login("exec2").get("/directory/people?q=Сафин").get_json()["items"] == []
    # The phone's offline copy carries no `away` (it would outlive the period).
    synced = login("clerk1").get("/directory/sync").get_json()["people"]["upserted"]
    assert all("away" not in p for p in synced)
    for made in login("minister").get("/substitutions").get_json()["items"]:
        if made["id"] != later.get_json()["id"]:
            assert login("minister").delete(f"/substitutions/{made['id']}").status_code == 204
    assert inbox
    assert _person(clerk, "Сафин", demo["minister"]).get("away") is None
