"""Keys from CSRs, signing sessions and their refusals, signed issue of a resolution, and the verification report
catching each kind of tampering."""
import base64
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from models import AuditEvent, db, utcnow
from models.signing import Signature, SigningSession
from signing import cms
from tests.support.tablet import Tablet


def _csr(key, tamper: bool = False) -> str:
    request = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    if tamper:
        der[-3] ^= 0x01  # inside the self-signature
    body = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


def test_malformed_and_weak_csrs_are_refused_with_their_codes(login):
    api = login("exec1")
    cases = [
        ("not a csr", "csr_malformed"),
        (_csr(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "csr_unsupported_key"),
        (_csr(ec.generate_private_key(ec.SECP384R1())), "csr_unsupported_key"),
        (_csr(ec.generate_private_key(ec.SECP256R1()), tamper=True), "csr_bad_signature"),
    ]
    for csr, code in cases:
        resp = api.post("/keys", json={"csr": csr})
        assert resp.status_code == 422 and resp.get_json()["code"] == code, (code, resp.get_json())
    # Damaged requests are told in words a person reads, never the ASN.1 parser's debug text.
    damaged = "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAzCBqgIBADA=\n-----END CERTIFICATE REQUEST-----\n"
    for csr, said in (("not a csr", "not a PEM certificate request"), (damaged, "damaged or truncated")):
        detail = api.post("/keys", json={"csr": csr}).get_json()["detail"]
        assert said in detail and "ParseError" not in detail and "{" not in detail, detail
    good = api.post("/keys", json={"csr": _csr(ec.generate_private_key(ec.SECP256R1()))})
    assert good.status_code == 201
    cert = x509.load_pem_x509_certificate(good.get_json()["certificate"].encode())
    assert "Галиев" in cert.subject.rfc4514_string() and good.get_json()["not_after"].endswith("Z")


def test_garbage_signatures_replays_and_expired_sessions_are_refused(enrol, route, users):
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))
    session = exec1.session("approval", approval["id"], decision="approve").get_json()
    assert session["algorithm"] == "ecdsa-with-SHA256" and '"decision":"approve"' in session["content"]
    url = f"/signing-sessions/{session['id']}/signature"
    for garbage, code in [(b"\x30\x06\x02\x01\x01\x02\x01\x01", "bad_signature"), (b"junk", "bad_signature")]:
        resp = exec1.api.post(url, json={"signature": base64.b64encode(garbage).decode()})
        assert resp.status_code == 422 and resp.get_json()["code"] == code, resp.get_json()
    assert exec1.api.post(url, json={"signature": "%%% not base64"}).status_code == 422
    # Signed by another device's key: the certificate in the session does not match.
    resp = exec1.api.post(url, json={"signature": Tablet().sign_b64(session["data_to_sign"])})
    assert resp.get_json()["code"] == "bad_signature"

    assert exec1.sign_session(session).status_code == 200
    replay = exec1.sign_session(session)
    assert replay.status_code == 409 and replay.get_json()["code"] == "session_used"
    decided = exec1.api.post(f"/approvals/{approval['id']}/decision",
                             json={"decision": "approve", "signing_session_id": session["id"]})
    assert decided.status_code == 200
    stale = exec1.api.post(f"/approvals/{approval['id']}/decision",
                           json={"decision": "approve", "signing_session_id": session["id"]})
    assert stale.status_code == 409

    other = exec1.session("resolution", "999999")
    assert other.status_code == 404
    fresh = SigningSession(**{c: getattr(db.session.get(SigningSession, int(session["id"])), c)
                              for c in ("user_id", "key_id", "document_id", "subject_type", "subject_id", "content",
                                        "data_to_sign")}, expires_at=utcnow() - timedelta(seconds=1))
    db.session.add(fresh)
    db.session.commit()
    resp = exec1.api.post(f"/signing-sessions/{fresh.id}/signature",
                          json={"signature": exec1.tablet.sign_b64(base64.b64encode(fresh.data_to_sign).decode())})
    assert resp.status_code == 410 and resp.get_json()["code"] == "session_expired"
    assert enrol("employee1").api.post(url, json={"signature": "AAAA"}).status_code == 404  # not theirs


def test_a_revoked_key_signs_nothing_more_but_its_earlier_signature_stays_valid(enrol, route, users, login, document):
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))
    pending = exec1.session("approval", approval["id"], decision="approve").get_json()
    assert exec1.approve(approval["id"]).status_code == 200
    assert login("employee1").delete(f"/keys/{exec1.key['id']}").status_code == 404

    assert exec1.api.delete(f"/keys/{exec1.key['id']}").status_code == 204

    resp = exec1.sign_session(pending)
    assert resp.status_code == 409 and resp.get_json()["code"] == "key_revoked"
    resp = exec1.session("approval", approval["id"], decision="approve")
    assert resp.status_code == 409
    [item] = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert item["valid"] and item["reason"] == "ok" and "revoked" in item["note"] and item["key_revoked_at"]
    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
    assert {"key.issued", "key.revoked", "signature.made", "approval.decided"} <= set(actions)


