"""Sign-in, token rotation with reuse detection, logout, disabled users, login rate limiting."""
import time
from datetime import datetime, timedelta, timezone

import jwt
import sqlalchemy as sa

from models import AuthSession, Resolution, User, db
from tests.conftest import DEMO_PASSWORD


def _login(client, username="exec1", password=DEMO_PASSWORD, **extra):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password, **extra})


def _bearer(body):
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_login_returns_tokens_and_the_user(client, demo):
    resp = _login(client, device_name="iPhone 15")
    body = resp.get_json()
    assert resp.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"] == {"id": str(demo["exec1"].id), "name": "Галиев Ильдар Рашитович",
                            "short_name": "Галиев И.Р.", "roles": ["executive"],
                            "organization": {"id": str(demo["exec1"].organization_id), "short_name": "Минцифры"}}
    assert client.get("/api/v1/me", headers=_bearer(body)).get_json()["id"] == str(demo["exec1"].id)
    assert db.session.scalar(sa.select(AuthSession.device_name)) == "iPhone 15"


def test_wrong_password_and_unknown_user_look_the_same(client, demo):
    for username, password in (("exec1", "wrong"), ("nobody", "wrong")):
        resp = _login(client, username, password)
        assert resp.status_code == 401
        assert resp.content_type == "application/problem+json"
        assert resp.get_json()["code"] == "invalid_credentials"


def test_repeated_failures_are_rate_limited_even_for_the_right_password(client, demo):
    for _ in range(5):
        assert _login(client, password="wrong").status_code == 401
    resp = _login(client)
    assert resp.status_code == 429
    assert resp.get_json()["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) > 0
    # Another user from the same address is not locked out by exec1's failures.
    assert _login(client, "clerk1").status_code == 200


def test_successful_logins_do_not_count_towards_the_limit(client, demo):
    for _ in range(8):
        assert _login(client).status_code == 200


def test_refresh_rotates_and_the_old_token_stops_working(client, demo):
    first = _login(client).get_json()
    resp = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    second = resp.get_json()
    assert resp.status_code == 200 and second["refresh_token"] != first["refresh_token"]
    assert client.get("/api/v1/me", headers=_bearer(second)).status_code == 200
    third = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).get_json()
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_reusing_a_spent_refresh_token_revokes_the_whole_session(client, demo):
    client.application.config["REFRESH_GRACE_S"] = 0  # a replay after the grace period for retries
    first = _login(client).get_json()
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).get_json()
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and replay.get_json()["code"] == "token_reused"
    # The thief's replay also ended the legitimate holder's session.
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert client.get("/api/v1/me", headers=_bearer(second)).status_code == 401


def test_logout_revokes_access_and_refresh_at_once(client, demo):
    body = _login(client).get_json()
    other_device = _login(client).get_json()
    assert client.post("/api/v1/auth/logout", headers=_bearer(body)).status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(body)).status_code == 401
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).status_code == 401
    # Only that session ended.
    assert client.get("/api/v1/me", headers=_bearer(other_device)).status_code == 200


def test_disabled_user_is_locked_out_at_once(client, demo):
    body = _login(client).get_json()
    db.session.execute(sa.update(User).where(User.username == "exec1").values(is_active=False))
    db.session.commit()
    resp = client.get("/api/v1/inbox", headers=_bearer(body))
    assert resp.status_code == 401 and resp.get_json()["code"] == "account_disabled"
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).status_code == 401
    assert _login(client).status_code == 401


# The polled lists and opened documents check the session inside their own statement, or alone when
# none carries it: whatever the request (a page, a 304, a bad argument or cursor, a sync, a document
# that is not there), an ended session gets nothing but 401.
POLLED = ("/api/v1/inbox", "/api/v1/inbox?view=overdue", "/api/v1/tasks", "/api/v1/tasks?view=overdue",
          "/api/v1/sync", "/api/v1/inbox?limit=0", "/api/v1/tasks?cursor=not-a-cursor", "/api/v1/sync?since=bad",
          "/api/v1/control?view=open", "/api/v1/control?view=reports", "/api/v1/control?view=overdue&limit=1")


