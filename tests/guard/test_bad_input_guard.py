"""What fuzzing found, each now a clear 4xx: oversized columns, NUL, deep JSON, endless chunked bodies,
SQLite's "database is locked" when one device registers twice at once."""
import concurrent.futures
import http.client
import io
import json

import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder, run_wsgi_app

from models import Device, Document, Resolution, db
from tests.api import world
from tests.conftest import DEMO_PASSWORD
from tests.support.live import Gunicorn, app_settings


def _devices(api):
    return db.session.scalar(sa.select(sa.func.count()).select_from(Device))


def test_device_fields_longer_than_their_columns_are_422(login, demo):
    api = login("exec1")
    cases = {
        "token": {"token": "f" * 4000, "platform": "android"},
        "locale": {"token": "t1", "platform": "android", "locale": "ru-" + "-".join(["abcdefgh"] * 4)},
        "app_version": {"token": "t1", "platform": "android", "app_version": "1." * 30},
    }
    for field, body in cases.items():
        resp = api.post("/devices", json=body)
        assert resp.status_code == 422 and field in resp.get_json()["errors"], (field, resp.get_json())
    assert _devices(api) == 0
    # The longest the column holds is accepted, on PostgreSQL's unique index too.
    longest = "A" * Device.__table__.c.token.type.length
    assert api.post("/devices", json={"token": longest, "platform": "android", "locale": "ru-RU"}).status_code == 201
    assert api.post("/devices", json={"token": "ключ", "platform": "android"}).status_code == 422


def test_nul_is_refused_in_every_kind_of_text(login, demo):
    ids = world.build(login, demo)
    api = ids["exec1"]
    before = (db.session.scalar(sa.select(sa.func.count()).select_from(Resolution)), _devices(api))
    for path, body in (
        ("/devices", {"token": "abc\u0000", "platform": "android"}),
        ("/devices", {"token": "abc", "platform": "android", "locale": "ru\u0000"}),
        ("/devices", {"token": "abc", "platform": "android\u0000"}),
        ("/devices", {"token": "abc", "platform": "android", "x\u0000": 1}),
        (f"/documents/{ids['doc']}/resolutions", {"text": "a\u0000b", "executors": [str(demo["employee1"].id)]}),
    ):
        resp = api.post(path, json=body)
        assert resp.status_code == 422 and resp.get_json()["code"] == "validation_failed", (path, body)
    login_resp = api.client.post("/api/v1/auth/login", json={"username": "exec1", "password": "x\u0000"})
    assert login_resp.status_code == 422
    for query in ("/inbox?cursor=%00", "/tasks?view=open%00", "/sync?since=1%00", "/inbox?view%00=all"):
        resp = api.get(query)
        assert resp.status_code == 422 and resp.content_type == "application/problem+json", query
    clerk = login("clerk1")
    metadata = {"title": "Письмо\u0000", "correspondent": "Минфин", "addressees": [str(demo["exec1"].id)]}
    docs = db.session.scalar(sa.select(sa.func.count()).select_from(Document))
    resp = clerk.post("/documents", content_type="multipart/form-data",
                      data={"metadata": json.dumps(metadata), "file": (io.BytesIO(b"%PDF-1.4"), "a.pdf")})
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Document)) == docs
    # Whoever is not signed in is turned away before the upload is even parsed.
    anonymous = api.client.post("/api/v1/documents", content_type="multipart/form-data",
                                data={"metadata": json.dumps(metadata), "file": (io.BytesIO(b"%PDF"), "a.pdf")})
    assert anonymous.status_code == 401
    assert (db.session.scalar(sa.select(sa.func.count()).select_from(Resolution)), _devices(api)) == before


def test_json_nested_thousands_deep_is_400_not_a_crash(login, demo):
    api = login("exec1")
    for depth in (100, 5000, 30000):
        body = "[" * depth + "]" * depth
        resp = api.post("/devices", data=body, content_type="application/json")
        assert resp.status_code == 400 and resp.get_json()["code"] == "json_too_deep", depth
        wrapped = '{"token": ' + "[" * depth + "]" * depth + ', "platform": "android"}'
        assert api.post("/devices", data=wrapped, content_type="application/json").status_code == 400
    # Ordinary nesting is just validated.
    assert api.post("/devices", json={"token": [[["x"]]], "platform": "ios"}).status_code == 422


class _Endless(io.RawIOBase):
    """A request body that never ends, counting what the server reads of it."""

    def __init__(self):
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        buffer[:] = b" " * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def test_a_chunked_json_body_over_the_limit_is_413_before_it_is_read_whole(app, login, demo):
    api = login("exec1")
    body = _Endless()
    # No Content-Length, and a server that terminates the stream (as gunicorn does for chunked bodies).
    environ = EnvironBuilder(path="/api/v1/devices", method="POST", headers=api.headers,
                             content_type="application/json", data=b"").get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": body, "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
    app_iter, status, headers = run_wsgi_app(app, environ)
    answer = json.loads(b"".join(app_iter))
    assert status.startswith("413") and answer["code"] == "payload_too_large", (status, answer)
    assert body.read_bytes <= app.config["MAX_JSON_BYTES"] + 64 * 1024


