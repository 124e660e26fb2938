"""The console's control page for a deputy: while a substitution (resolutions scope) runs, the deputy
signed into the console reads the principal's page and decides reports and extensions there, in the
principal's name through domain/control.py; once it ends, the page is gone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from models import AuditEvent, ExtensionRequest, db
from tests.console.test_console_control import _form, _status, _world
from tests.console.test_console_http import _sign_in, _token


def _at(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _acting_for(action: str) -> list[str | None]:
    db.session.expire_all()
    return [e.details.get("acting_for") for e in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_a_deputy_decides_on_the_principals_control_page_only_while_acting(client, login, demo):
    world = _world(login, demo)
    _sign_in(client, "clerk1")
    assert client.get("/console/control").status_code == 404  # a clerk has no control page of their own
    made = login("exec1").post("/substitutions", json={
        "deputy": str(demo["clerk1"].id), "starts_at": _at(timedelta(seconds=-1)),
        "ends_at": _at(timedelta(days=7)), "scopes": ["resolutions"]})
    assert made.status_code == 201, made.get_json()
    page = client.get("/console/control").get_data(as_text=True)
    assert "Контроль исполнения: Галиев И.Р." in page and 'data-testid="acting-for"' in page
    assert 'data-testid="read-only"' not in page and "Ответ подготовлен" in page
    assert "Аппарат" in page  # the principal's summary: an executive's whole organization

    accept = f"/console/control/tasks/{world['with_file']}/accept"
    done = client.post(accept, data={**_form(page, accept), "comment": "Принято"})
    assert done.status_code == 303 and f"for={demo['exec1'].id}" in done.headers["Location"]
    assert _status(world["with_file"]) == ("done", False)
    assert _acting_for("task.accepted") == [str(demo["exec1"].id)]

    decide = f"/console/control/extension-requests/{world['request']}/decision"
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert client.post(decide, data={**_form(page, decide), "decision": "reject"}).status_code == 303
    db.session.expire_all()
    assert db.session.get(ExtensionRequest, int(world["request"])).status == "rejected"
    assert _acting_for("task.extension_rejected") == [str(demo["exec1"].id)]

    # Ended: no page, and a form still open refuses in the lock of the act.
    back = f"/console/control/tasks/{world['plain']}/return"
    form = _form(page, back)
    assert login("exec1").delete(f"/substitutions/{made.get_json()['id']}").status_code == 204
    assert client.get(f"/console/control?for={demo['exec1'].id}").status_code == 404
    assert client.get("/console/control").status_code == 404
    refused = client.post(back, data={**form, "comment": "Дополнить"})
    assert refused.status_code in (403, 404)
    assert _status(world["plain"]) == ("reported", False)
    client.post("/console/logout", data={"csrf_token": _token(client, "/console/")})


def test_a_deputy_sees_the_principals_drafts_to_issue_and_issues_one_in_their_name(client, login, demo):
    from tests.console.test_console_http import _draft

    draft = _draft(login, demo)  # exec1's own draft
    _sign_in(client, "employee2")
    assert 'data-testid="acting-drafts"' not in client.get("/console/").get_data(as_text=True)
    assert client.get(f"/console/resolutions/{draft}").status_code == 404
    made = login("exec1").post("/substitutions", json={
        "deputy": str(demo["employee2"].id), "starts_at": _at(timedelta(seconds=-1)),
        "ends_at": _at(timedelta(days=7)), "scopes": ["resolutions"]})
    assert made.status_code == 201, made.get_json()
    queue = client.get("/console/").get_data(as_text=True)
    assert f'data-testid="acting-drafts" data-principal-id="{demo["exec1"].id}"' in queue
    assert f"/console/resolutions/{draft}" in queue
    page = client.get(f"/console/resolutions/{draft}").get_data(as_text=True)
    assert 'data-testid="acting-for"' in page and 'data-testid="issue"' in page
    assert 'data-testid="save"' not in page and 'data-testid="reject"' not in page  # read and issue only
    token = _token(client, "/console/")
    issued = client.post(f"/console/api/resolutions/{draft}/issue", headers={"X-CSRF-Token": token})
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued", issued.get_json()
    assert _acting_for("resolution.issued")[-1] == str(demo["exec1"].id)
    assert login("exec1").get(f"/resolutions/{draft}").get_json()["issued_by"] == str(demo["employee2"].id)
    # Ended: the next draft is the principal's alone.
    assert login("exec1").delete(f"/substitutions/{made.get_json()['id']}").status_code == 204
    second = _draft(login, demo)
    assert 'data-testid="acting-drafts"' not in client.get("/console/").get_data(as_text=True)
    assert client.get(f"/console/resolutions/{second}").status_code == 404
    refused = client.post(f"/console/api/resolutions/{second}/issue", headers={"X-CSRF-Token": token})
    assert refused.status_code == 404
