"""The console's control page over HTTP, on both databases: the summary and its late tasks, reports and
extension requests decided through the forms, refusals said in the reader's language, CSRF, a double
submit acting once, an assistant reading without deciding, and another organization getting nothing."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from models import AuditEvent, ExtensionRequest, Task, Unit, db, unit_members
from tests.api.test_execution_control import _issue, _task
from tests.console.test_console_http import _sign_in, _token

FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')


def _unit(short_name) -> int:
    return db.session.scalar(sa.select(Unit.id).where(Unit.short_name == short_name))


def _world(login, demo) -> dict:
    """exec1 controls: a report with a file from employee1, one from employee2, an extension asked by
    employee1, and an overdue task of employee2."""
    exec1, emp1, emp2 = login("exec1"), login("employee1"), login("employee2")
    now = datetime.now(timezone.utc)
    with_file = _task(emp1, _issue(exec1, [demo["employee1"]], doc=1)["id"])
    plain = _task(emp2, _issue(exec1, [demo["employee2"]], doc=2)["id"])
    extended = _task(emp1, _issue(exec1, [demo["employee1"]], doc=3)["id"])
    overdue = _task(emp2, _issue(exec1, [demo["employee2"]], doc=4)["id"])
    assert emp1.post(f"/tasks/{with_file['id']}/report", data={
        "text": "Ответ подготовлен", "file": (io.BytesIO(b"%PDF-1.4 answer"), "Ответ.pdf", "application/pdf")},
    ).status_code == 200
    assert emp2.post(f"/tasks/{plain['id']}/report", json={"text": "Справка направлена"}).status_code == 200
    asked = (now + timedelta(days=20)).date().isoformat()
    request = emp1.post(f"/tasks/{extended['id']}/extension-requests",
                        json={"deadline": asked, "reason": "Ждём ответа ведомства"})
    assert request.status_code == 201
    db.session.get(Task, int(overdue["id"])).deadline = now - timedelta(days=3)
    db.session.commit()
    return {"with_file": with_file["id"], "plain": plain["id"], "extended": extended["id"],
            "overdue": overdue["id"], "request": request.get_json()["id"], "asked": asked}


def _form(page: str, action: str) -> dict:
    """The hidden fields of the form posting to `action` on the page."""
    start = page.index(f'action="{action}"')
    form = page[start:page.index("</form>", start)]
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form))


def _status(task_id) -> tuple[str, bool]:
    db.session.expire_all()
    task = db.session.get(Task, int(task_id))
    return task.status, task.returned


def _audited(action: str, task_id) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.object_id == str(task_id)))


def test_the_summary_is_the_apis_and_drills_down_to_the_late_tasks(client, login, demo):
    world = _world(login, demo)
    _sign_in(client, "exec1")
    assert 'data-testid="nav-control"' in client.get("/console/").get_data(as_text=True)
    page = client.get("/console/control").get_data(as_text=True)
    year = datetime.now(timezone.utc).year
    assert f'value="{year}-01-01"' in page  # this year by default
    # The same numbers as the API's summary for the same period.
    api = login("exec1").get(f"/control/summary?from={year}-01-01").get_json()
    total = re.search(r'data-testid="total-line">(.*?)</tr>', page, re.S).group(1)
    for state in ("open", "due_soon", "overdue", "done_on_time", "done_late"):
        assert f'data-testid="{state}">{api["total"][state]}<' in total, state
    it = re.search(rf'data-unit-id="{_unit("Информатизация")}">(.*?)</tr>', page, re.S).group(1)
    assert 'data-testid="overdue">1<' in it and "Просроченные: 1" in it

    # Drill down from the unit, then from the executor: the overdue task, and nothing of the others.
    late = client.get(f"/console/control/late?in_unit={_unit('Информатизация')}&from={year}-01-01")
    body = late.get_data(as_text=True)
    assert late.status_code == 200 and "Просроченные поручения: Информатизация" in body
    assert re.findall(r'data-testid="late-item" data-task-id="(\d+)" data-state="(\w+)"', body) == [
        (world["overdue"], "overdue")]
    by_person = client.get(f"/console/control/late?executor={demo['employee2'].id}").get_data(as_text=True)
    assert f'data-task-id="{world["overdue"]}"' in by_person and "просрочено" in by_person
    nobody = client.get(f"/console/control/late?executor={demo['employee1'].id}").get_data(as_text=True)
    assert 'data-testid="late-item"' not in nobody and "Просроченных поручений нет" in nobody
    # A period that ends before it starts is refused, in words.
    bad = client.get("/console/control?from=2026-05-01&to=2026-01-01")
    assert bad.status_code == 422 and "Период указан неверно" in bad.get_data(as_text=True)


def test_reports_and_extensions_decided_from_the_page(client, login, demo):
    world = _world(login, demo)
    _sign_in(client, "exec1")
    page = client.get("/console/control").get_data(as_text=True)
    assert "Ответ подготовлен" in page and "Справка направлена" in page and "Ждём ответа ведомства" in page
    # The report's file, served as the API serves it: a download, sandboxed.
    link = re.search(r'data-testid="report-file" href="([^"]+)"', page).group(1)
    served = client.get(link)
    assert served.data == b"%PDF-1.4 answer" and served.headers["Content-Security-Policy"].startswith("sandbox")
    assert "attachment" in served.headers["Content-Disposition"]

    # Accept: the form acts once, a double submit replays the first answer.
    accept = f"/console/control/tasks/{world['with_file']}/accept"
    form = _form(page, accept)
    first = client.post(accept, data={**form, "comment": ""})
    assert first.status_code == 303 and "done=accepted" in first.headers["Location"]
    again = client.post(accept, data={**form, "comment": ""})
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _status(world["with_file"]) == ("done", False) and _audited("task.accepted", world["with_file"]) == 1
    assert "Отчёт принят." in client.get(first.headers["Location"]).get_data(as_text=True)

    # Return: without a comment refused and nothing changes; with one, back to the executor.
    back = f"/console/control/tasks/{world['plain']}/return"
    form = _form(client.get("/console/control").get_data(as_text=True), back)
    empty = client.post(back, data={**form, "comment": "   "})
    assert empty.status_code == 422 and "напишите комментарий" in empty.get_data(as_text=True)
    assert _status(world["plain"]) == ("reported", False)
    assert client.post(back, data={**form, "comment": "Дополнить расчётами"}).status_code == 303
    assert _status(world["plain"]) == ("open", True)

    # An extension: a past date refused, then approved to a date of the controller's choosing.
    decide = f"/console/control/extension-requests/{world['request']}/decision"
    form = _form(client.get("/console/control").get_data(as_text=True), decide)
    past = client.post(decide, data={**form, "decision": "approve", "deadline": "2020-01-10"})
    assert past.status_code == 422 and "Новый срок уже прошёл" in past.get_data(as_text=True)
    chosen = (datetime.now(timezone.utc) + timedelta(days=30)).date()
    assert client.post(decide, data={**form, "decision": "approve", "deadline": chosen.isoformat()}).status_code == 303
    db.session.expire_all()
    request = db.session.get(ExtensionRequest, int(world["request"]))
    assert request.status == "approved"
    assert db.session.get(Task, int(world["extended"])).deadline.date() in (chosen, chosen + timedelta(days=1))
    # Decided already: a new form says so, in the reader's language.
    client.post("/console/language", data={"lang": "en", "csrf_token": _token(client, "/console/"),
                                           "next": "/console/"})
    late = client.post(decide, data={**form, "form_key": "another", "decision": "reject"})
    assert late.status_code == 409 and "has been decided already: “approved”" in late.get_data(as_text=True)
    page = client.get("/console/control").get_data(as_text=True)
    assert 'data-testid="report-item"' not in page and 'data-testid="extension-item"' not in page
    assert "No reports wait for acceptance." in page


def test_csrf_assistants_and_other_organizations(client, login, demo):
    world = _world(login, demo)
    accept = f"/console/control/tasks/{world['with_file']}/accept"
    # Without the session's token the form is refused and nothing changes.
    _sign_in(client, "exec1")
    page = client.get("/console/control").get_data(as_text=True)
    form = _form(page, accept)
    forged = client.post(accept, data={**form, "csrf_token": "forged"})
    assert forged.status_code == 403 and "Форма устарела" in forged.get_data(as_text=True)
    assert _status(world["with_file"]) == ("reported", False)

    # A co-executor's report on the minister's resolution waits for exec1, its responsible executor.
    emp1 = login("employee1")
    minister_task = next(t for t in emp1.get("/tasks").get_json()["items"] if t["id"] not in world.values())
    assert emp1.post(f"/tasks/{minister_task['id']}/report", json={"text": "Предложения готовы"}).status_code == 200
    assert 'data-testid="report-item" data-task-id="%s"' % minister_task["id"] in client.get(
        "/console/control").get_data(as_text=True)
    client.post("/console/logout", data={"csrf_token": form["csrf_token"]})

    # The assistant reads exec1's page, read-only: domain/control.py lets only the controller (or the
    # responsible executor) decide, never their assistant.
    _sign_in(client, "assistant1")
    page = client.get("/console/control").get_data(as_text=True)
    assert "Контроль исполнения: Галиев И.Р." in page and 'data-testid="read-only"' in page
    assert "Ответ подготовлен" in page and 'data-testid="accept"' not in page and 'data-testid="approve"' not in page
    assert f'data-task-id="{minister_task["id"]}"' in page and "Предложения готовы" in page
    refused = client.post(accept, data={"csrf_token": _token(client, "/console/"), "form_key": "k"})
    assert refused.status_code == 403 and "только контролёр" in refused.get_data(as_text=True)
    assert _status(world["with_file"]) == ("reported", False)
    client.post("/console/logout", data={"csrf_token": _token(client, "/console/")})

    # An employee has no control page.
    _sign_in(client, "employee1")
    assert client.get("/console/control").status_code == 404
    client.post("/console/logout", data={"csrf_token": _token(client, "/console/")})

    # Another organization's executive: an empty page of their own, and 404 for everything of exec1's.
    _sign_in(client, "exec2")
    page = client.get("/console/control").get_data(as_text=True)
    assert "Ответ подготовлен" not in page and 'data-testid="reports-empty"' in page
    assert "Информатизация" not in page
    assert client.get(f"/console/control?for={demo['exec1'].id}").status_code == 404
    assert client.get(f"/console/control?unit={_unit('Информатизация')}").status_code == 404
    assert client.get(f"/console/control/late?in_unit={_unit('Информатизация')}").status_code == 404
    token = _token(client, "/console/")
    stranger = client.post(accept, data={"csrf_token": token, "form_key": "s"})
    assert stranger.status_code == 404 and "не найдено" in stranger.get_data(as_text=True).lower()
    decide = f"/console/control/extension-requests/{world['request']}/decision"
    assert client.post(decide, data={"csrf_token": token, "decision": "approve"}).status_code == 404
    file_url = f"/console/control/tasks/{world['with_file']}/reports/1/files/1"
    assert client.get(file_url).status_code == 404
    assert _status(world["with_file"]) == ("reported", False)
    db.session.expire_all()
    assert db.session.get(ExtensionRequest, int(world["request"])).status == "pending"
    # An executive in no unit has no summary, and still the page of what waits for them.
    db.session.execute(sa.delete(unit_members).where(unit_members.c.user_id == demo["exec2"].id))
    db.session.commit()
    unitless = client.get("/console/control")
    body = unitless.get_data(as_text=True)
    assert unitless.status_code == 200 and 'data-testid="units"' not in body and 'data-testid="reports-empty"' in body
