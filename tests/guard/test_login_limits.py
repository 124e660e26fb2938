"""Failed-login limits live in the database: per address and username, per username, per address
(password spraying), shared by every process; a successful sign-in carries no Retry-After."""
import concurrent.futures

import pytest
import requests
import sqlalchemy as sa

from models import LoginFailure, db
from tests.conftest import DEMO_PASSWORD
from tests.support.live import Gunicorn, app_settings


def _login(client, username="exec1", password=DEMO_PASSWORD, address="10.0.0.1"):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_a_success_carries_no_retry_after_and_leaves_no_failure(client, demo):
    resp = _login(client)
    assert resp.status_code == 200
    assert "Retry-After" not in resp.headers and not any(h.startswith("X-RateLimit") for h in resp.headers.keys())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 0


def test_one_username_guessed_from_many_addresses_is_limited(app, client, demo):
    app.config.update(LOGIN_RATE_LIMIT="5 per minute", LOGIN_USERNAME_LIMIT="8 per minute")
    for i in range(8):
        assert _login(client, password="wrong", address=f"10.1.0.{i}").status_code == 401
    resp = _login(client, address="10.1.0.200")  # the right password, from a fresh address
    assert resp.status_code == 429 and resp.get_json()["code"] == "rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert _login(client, "clerk1", address="10.1.0.200").status_code == 200


def test_one_password_sprayed_over_many_usernames_from_one_address_is_limited(app, client, demo):
    app.config.update(LOGIN_ADDRESS_LIMIT="10 per minute")
    for i in range(10):
        assert _login(client, f"user{i}", "Winter2026!", address="10.2.0.9").status_code == 401
    assert _login(client, "user99", "Winter2026!", address="10.2.0.9").status_code == 429
    assert _login(client, address="10.2.0.9").status_code == 429  # even a real user, from that address
    assert _login(client, address="10.2.0.10").status_code == 200  # others are not affected


def test_refused_attempts_do_not_extend_the_lockout(app, client, demo):
    app.config.update(LOGIN_RATE_LIMIT="3 per minute")
    for _ in range(3):
        assert _login(client, password="wrong").status_code == 401
    for _ in range(5):
        assert _login(client, password="wrong").status_code == 429
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 3


def test_validation_errors_are_not_counted(app, client, demo):
    for _ in range(10):
        resp = client.post("/api/v1/auth/login", json={"username": "exec1"}, environ_base={"REMOTE_ADDR": "10.3.0.1"})
        assert resp.status_code == 422
    assert _login(client, address="10.3.0.1").status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_web_processes_share_the_limit(app, demo):
    """Two gunicorn nodes on one PostgreSQL: failures on either count for both, also when simultaneous."""
    db.session.commit()
    limits = {"LOGIN_RATE_LIMIT": "6 per minute", "LOGIN_USERNAME_LIMIT": "100 per minute",
              "LOGIN_ADDRESS_LIMIT": "100 per minute"}
    with Gunicorn(app_settings(app), threads=1, **limits) as one, \
            Gunicorn(app_settings(app), threads=1, **limits) as two:
        def attempt(i, password="wrong"):
            node = (one, two)[i % 2]
            return requests.post(f"{node.url}/api/v1/auth/login", timeout=30,
                                 json={"username": "exec1", "password": password}).status_code

        # 12 wrong guesses at once, half on each node: exactly 6 may be judged, the rest refused.
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(attempt, range(12)))
        assert sorted(codes) == [401] * 6 + [429] * 6, codes
        # Whichever node is asked next, the right password is refused too while the limit holds.
        assert attempt(0, DEMO_PASSWORD) == 429 and attempt(1, DEMO_PASSWORD) == 429
        # Another user is not locked out by exec1's failures.
        assert requests.post(f"{two.url}/api/v1/auth/login", timeout=30,
                             json={"username": "clerk1", "password": DEMO_PASSWORD}).status_code == 200