def _opened(client, body) -> tuple[str, ...]:
    """A document of the user's inbox, its resolutions, a file of it, and a document that is not there."""
    document = client.get("/api/v1/inbox", headers=_bearer(body)).get_json()["items"][0]["document_id"]
    attachment = client.get(f"/api/v1/documents/{document}", headers=_bearer(body)).get_json()["attachments"][0]
    return (f"/api/v1/documents/{document}", f"/api/v1/documents/{document}/resolutions",
            f"/api/v1/documents/{document}/attachments/{attachment['id']}", "/api/v1/documents/999999999")


def test_an_ended_session_gets_401_from_every_polled_list_at_once(client, demo):
    body = _login(client).get_json()
    # The execution tree reads outside a transaction too (its check rides in its statement), a refused one as
    # well; one resolution still reads through the ORM.
    resolution = db.session.scalar(sa.select(Resolution.id).order_by(Resolution.id))
    paths = POLLED + (f"/api/v1/resolutions/{resolution}/execution", "/api/v1/resolutions/999999999/execution",
                      f"/api/v1/resolutions/{resolution}") + _opened(client, body)
    tags = {path: client.get(path, headers=_bearer(body)).headers.get("ETag") for path in paths}
    assert all(tags[path] for path in POLLED[:4] + paths[-4:-1])  # what the phone holds: it sends their tags
    assert client.post("/api/v1/auth/logout", headers=_bearer(body)).status_code == 204
    for path in paths:
        for headers in ({}, {"If-None-Match": tags[path]} if tags[path] else {}):
            resp = client.get(path, headers={**_bearer(body), **headers})
            assert resp.status_code == 401 and resp.get_json()["code"] == "invalid_token", (path, headers)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    # Disabled: its own code, on the same paths.
    other = _login(client).get_json()
    db.session.execute(sa.update(User).where(User.username == "exec1").values(is_active=False))
    db.session.commit()
    for path in paths:
        resp = client.get(path, headers=_bearer(other))
        assert resp.status_code == 401 and resp.get_json()["code"] == "account_disabled", path


def test_expired_forged_and_missing_tokens_are_refused(app, client, demo):
    body = _login(client).get_json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    expired = jwt.encode({**claims, "exp": past}, app.config["SECRET_KEY"], algorithm="HS256")
    forged = jwt.encode({**claims, "sub": str(demo["minister"].id)}, "another-key-of-at-least-32-bytes!!", "HS256")
    cases = {expired: "token_expired", forged: "invalid_token", "garbage": "invalid_token"}
    for token, code in cases.items():
        resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401 and resp.get_json()["code"] == code
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/me").get_json()["code"] == "unauthorized"


def test_a_token_used_before_still_expires_on_time(app, client, demo):
    # The worker remembers a token's checked signature; it must not remember it past its expiry.
    app.config["ACCESS_TOKEN_TTL"] = 2
    body = _login(client).get_json()
    assert client.get("/api/v1/inbox", headers=_bearer(body)).status_code == 200
    time.sleep(2.1)
    resp = client.get("/api/v1/inbox", headers=_bearer(body))
    assert resp.status_code == 401 and resp.get_json()["code"] == "token_expired"


def test_malformed_refresh_tokens_are_refused_cleanly(client, demo):
    for token in ("", "abc", "1.", ".x", "99999999999999999999.x", "1.x", "1.1.forged", "1.0.x", "1.-1.x"):
        resp = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert resp.status_code in (401, 422), token
        assert resp.content_type == "application/problem+json"


def test_a_forged_refresh_token_cannot_close_someone_elses_session(client, demo):
    body = _login(client).get_json()
    session_id = body["refresh_token"].split(".")[0]
    for forged in (f"{session_id}.1.AAAA", f"{session_id}.0.AAAA", f"{session_id}.2.AAAA"):
        assert client.post("/api/v1/auth/refresh", json={"refresh_token": forged}).status_code == 401
    assert client.get("/api/v1/me", headers=_bearer(body)).status_code == 200
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]}).status_code == 200
