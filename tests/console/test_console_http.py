"""The console's session, CSRF and refusals at the HTTP level, on both databases."""
from __future__ import annotations

import re

import sqlalchemy as sa

from models import AuthSession, Organization, Resolution, Task, db
from tests.conftest import DEMO_PASSWORD
from tests.support.tablet import Tablet

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _token(client, path: str = "/console/login") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def _sign_in(client, username: str, **extra):
    return client.post("/console/login", data={"username": username, "password": DEMO_PASSWORD,
                                               "csrf_token": _token(client), **extra})


def _draft(login, demo) -> str:
    exec1 = login("exec1")
    doc = next(i["document_id"] for i in exec1.get("/inbox").get_json()["items"] if i["kind"] == "resolution")
    body = exec1.post(f"/documents/{doc}/resolutions",
                      json={"text": "Подготовить ответ", "executors": [str(demo["employee1"].id)]}).get_json()
    return body["id"]


def test_sign_in_and_out(client, demo):
    assert client.get("/console/").headers["Location"].startswith("/console/login")
    # Without the form's token the sign-in is refused; a wrong password gets the form again, and no session.
    assert client.post("/console/login", data={"username": "assistant1", "password": DEMO_PASSWORD}).status_code == 403
    wrong = client.post("/console/login", data={"username": "assistant1", "password": "nope",
                                                "csrf_token": _token(client)})
    assert wrong.status_code == 401 and "Неверное имя пользователя" in wrong.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthSession)) == 0

    # An address outside the console is never a place to go after sign-in.
    resp = _sign_in(client, "assistant1", next="//evil.example/console/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/"
    cookie = resp.headers["Set-Cookie"]
    assert "console_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie
    page = client.get("/console/")
    assert page.status_code == 200 and "Очередь на проверку" in page.get_data(as_text=True)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]

    # Signing out ends the session on the server: the old cookie, replayed, no longer opens anything.
    stolen = client.get_cookie("console_session", path="/console").value
    assert client.post("/console/logout", data={"csrf_token": _token(client, "/console/")}).status_code == 302
    client.set_cookie("console_session", stolen, path="/console")
    assert client.get("/console/").status_code == 302
    assert client.get("/console/api/people?q=a").status_code == 401
    assert db.session.scalar(sa.select(AuthSession.revoked_reason)) == "logout"


def test_english_on_request_and_cookies_secure_when_configured(app, client, demo):
    _sign_in(client, "assistant1")
    client.post("/console/language", data={"lang": "en", "csrf_token": _token(client, "/console/"),
                                           "next": "/console/"})
    assert "Review queue" in client.get("/console/").get_data(as_text=True)
    app.config["SESSION_COOKIE_SECURE"] = True  # what CONSOLE_SECURE_COOKIE=1 (the production default) sets
    assert "Secure" in _sign_in(app.test_client(), "assistant1").headers["Set-Cookie"]


def test_tokens_and_cookies_do_not_cross(client, login, demo):
    """The apps' bearer token opens nothing in the console, and the console's cookie nothing in the API."""
    api = login("assistant1")
    assert client.get("/console/", headers=api.headers).status_code == 302
    client.delete_cookie("console_session", path="/console")
    _sign_in(client, "assistant1")
    assert client.get("/api/v1/review-queue").status_code == 401


def test_people_are_those_of_the_authors_organization(client, login, demo):
    res_id = _draft(login, demo)
    _sign_in(client, "assistant1")
    found = client.get(f"/console/api/people?resolution={res_id}&q=хабиб").get_json()
    assert [p["id"] for p in found] == [str(demo["employee1"].id)]
    names = [p["name"] for p in client.get(f"/console/api/people?resolution={res_id}&q=а").get_json()]
    assert names and "Зарипов Айрат Ринатович" not in names  # exec2 works in another organization
    assert client.get("/console/api/people?q=%25").get_json() == []  # a LIKE wildcard is just a character


