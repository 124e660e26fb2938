"""task_months under simultaneous accepts on a live gunicorn over PostgreSQL: accepts of many reports
of one executor's month released together (each sent twice) leave the month's counter equal to the tasks
done, and the summary equal to the plain count."""
import json
import uuid

import pytest
import sqlalchemy as sa

from models import Task, TaskMonth, Unit, User, db
from tests.support.live import together

pytestmark = pytest.mark.slow  # a real gunicorn and a database of its own
N = 8


def _reported_tasks(server, n: int) -> tuple[list[int], str, int]:
    """n controlled tasks of exec1's to employee1, each on a letter of its own, reported: their ids,
    exec1's token and employee1's id."""
    exec1, employee1 = server.login("exec1")["access_token"], server.login("employee1")["access_token"]
    clerk = server.login("clerk1")["access_token"]
    with server.app.app_context():
        office = db.session.scalar(sa.select(Unit.id).where(Unit.short_name == "Аппарат"))
        executor = db.session.scalar(sa.select(User.id).where(User.username == "employee1"))
    tasks = []
    for _ in range(n):
        meta = {"title": f"Письмо {uuid.uuid4().hex[:6]}", "correspondent": "ГКУ «ЦИТ»", "addressees": [str(office)]}
        doc = server.call("POST", "/documents", clerk, data={"metadata": json.dumps(meta, ensure_ascii=False)},
                          files={"file": ("Письмо.txt", "Текст письма".encode())})
        assert doc.status_code == 201, doc.text
        resp = server.call("POST", f"/documents/{doc.json()['id']}/resolutions", exec1, json={
            "text": "Исполнить", "executors": [str(executor)], "deadline": "2200-01-01", "issue": True})
        assert resp.status_code == 201 and resp.json()["control"] is True, resp.text
        with server.app.app_context():
            task_id = db.session.scalar(sa.select(Task.id).where(Task.resolution_id == int(resp.json()["id"])))
        reported = server.call("POST", f"/tasks/{task_id}/report", employee1, json={"text": "Исполнено"})
        assert reported.status_code == 200, reported.text
        tasks.append(task_id)
    return tasks, exec1, executor


def test_simultaneous_accepts_of_one_executors_month_count_each_task_once(server):
    tasks, exec1, executor = _reported_tasks(server, N)

    answers = together([lambda t=t: server.call("POST", f"/tasks/{t}/accept", exec1, json={})
                        for t in tasks for _ in range(2)])

    assert sorted(a.status_code for a in answers) == [200] * N + [409] * N, [a.text for a in answers]
    with server.app.app_context():
        done = db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(
            Task.executor_id == executor, Task.control, Task.status == "done", ~Task.withdrawn, ~Task.removed))
        kept = db.session.execute(sa.select(sa.func.sum(TaskMonth.on_time), sa.func.sum(TaskMonth.late))
                                  .where(TaskMonth.executor_id == executor)).one()
        db.session.remove()
    assert done >= N and tuple(kept) == (done, 0)
    summary = server.call("GET", "/control/summary", exec1).json()
    [mine] = [e for e in summary["executors"] if e["executor"]["id"] == str(executor)]
    assert mine["done_on_time"] == done
