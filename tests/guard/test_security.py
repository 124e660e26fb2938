"""Sessions stay dead after a user is re-enabled; no secret in the source; the audit trail resists a rewrite."""
import contextlib
import os
import runpy
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from mobile_api import create_app
from models import AuditEvent, AuditHead, AuthSession, User, audit, db
from tests.api import world
from tests.conftest import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def _login(client, username="exec1"):
    resp = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 200
    return resp.get_json()


def _set_active(username: str, active: bool) -> None:
    db.session.execute(sa.update(User).where(User.username == username).values(is_active=active))
    db.session.commit()


def test_re_enabling_a_user_does_not_bring_back_its_sessions(client, demo):
    before = _login(client)
    other_user = _login(client, "clerk1")
    _set_active("exec1", False)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {before['access_token']}"}) \
        .get_json()["code"] == "account_disabled"
    _set_active("exec1", True)

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {before['access_token']}"})
    assert me.status_code == 401 and me.get_json()["code"] == "invalid_token"
    assert client.post("/api/v1/auth/refresh", json={"refresh_token": before["refresh_token"]}).status_code == 401
    assert db.session.scalar(sa.select(AuthSession.revoked_reason).where(
        AuthSession.id == int(before["refresh_token"].split(".")[0]))) == "user_disabled"
    # Signing in again works, and other users' sessions were never touched.
    after = _login(client)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {after['access_token']}"}).status_code == 200
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other_user['access_token']}"}) \
        .status_code == 200


def test_dev_secrets_are_generated_once_per_data_dir_with_mode_0600(tmp_path, monkeypatch):
    for name in ("SECRET_KEY", "CA_PASSPHRASE", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path}/s.db"
    first = create_app({"DATA_DIR": str(tmp_path / "a"), "SQLALCHEMY_DATABASE_URI": url}).config
    again = create_app({"DATA_DIR": str(tmp_path / "a"), "SQLALCHEMY_DATABASE_URI": url}).config
    other = create_app({"DATA_DIR": str(tmp_path / "b"), "SQLALCHEMY_DATABASE_URI": url}).config
    for name, filename in (("SECRET_KEY", "secret_key"), ("CA_PASSPHRASE", "ca_passphrase")):
        assert len(first[name]) >= 32 and first[name] == again[name] != other[name]
        mode = stat.S_IMODE(os.stat(tmp_path / "a" / filename).st_mode)
        assert mode == 0o600, oct(mode)
    # Set in the environment, the secret is used as given and nothing is written.
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    given = create_app({"DATA_DIR": str(tmp_path / "c"), "SQLALCHEMY_DATABASE_URI": url}).config
    assert given["SECRET_KEY"] == "k" * 40
    assert not (tmp_path / "c" / "secret_key").exists()


def test_no_secret_default_in_the_source_and_gunicorn_listens_on_loopback(monkeypatch):
    sources = "\n".join(p.read_text() for p in (ROOT / "mobile_api").rglob("*.py"))
    assert "dev-only-key" not in sources and "dev-only-ca-passphrase" not in sources
    monkeypatch.delenv("BIND", raising=False)
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/nonexistent-unused")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == "127.0.0.1:8123"


@contextlib.contextmanager
def _as_database_owner():
    """What someone with the database owner's rights can do: switch the PostgreSQL trigger off (in
    this transaction only: it is back on at commit)."""
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        db.session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    yield
    db.session.flush()
    if postgresql:
        db.session.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    db.session.commit()


def _chain(org_id):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.organization_id == org_id)
                              .order_by(AuditEvent.seq)).all()


def _rewrite_and_recompute(org_id: int, seq: int) -> None:
    """Change one entry and recompute every hash after it, and the head, as a careful forger would."""
    with _as_database_owner():
        prev = audit.GENESIS
        for event in _chain(org_id):
            if event.seq == seq:
                event.details = {**event.details, "forged": True}
            event.prev_hash = prev
            event.hash = event.compute_hash()
            prev = event.hash
        head = db.session.get(AuditHead, org_id)
        head.hash = prev


def _verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_a_rewrite_with_the_chain_recomputed_is_detected(app, login, demo):
    world.build(login, demo)
    org_id = demo["exec1"].organization_id
    events = _chain(org_id)
    assert len(events) >= 2 and _verify(app).exit_code == 0
    target = events[-2]
    _rewrite_and_recompute(org_id, target.seq)

    assert audit.verify_chain(org_id).seq == target.seq  # every hash checks out; the seal does not
    result = _verify(app)
    assert result.exit_code == 1 and f"BROKEN at entry #{target.seq}" in result.output
    assert "seal does not match" in result.output


def test_a_transaction_links_any_number_of_entries_and_the_chain_verifies(app, demo):
    """A request's one or two entries are linked in one statement with the head's move on PostgreSQL, an
    import's many by executemany: either way each entry follows the last, and the head names the last."""
    org_id = demo["exec1"].organization_id
    before = len(_chain(org_id))
    for batch in (1, 20, 21, 300):
        for n in range(batch):
            audit.record(org_id, None, "test.entry", "test", n)
        db.session.commit()
    events = _chain(org_id)
    assert len(events) == before + 342
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + len(events)))
    assert db.session.get(AuditHead, org_id).seq == events[-1].seq
    assert audit.verify_chain(org_id) is None and _verify(app).exit_code == 0


def test_entries_cut_off_the_end_are_detected(app, login, demo):
    world.build(login, demo)
    org_id = demo["exec1"].organization_id
    events = _chain(org_id)
    with _as_database_owner():
        db.session.delete(events[-1])
        head = db.session.get(AuditHead, org_id)
        head.seq, head.hash = events[-2].seq, events[-2].hash
    result = _verify(app)
    assert result.exit_code == 1 and "chain head's seal does not match" in result.output


def test_entries_from_before_seals_are_sealed_once_by_the_operator(app, login, demo):
    world.build(login, demo)
    with _as_database_owner():
        db.session.execute(sa.update(AuditEvent).values(seal=None))
        db.session.execute(sa.update(AuditHead).values(seal=None))
    assert "not sealed" in _verify(app).output
    # Sealing needs no trigger switched off: filling an empty seal is the one change PostgreSQL allows.
    sealed = app.test_cli_runner().invoke(args=["audit", "seal"])
    assert sealed.exit_code == 0, sealed.output
    assert _verify(app).exit_code == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_refuses_update_and_delete_of_audit_entries(app, login, demo):
    world.build(login, demo)
    event_id = _chain(demo["exec1"].organization_id)[0].id
    for statement in ("UPDATE audit_events SET details = '{}' WHERE id = :id",
                      "UPDATE audit_events SET seal = NULL WHERE id = :id",
                      "DELETE FROM audit_events WHERE id = :id"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement), {"id": event_id})
        db.session.rollback()
    assert db.session.get(AuditEvent, event_id).seal is not None