def test_bad_edits_are_refused_whole(client, login, demo):
    res_id = _draft(login, demo)
    _sign_in(client, "assistant1")
    token = _token(client, f"/console/resolutions/{res_id}")
    bad = [{"text": "Новый текст", "executors": [str(demo["exec2"].id)]},  # another organization
           {"text": "Новый текст", "deadline": "tomorrow"}, {"text": ""}]
    for body in bad:
        resp = client.post(f"/console/api/resolutions/{res_id}", json=body, headers={"X-CSRF-Token": token})
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", body
    resp = client.post(f"/console/api/resolutions/{res_id}", data="{", content_type="application/json",
                       headers={"X-CSRF-Token": token})
    assert resp.status_code == 400
    res = db.session.get(Resolution, int(res_id))
    assert (res.text, res.revisions) == ("Подготовить ответ", [])
    ok = client.post(f"/console/api/resolutions/{res_id}", json={"text": "Новый текст"},
                     headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and "<ins>Новый текст</ins>" in ok.get_json()["revisions_html"]


def _requires_signed_issues(demo, required: bool = True) -> None:
    org = db.session.get(Organization, demo["exec1"].organization_id)
    org.issue_requires_signature = required
    db.session.commit()


def _issue(client, res_id: str):
    token = _token(client, f"/console/resolutions/{res_id}")
    return client.post(f"/console/api/resolutions/{res_id}/issue", headers={"X-CSRF-Token": token})


def _tasks_of(res_id: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(Task.resolution_id == int(res_id)))


def test_the_console_refuses_an_unsigned_issue_where_the_organization_has_issues_signed(client, login, demo):
    res_id = _draft(login, demo)
    _requires_signed_issues(demo)
    assert login("exec1").post("/keys", json={"csr": Tablet().csr_pem()}).status_code == 201
    _sign_in(client, "exec1")
    # The screen does not offer what the rule refuses, and says where to issue instead.
    page = client.get(f"/console/resolutions/{res_id}").get_data(as_text=True)
    assert 'data-testid="issue"' not in page and 'data-testid="signed-on-tablet"' in page
    # Asked anyway (an old page, a crafted request), the rule refuses it and nothing is issued.
    refused = _issue(client, res_id)
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["code"] == "signature_required"
    assert "планшете" in refused.get_json()["detail"]
    assert db.session.get(Resolution, int(res_id)).status == "draft" and _tasks_of(res_id) == 0
    # Without the policy, the same author issues from the console.
    _requires_signed_issues(demo, False)
    assert 'data-testid="issue"' in client.get(f"/console/resolutions/{res_id}").get_data(as_text=True)
    issued = _issue(client, res_id)
    assert issued.status_code == 200 and issued.get_json()["status"] == "issued"
    assert _tasks_of(res_id) == 1


def test_the_author_is_not_offered_a_review_of_his_own_draft(client, login, demo):
    res_id = _draft(login, demo)
    db.session.get(Resolution, int(res_id)).status = "awaiting_review"  # as a dictated draft is
    db.session.commit()
    _sign_in(client, "exec1")
    assert 'data-testid="mark-reviewed"' not in client.get(f"/console/resolutions/{res_id}").get_data(as_text=True)
    token = _token(client, f"/console/resolutions/{res_id}")
    own = client.post(f"/console/api/resolutions/{res_id}/reviewed", headers={"X-CSRF-Token": token})
    assert own.status_code == 403 and own.get_json()["code"] == "self_review"
    client.post("/console/logout", data={"csrf_token": token})
    _sign_in(client, "assistant1")
    page = client.get(f"/console/resolutions/{res_id}").get_data(as_text=True)
    assert 'data-testid="mark-reviewed"' in page and 'data-testid="issue"' not in page


def test_a_limited_console_sign_in_says_when_to_retry(app, client, demo):
    app.config.update(LOGIN_RATE_LIMIT="2 per minute")
    for _ in range(2):
        assert _sign_in(client, "assistant1", password="wrong").status_code == 401
    limited = _sign_in(client, "assistant1")
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "Слишком много попыток" in limited.get_data(as_text=True)
