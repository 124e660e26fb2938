"""The control summary: per unit and per executor, each task counted once, withdrawn ones never late."""
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from models import Task, Unit, db, unit_members
from tests.api.test_execution_control import _issue, _task


def _unit(short_name) -> int:
    return db.session.scalar(sa.select(Unit.id).where(Unit.short_name == short_name))


def _past_deadline(task_id, days=2) -> None:
    db.session.get(Task, int(task_id)).deadline = datetime.now(timezone.utc) - timedelta(days=days)
    db.session.commit()


def test_the_summary_counts_each_task_once_and_a_withdrawn_one_nowhere(login, demo):
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    now = datetime.now(timezone.utc)
    # The demo's own resolution (the minister's to exec1 and employee1) is taken off control first.
    demo_resolution = emp1.get("/tasks").get_json()["items"][0]["resolution_id"]
    assert login("minister").post(f"/resolutions/{demo_resolution}/withdraw", json={"reason": "Снято"}).status_code \
        == 200
    on_time = _issue(exec1, [demo["employee1"]], deadline=now + timedelta(days=10))
    late = _issue(exec1, [demo["employee2"]], deadline=now + timedelta(days=10), doc=2)
    soon = _issue(exec1, [demo["employee1"]], deadline=now + timedelta(days=1), doc=3)
    overdue = _issue(exec1, [demo["employee2"]], deadline=now + timedelta(days=10), doc=4)
    withdrawn = _issue(exec1, [demo["employee1"], demo["employee2"]], deadline=now + timedelta(days=10), doc=5)
    _issue(exec1, [demo["employee1"]], deadline=None, doc=5)  # for information: not counted
    # employee1 also works in the records unit: still one person, counted once.
    db.session.execute(sa.insert(unit_members).values(user_id=demo["employee1"].id, unit_id=_unit("Делопроизводство")))
    db.session.commit()

    task = _task(emp1, on_time["id"])
    emp1.post(f"/tasks/{task['id']}/report", json={"text": "В срок"})
    exec1.post(f"/tasks/{task['id']}/accept", json={})
    task = _task(emp2, late["id"])
    _past_deadline(task["id"])
    emp2.post(f"/tasks/{task['id']}/report", json={"text": "С опозданием"})
    exec1.post(f"/tasks/{task['id']}/accept", json={})
    _past_deadline(_task(emp2, overdue["id"])["id"])
    for api in (emp1, emp2):
        _past_deadline(_task(api, withdrawn["id"])["id"])
    assert exec1.post(f"/resolutions/{withdrawn['id']}/withdraw", json={"reason": "Снято"}).status_code == 200
    assert _task(emp1, soon["id"])["status"] == "open"

    resp = exec1.get("/control/summary")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    expected = {"open": 0, "due_soon": 1, "overdue": 1, "done_on_time": 1, "done_late": 1, "discipline": 0.5}
    assert body["unit"]["short_name"] == "Аппарат" and body["total"] == expected
    units = {u["unit"]["short_name"]: u for u in body["units"]}
    # employee1, in two units, counts in one (the first by id), employee2 in hers: each task once.
    assert units["Делопроизводство"]["done_on_time"] == units["Информатизация"]["done_late"] == 1
    for state in ("open", "due_soon", "overdue", "done_on_time", "done_late"):
        assert sum(u[state] for u in body["units"]) == expected[state], state
    people = {e["executor"]["id"]: e for e in body["executors"]}
    assert {k: people[str(demo["employee1"].id)][k] for k in expected} == {
        "open": 0, "due_soon": 1, "overdue": 0, "done_on_time": 1, "done_late": 0, "discipline": 1.0}
    assert {k: people[str(demo["employee2"].id)][k] for k in expected} == {
        "open": 0, "due_soon": 0, "overdue": 1, "done_on_time": 0, "done_late": 1, "discipline": 0.0}

    # A period of next week holds nothing; one that ends before it starts is refused.
    week = [(now + timedelta(days=days)).date().isoformat() for days in (7, 14)]
    empty = exec1.get(f"/control/summary?from={week[0]}&to={week[1]}").get_json()
    assert empty["total"] == {**dict.fromkeys(expected, 0), "discipline": None}
    assert exec1.get(f"/control/summary?from={week[0]}&to=2020-01-01").status_code == 422

    # A member reads their unit's subtree, not the units above it; another organization reads nothing.
    mine = emp2.get("/control/summary").get_json()
    assert mine["unit"]["short_name"] == "Информатизация" and mine["total"] == expected
    assert emp2.get(f"/control/summary?unit={_unit('Аппарат')}").status_code == 404
    assert login("exec2").get(f"/control/summary?unit={_unit('Информатизация')}").status_code == 404
