"""Drafts for executives in the console, at the HTTP level on both databases: the assistant prepares one on
the document's page, the executive finds it in their queue and rejects or issues it there."""
from __future__ import annotations

import re

import sqlalchemy as sa

from models import Document, InboxItem, OutboxMessage, Resolution, Task, db
from tests.conftest import DEMO_PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(client, path: str = "/console/login") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def _signed_in(app, username: str):
    client = app.test_client()
    resp = client.post("/console/login", data={"username": username, "password": DEMO_PASSWORD,
                                                "csrf_token": _token(client)})
    assert resp.status_code == 302
    return client


def _doc() -> int:
    return db.session.scalar(sa.select(Document.id).where(Document.reg_number.like("МЦР-1/%")))


def _prepare(client, demo, **fields):
    doc = _doc()
    form = {"author": str(demo["exec1"].id), "text": "Подготовить ответ заявителю",
            "executors": [str(demo["employee1"].id), str(demo["employee2"].id)], "deadline": "2026-12-25",
            "csrf_token": _token(client, f"/console/documents/{doc}"), **fields}
    return client.post(f"/console/documents/{doc}/drafts", data=form)


def test_an_assistant_prepares_a_draft_on_the_documents_page_and_it_reaches_the_executive(app, demo):
    assistant = _signed_in(app, "assistant1")
    queue = assistant.get("/console/").get_data(as_text=True)
    assert 'data-testid="to-resolve"' in queue and f"/console/documents/{_doc()}" in queue
    page = assistant.get(f"/console/documents/{_doc()}").get_data(as_text=True)
    assert 'data-testid="draft-form"' in page and f'<option value="{demo["exec1"].id}"' in page

    resp = _prepare(assistant, demo)

    assert resp.status_code == 302 and "prepared=1" in resp.headers["Location"]
    res = db.session.scalar(sa.select(Resolution).where(Resolution.text == "Подготовить ответ заявителю"))
    assert (res.author_id, res.drafted_by_id, res.status) == (demo["exec1"].id, demo["assistant1"].id, "draft")
    assert [e.id for e in res.executors] == [demo["employee1"].id, demo["employee2"].id]
    assert res.deadline is not None  # the end of that day in the organization's time zone
    assert db.session.scalar(sa.select(InboxItem.id).where(
        InboxItem.user_id == demo["exec1"].id, InboxItem.document_id == _doc(), InboxItem.kind == "resolution",
        InboxItem.removed.is_(False))) is not None
    assert db.session.scalar(sa.select(OutboxMessage.user_id).where(OutboxMessage.event == "draft_prepared")) == \
        demo["exec1"].id
    shown = assistant.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="draft-sent"' in shown and "Миннуллина" in shown


def test_the_form_refuses_an_executive_not_served_an_empty_draft_and_a_missing_token(app, demo):
    assistant = _signed_in(app, "assistant1")
    other = _prepare(assistant, demo, author=str(demo["minister"].id))
    assert other.status_code == 403 and "руководителя, которому вы помогаете" in other.get_data(as_text=True)
    empty = _prepare(assistant, demo, text="  ")
    assert empty.status_code == 422 and "Укажите текст и хотя бы одного исполнителя" in empty.get_data(as_text=True)
    stale = assistant.post(f"/console/documents/{_doc()}/drafts", data={
        "author": str(demo["exec1"].id), "text": "Без формы", "executors": [str(demo["employee1"].id)]})
    assert stale.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Resolution).where(
        Resolution.drafted_by_id.is_not(None))) == 0


def test_the_executive_rejects_in_the_console_and_the_assistant_sees_why(app, demo):
    assistant, exec1 = _signed_in(app, "assistant1"), _signed_in(app, "exec1")
    _prepare(assistant, demo)
    res_id = db.session.scalar(sa.select(Resolution.id).where(Resolution.drafted_by_id == demo["assistant1"].id))
    queue = exec1.get("/console/").get_data(as_text=True)
    assert 'data-testid="prepared-for-me"' in queue and f'data-resolution-id="{res_id}"' in queue
    page = exec1.get(f"/console/resolutions/{res_id}").get_data(as_text=True)
    assert 'data-testid="reject-form"' in page and 'data-testid="issue"' in page
    assert 'data-testid="reject-form"' not in assistant.get(f"/console/resolutions/{res_id}").get_data(as_text=True)

    resp = exec1.post(f"/console/resolutions/{res_id}/reject", data={
        "comment": "Ответ уже направлен", "csrf_token": _token(exec1, f"/console/resolutions/{res_id}")})

    assert resp.status_code == 302
    db.session.expire_all()
    assert (db.session.get(Resolution, res_id).status, db.session.get(Resolution, res_id).reject_comment) == (
        "rejected", "Ответ уже направлен")
    seen = assistant.get(f"/console/resolutions/{res_id}").get_data(as_text=True)
    assert 'data-testid="reject-comment">Ответ уже направлен' in seen
    mine = assistant.get("/console/").get_data(as_text=True).split('data-testid="prepared-by-me"')[1]
    assert f'data-resolution-id="{res_id}"' in mine and "отклонён" in mine
    assert f'data-resolution-id="{res_id}"' not in exec1.get("/console/").get_data(as_text=True)


def test_the_executive_issues_the_assistants_draft_in_the_console(app, demo):
    assistant, exec1 = _signed_in(app, "assistant1"), _signed_in(app, "exec1")
    _prepare(assistant, demo)
    res_id = db.session.scalar(sa.select(Resolution.id).where(Resolution.drafted_by_id == demo["assistant1"].id))
    csrf = _token(exec1, f"/console/resolutions/{res_id}")
    # The assistant has no right to issue: the console offers no button and the rule refuses the call.
    assert 'data-testid="issue"' not in assistant.get(f"/console/resolutions/{res_id}").get_data(as_text=True)
    refused = assistant.post(f"/console/api/resolutions/{res_id}/issue",
                             headers={"X-CSRF-Token": _token(assistant, "/console/")})
    assert refused.status_code == 403

    issued = exec1.post(f"/console/api/resolutions/{res_id}/issue", headers={"X-CSRF-Token": csrf})

    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(Task.resolution_id == res_id)) == 2