def test_a_refused_body_is_drained_after_the_answer_up_to_the_largest_body_taken(app, login, demo):
    api = login("exec1")
    limit = app.config["MAX_CONTENT_LENGTH"]
    for length, drained in ((None, limit), (str(limit + 1), 0)):
        body = _Endless()
        environ = EnvironBuilder(path="/api/v1/devices", method="POST", headers=api.headers,
                                 content_type="application/json", data=b"").get_environ()
        environ.pop("CONTENT_LENGTH", None)
        environ.update({"wsgi.input": body, "wsgi.input_terminated": True})
        environ.update({"CONTENT_LENGTH": length} if length else {"HTTP_TRANSFER_ENCODING": "chunked"})
        app_iter, status, _ = run_wsgi_app(app, environ)
        assert status.startswith("413") and json.loads(b"".join(app_iter))["code"] == "payload_too_large"
        before = body.read_bytes
        app_iter.close()  # the answer has been sent: the rest of the body is read now, or never
        assert drained <= body.read_bytes - before <= drained + 64 * 1024, (length, body.read_bytes - before)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_next_request_on_a_kept_alive_connection_works_after_a_body_is_refused(app, demo):
    """A 2 MB JSON body (chunked, then with its length) is refused with 413, and the phone's next
    request on the same connection is answered: gunicorn alone drops 64 KB of an unread body and then
    closes the connection it had announced as kept alive."""
    db.session.commit()
    with Gunicorn(app_settings(app), threads=2) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", "/api/v1/auth/login", json.dumps({"username": "exec1", "password": DEMO_PASSWORD}),
                     {"Content-Type": "application/json"})
        token = json.loads(conn.getresponse().read())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        sock = conn.sock
        for i, body in enumerate((iter([b" " * 65536] * 32), b" " * 2 * 2**20)):
            conn.request("POST", "/api/v1/devices", body, headers, encode_chunked=not isinstance(body, bytes))
            refused = conn.getresponse()
            assert refused.status == 413 and json.loads(refused.read())["code"] == "payload_too_large"
            assert refused.getheader("Connection") == "keep-alive"
            conn.request("POST", "/api/v1/devices", json.dumps({"token": f"t{i}", "platform": "android"}), headers)
            answer = conn.getresponse()
            assert answer.status == 201, answer.read()
            answer.read()
            assert conn.sock is sock  # the same connection, never reopened
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_servers_own_refusals_are_the_ones_the_contract_lists(app, client):
    """gunicorn refuses a long request line (414) and big headers (431) before the app: with its own page,
    which the document lists on every operation."""
    spec = client.get("/api/v1/openapi.json").get_json()
    me = spec["paths"]["/api/v1/me"]["get"]["responses"]
    with Gunicorn(app_settings(app), threads=2) as server:
        for status, path, headers in ((414, "/api/v1/me?q=" + "a" * 5000, {}),
                                      (431, "/api/v1/me", {"X-Big": "a" * 9000}),
                                      (431, "/api/v1/me", {f"X-H{i}": "a" for i in range(120)})):
            resp = requests.get(server.url + path, headers=headers, timeout=30)
            documented = spec["components"]["responses"][me[str(status)]["$ref"].rsplit("/", 1)[1]]
            assert resp.status_code == status and resp.headers["Content-Type"].split(";")[0] in documented["content"]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_one_device_registered_many_times_at_once_on_sqlite(app, demo):
    """Two gunicorn workers with four threads each, 16 simultaneous registrations of one token, 3 rounds."""
    db.session.commit()
    with Gunicorn(app_settings(app), workers=2, threads=4) as server:
        login = requests.post(f"{server.url}/api/v1/auth/login", timeout=30,
                              json={"username": "exec1", "password": DEMO_PASSWORD}).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        for round_ in range(3):
            def register(i, token=f"phone-{round_}"):
                return requests.post(f"{server.url}/api/v1/devices", headers=headers, timeout=60,
                                     json={"token": token, "platform": "android", "app_version": str(i)}).status_code

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                assert list(pool.map(register, range(16))) == [201] * 16
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Device)) == 3


# A quick fuzz of the JSON routes: whatever arrives, the answer is a problem or a success, never a 500.
_text = st.text(st.characters(codec="utf-8") | st.sampled_from(["\u0000", "\ud800", "\u2028", "\r"]), max_size=40)
_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | _text | st.just("9" * 30)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)
_FIELDS = {
    "/devices": ["token", "platform", "locale", "app_version"],
    "/documents/{doc}/resolutions": ["text", "executors", "deadline", "issue"],
    "/resolutions/{draft}": ["text", "executors", "deadline"],
    "/tasks/{task}/complete": ["report"],
    "/auth/login": ["username", "password", "device_name"],
    "/auth/refresh": ["refresh_token"],
}


@st.composite
def _requests(draw):
    path = draw(st.sampled_from(sorted(_FIELDS)))
    fields = draw(st.lists(st.sampled_from(_FIELDS[path]), unique=True))
    body = {name: draw(_json) for name in fields}
    if draw(st.booleans()):
        body = draw(_json)
    query = draw(st.dictionaries(st.sampled_from(["view", "cursor", "limit", "since"]), _text, max_size=2))
    return path, body, query


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_500(login, demo):
    ids = world.build(login, demo)
    api = ids["exec1"]

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(_requests())
    def check(request):
        path, body, query = request
        url = path.format(**ids)
        method = api.patch if path.startswith("/resolutions/") else api.post
        resp = method(url, data=json.dumps(body), content_type="application/json")
        assert resp.status_code < 500, (url, body, resp.get_data(as_text=True))
        if resp.status_code >= 400:
            assert resp.content_type == "application/problem+json"
        for view in ("/inbox", "/tasks", "/sync"):
            listed = api.get(view, query_string=query)
            assert listed.status_code < 500, (view, query, listed.get_data(as_text=True))

    check()