def test_a_resolution_is_issued_with_its_authors_signature(enrol, users, document):
    exec1 = enrol("exec1")
    res = exec1.api.post(f"/documents/{document}/resolutions",
                         json={"text": "Подготовить заключение.", "executors": [users["employee1"]]}).get_json()
    session_id = exec1.signed("resolution", res["id"])
    exec1.api.patch(f"/resolutions/{res['id']}", json={"text": "Подготовить заключение до пятницы."})
    resp = exec1.api.post(f"/resolutions/{res['id']}/issue", json={"signing_session_id": session_id})
    assert resp.status_code == 409 and resp.get_json()["code"] == "signature_mismatch"

    session_id = exec1.signed("resolution", res["id"])
    resp = exec1.api.post(f"/resolutions/{res['id']}/issue", json={"signing_session_id": session_id})
    assert resp.status_code == 200 and resp.get_json()["status"] == "issued"
    report = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert [(r["subject"], r["valid"]) for r in report][-1] == ({"type": "resolution", "id": res["id"]}, True)


def test_an_unsigned_issue_still_works_without_a_body(login, users, document):
    api = login("exec1")
    res = api.post(f"/documents/{document}/resolutions",
                   json={"text": "Принять к сведению.", "executors": [users["employee1"]]}).get_json()
    assert api.post(f"/resolutions/{res['id']}/issue").status_code == 200


def _stored(document: str) -> Signature:
    return db.session.scalar(sa.select(Signature).where(Signature.document_id == int(document)))


def _report(api, document: str) -> dict:
    [item] = api.get(f"/documents/{document}/signatures").get_json()["items"]
    return item


def test_tampering_with_stored_signatures_shows_in_the_report(enrol, route, users, document):
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))
    assert exec1.approve(approval["id"]).status_code == 200
    signature = _stored(document)
    content, p7s = signature.content, signature.p7s

    def tampered(**changes) -> dict:
        for name, value in changes.items():
            setattr(signature, name, value)
        db.session.commit()
        item = _report(exec1.api, document)
        signature.content, signature.p7s = content, p7s
        db.session.commit()
        return item

    assert _report(exec1.api, document)["valid"]
    item = tampered(content=content.replace(b'"approve"', b'"reject"'))
    assert (item["valid"], item["reason"]) == (False, "digest_mismatch")
    flipped = bytearray(p7s)
    flipped[-1] ^= 0x01  # the last byte of the ECDSA signature value
    item = tampered(p7s=bytes(flipped))
    assert (item["valid"], item["reason"]) == (False, "bad_signature")

    # The same content signed with a certificate from the other organization's CA.
    outsider = enrol("exec2")
    foreign_cert = x509.load_pem_x509_certificate(outsider.key["certificate"].encode())
    moment = signature.signed_at
    data = cms.signed_attributes(content, foreign_cert, moment)
    foreign = cms.assemble(data, outsider.tablet.sign(data), foreign_cert)
    item = tampered(p7s=foreign)
    assert (item["valid"], item["reason"]) == (False, "untrusted_issuer")
    assert _report(exec1.api, document)["valid"]


def test_audit_verify_names_a_changed_row(enrol, route, users, app):
    exec1 = enrol("exec1")
    approval = route(("sequential", [users["exec1"]]))
    assert exec1.approve(approval["id"]).status_code == 200
    runner = app.test_cli_runner()
    intact = runner.invoke(args=["audit", "verify"])
    assert intact.exit_code == 0 and "BROKEN" not in intact.output
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "approval.decided"))
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:  # PostgreSQL refuses the change unless the database owner switches the guard off
        db.session.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    event.details = {**event.details, "decision": "reject"}
    db.session.flush()
    if postgresql:
        db.session.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    db.session.commit()

    broken = runner.invoke(args=["audit", "verify"])

    assert broken.exit_code == 1
    assert f"BROKEN at entry #{event.seq} (approval.decided approval {approval['id']})" in broken.output


def test_ca_init_creates_missing_cas_only(app, demo):
    result = app.test_cli_runner().invoke(args=["ca", "init"])
    assert result.exit_code == 0 and result.output.count("already has a CA") == 2


def test_production_refuses_to_start_without_a_ca_passphrase(monkeypatch):
    from mobile_api import config
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/prod")
    monkeypatch.delenv("CA_PASSPHRASE", raising=False)
    with pytest.raises(config.ConfigError, match="CA_PASSPHRASE"):
        config.from_env()
    monkeypatch.setenv("CA_PASSPHRASE", "a long production passphrase")
    assert config.from_env()["CA_PASSPHRASE"] == "a long production passphrase"
