"""The execution tree of a resolution and the controller's views of what they control."""
from datetime import datetime, timedelta, timezone

from models import Task, db
from tests.api.test_execution_control import _doc, _iso, _issue, _task
from tests.scale.test_reads import Statements


def _delegate(api, executors, doc=1, deadline=None) -> dict:
    """The executor writes and issues a sub-resolution on their task."""
    resp = api.post(f"/documents/{_doc(doc)}/resolutions", json={
        "text": "Подготовить свою часть", "executors": [str(e.id) for e in executors],
        "deadline": _iso(deadline or datetime.now(timezone.utc) + timedelta(days=5)), "issue": True})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_the_execution_tree_shows_reports_returns_extensions_and_sub_resolutions(login, demo):
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    res = _issue(exec1, [demo["employee1"], demo["employee2"]])
    mine = _task(emp1, res["id"])
    child = _delegate(emp1, [demo["employee2"]])
    assert child["parent_task_id"] == mine["id"]
    [child_task] = [t for t in emp2.get("/sync").get_json()["tasks"]["upserted"] if t["resolution_id"] == child["id"]]
    emp2.post(f"/tasks/{child_task['id']}/report", json={"text": "Часть готова"})
    emp1.post(f"/tasks/{mine['id']}/report", json={"text": "Готово"})
    exec1.post(f"/tasks/{mine['id']}/return", json={"comment": "Дополнить"})
    emp1.post(f"/tasks/{mine['id']}/extension-requests", json={"deadline": "2200-01-01", "reason": "Нужно время"})

    tree = exec1.get(f"/resolutions/{res['id']}/execution")
    assert tree.status_code == 200
    body = tree.get_json()
    assert body["resolution"]["id"] == res["id"] and body["controller"]["id"] == str(demo["exec1"].id)
    first, second = body["tasks"]
    assert first["executor"]["id"] == str(demo["employee1"].id) and first["task"]["responsible"] is True
    assert (first["task"]["status"], first["task"]["returned"]) == ("open", True)
    assert [(r["outcome"], r["comment"]) for r in first["reports"]] == [("returned", "Дополнить")]
    assert [e["status"] for e in first["extension_requests"]] == ["pending"]
    [sub] = first["resolutions"]
    assert sub["resolution"]["id"] == child["id"] and sub["author"]["id"] == str(demo["employee1"].id)
    assert [(t["task"]["status"], t["reports"][0]["text"]) for t in sub["tasks"]] == [("reported", "Часть готова")]
    assert second["task"]["responsible"] is False and second["resolutions"] == []
    # The executors see it too; another organization does not.
    assert emp2.get(f"/resolutions/{res['id']}/execution").status_code == 200
    assert login("exec2").get(f"/resolutions/{res['id']}/execution").status_code == 404


def test_the_tree_costs_the_same_statements_however_many_sub_resolutions_it_holds(login, demo):
    exec1, emp1 = login("exec1"), login("employee1")

    def cost(doc, children):
        res = _issue(exec1, [demo["employee1"]], doc=doc)
        for _ in range(children):
            _delegate(emp1, [demo["employee2"]], doc=doc)
        with Statements() as sql:
            body = exec1.get(f"/resolutions/{res['id']}/execution").get_json()
        assert len(body["tasks"][0]["resolutions"]) == children
        return len(sql.seen)

    assert cost(1, 1) == cost(3, 4) == 2  # the session check rides in the first, no transaction is begun
    stranger, res = login("exec2"), _issue(exec1, [demo["employee1"]])
    with Statements() as sql:
        assert stranger.get(f"/resolutions/{res['id']}/execution").status_code == 404
    assert len(sql.seen) == 1  # a refusal too


def test_the_control_views_list_what_the_caller_controls(login, demo):
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    now = datetime.now(timezone.utc)
    soon = _issue(exec1, [demo["employee1"]], deadline=now + timedelta(days=1))
    later = _issue(exec1, [demo["employee1"], demo["employee2"]], deadline=now + timedelta(days=20), doc=3)
    late = _issue(exec1, [demo["employee2"]], deadline=now + timedelta(hours=1), doc=4)
    with_deadline_past = db.session.get(Task, int(_task(emp2, late["id"])["id"]))
    with_deadline_past.deadline = now - timedelta(days=2)
    db.session.commit()

    def ids(view, api=exec1, **args):
        resp = api.get("/control", query_string={"view": view, **args})
        assert resp.status_code == 200, resp.get_json()
        return [item["task"]["id"] for item in resp.get_json()["items"]]

    soon_task, later_task = _task(emp1, soon["id"]), _task(emp1, later["id"])
    co_task, late_task = _task(emp2, later["id"]), _task(emp2, late["id"])
    assert ids("open") == [late_task["id"], co_task["id"], later_task["id"], soon_task["id"]]
    assert ids("overdue") == [late_task["id"]]
    assert ids("due_soon") == [soon_task["id"]]
    assert ids("open", api=emp1) == []  # the executor controls nothing

    emp1.post(f"/tasks/{soon_task['id']}/report", json={"text": "Готово"})
    emp2.post(f"/tasks/{co_task['id']}/report", json={"text": "Моя часть"})
    assert ids("reports") == [soon_task["id"]]
    assert ids("reports", api=emp1) == [co_task["id"]]  # a co-executor's report waits for the responsible
    emp1.post(f"/tasks/{later_task['id']}/extension-requests", json={"deadline": "2200-01-01", "reason": "x"})
    [item] = exec1.get("/control?view=extensions").get_json()["items"]
    assert item["task"]["id"] == later_task["id"] and item["extension_request"]["status"] == "pending"
    assert item["executor"]["short_name"] == demo["employee1"].short_name

    exec1.post(f"/tasks/{soon_task['id']}/accept", json={})
    assert ids("executed") == [soon_task["id"]] and soon_task["id"] not in ids("open")

    # Keyset pages: one task a page, each seen once.
    seen, cursor = [], None
    while True:
        args = {"view": "open", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = exec1.get("/control", query_string=args)
        seen += [i["task"]["id"] for i in page.get_json()["items"]]
        cursor = page.get_json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids("open") and len(seen) == 3
    assert exec1.get("/control?view=nonsense").status_code == 422
    assert exec1.get("/control?view=open&cursor=garbage").status_code == 400
