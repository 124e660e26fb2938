"""A signer enrols a certificate they have from an external CA the organization trusts (TRUST_ANCHORS): the
chain must lead to an anchor, and the device proves it holds the key by signing the server's challenge.
The external CA is openssl (P-256, and GOST through the GOST engine) serving its CRL over HTTP on 127.0.0.1;
an unreachable CRL makes the revocation status unknown, never good."""
import base64
import hashlib
import io
import subprocess
import time
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from domain import revocation as crls
from models import db
from models.revocation import RevocationList
from signing import gost, revocation
from signing.ca import CertificateAuthority
from tests.approvals.conftest import Signer
from tests.support.external_ca import ExternalCA
from tests.support.gost_tablet import GostTablet, gost_engine
from tests.support.tablet import Tablet


@pytest.fixture(scope="module", autouse=True)
def engine():
    gost_engine()


@pytest.fixture
def external(app, tmp_path):
    """external(gost=False) -> a running ExternalCA whose certificate is the app's only trust anchor."""
    made = []

    def _external(gost: bool = False, trusted: bool = True) -> ExternalCA:
        ca = ExternalCA("УЦ Минцифры" if gost else "Federal Test CA", gost=gost)
        ca.serve()
        made.append(ca)
        if trusted:
            anchors = tmp_path / f"anchors-{len(made)}"
            anchors.mkdir()
            (anchors / "external.pem").write_text(ca.pem())
            app.config["TRUST_ANCHORS"] = str(anchors)
        return ca

    yield _external
    for ca in made:
        ca.stop()


def _proof(tablet, challenge: bytes) -> bytes:
    """What the device signs: the challenge with ECDSA-SHA256, or its Streebog hash with the GOST key."""
    return tablet.sign(gost.streebog(challenge, 256)) if isinstance(tablet, GostTablet) else tablet.sign(challenge)


def _enrol(api, tablet, certificate_pem: str, proof_of=None):
    challenge = api.post("/keys/challenge")
    assert challenge.status_code == 200, challenge.get_json()
    data = base64.b64decode(challenge.get_json()["challenge"])
    signed = _proof(tablet, proof_of if proof_of is not None else data)
    return api.post("/keys", json={"certificate": certificate_pem, "challenge": challenge.get_json()["challenge"],
                                   "proof": base64.b64encode(signed).decode()})


@pytest.mark.parametrize("kind", ["p256", "gost"])
def test_an_external_certificate_is_enrolled_signs_and_its_evidence_verifies_offline(external, login, route, users,
                                                                                   document, tmp_path, kind):
    ca = external(gost=kind == "gost")
    tablet = GostTablet(256) if kind == "gost" else Tablet()
    api = login("exec1")
    resp = _enrol(api, tablet, ca.issue(tablet.csr_pem()))
    assert resp.status_code == 201, resp.get_json()
    exec1 = Signer(api, tablet, resp.get_json())

    approval = route(("sequential", [users["exec1"]]))
    assert exec1.approve(approval["id"]).status_code == 200
    [item] = api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert item["valid"] is True and item["revocation"]["status"] == "good", item
    assert item["certificate"]["issuer"] == ca.certificate.subject.rfc4514_string()

    ca.stop()  # nothing answers any more: the evidence needs no network
    with zipfile.ZipFile(io.BytesIO(api.get(f"/documents/{document}/evidence").data)) as archive:
        archive.extractall(tmp_path)
    assert ca.pem().encode() in (tmp_path / "certs" / "ca.pem").read_bytes()  # the external anchor rides along
    done = subprocess.run(["sh", "verify.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "1 of 1 signatures valid" in done.stdout, done.stdout + done.stderr


def test_a_certificate_from_an_untrusted_ca_or_with_a_wrong_proof_is_refused(external, login):
    trusted, untrusted = external(), external(trusted=False)
    api, tablet = login("exec1"), Tablet()

    resp = _enrol(api, tablet, untrusted.issue(tablet.csr_pem()))
    assert resp.status_code == 422 and resp.get_json()["code"] == "untrusted_issuer", resp.get_json()

    certificate = trusted.issue(tablet.csr_pem())
    resp = _enrol(api, tablet, certificate, proof_of=b"some other bytes")
    assert resp.status_code == 422 and resp.get_json()["code"] == "proof_invalid", resp.get_json()
    resp = _enrol(api, Tablet(), certificate)  # another device, without the certificate's key
    assert resp.status_code == 422 and resp.get_json()["code"] == "proof_invalid", resp.get_json()
    # A challenge given to someone else proves nothing for this user.
    other = login("employee1").post("/keys/challenge").get_json()["challenge"]
    resp = api.post("/keys", json={"certificate": certificate, "challenge": other, "proof": base64.b64encode(
        tablet.sign(base64.b64decode(other))).decode()})
    assert resp.status_code == 422 and resp.get_json()["code"] == "challenge_invalid", resp.get_json()
    assert api.get("/keys").get_json()["items"] == []


def test_an_unreachable_crl_leaves_the_revocation_status_unknown_and_the_key_refused(external, login):
    ca = external()
    ca.stop()  # its distribution point does not answer, and nothing of it is kept yet
    api, tablet = login("exec1"), Tablet()

    resp = _enrol(api, tablet, ca.issue(tablet.csr_pem()))

    assert resp.status_code == 422 and resp.get_json()["code"] == "revocation_unknown", resp.get_json()
    assert "revocation status unknown" in resp.get_json()["detail"]
    assert any("статус отзыва неизвестен" in text for text in resp.get_json()["errors"]["certificate"])
    assert api.get("/keys").get_json()["items"] == []


def test_a_certificate_the_external_ca_revoked_cannot_be_enrolled(external, login):
    ca = external()
    api, tablet = login("exec1"), Tablet()
    certificate = ca.issue(tablet.csr_pem())
    ca.revoke(certificate)

    resp = _enrol(api, tablet, certificate)

    assert resp.status_code == 422 and resp.get_json()["code"] == "certificate_revoked", resp.get_json()


def _plant_stale_crl(ca: ExternalCA) -> None:
    """What was kept of the external CA's CRLs as time leaves it behind: the newest one past its nextUpdate."""
    key = serialization.load_pem_private_key((ca.folder / "ca.key").read_bytes(), None)
    now = datetime.now(timezone.utc)
    der = revocation.issue_crl(CertificateAuthority(key, ca.certificate), [], number=99,
                               this_update=now - timedelta(seconds=30), valid_for=timedelta(seconds=10))
    crl = revocation.load_crl(der)
    db.session.execute(sa.delete(RevocationList).where(RevocationList.issuer == crls.issuer_id(ca.certificate)))
    db.session.add(RevocationList(issuer=crls.issuer_id(ca.certificate), url=ca.crl_url, this_update=crl.this_update,
                                  next_update=crl.next_update, der=der, sha256=hashlib.sha256(der).hexdigest()))
    db.session.commit()


def test_a_stale_crl_is_fetched_again_and_without_a_fresh_one_the_status_is_unknown(external, login, route, users,
                                                                                    document):
    ca = external()
    api, tablet = login("exec1"), Tablet()
    certificate = ca.issue(tablet.csr_pem())
    resp = _enrol(api, tablet, certificate)
    assert resp.status_code == 201, resp.get_json()
    approval = route(("sequential", [users["exec1"]]))
    assert Signer(api, tablet, resp.get_json()).approve(approval["id"]).status_code == 200
    time.sleep(1.1)  # a CRL dates a revocation to the second: one in the signature's own second counts as before
    ca.revoke(certificate)  # after the signature

    _plant_stale_crl(ca)  # the kept CRL is past its nextUpdate: the report fetches the CA's current one
    [item] = api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert item["valid"] is True and item["revocation"]["status"] == "good", (item["reason"], item["detail"],
                                                                                item["revocation"])
    assert "after this signature was made" in item["revocation"]["detail"]

    ca.stop()
    _plant_stale_crl(ca)  # stale again, and now nothing answers
    [item] = api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert (item["valid"], item["reason"], item["revocation"]["status"]) == (False, "revocation_unknown", "unknown")
    assert "did not answer" in item["revocation"]["detail"] and "не ответил" in item["revocation"]["detail_ru"]


def test_trust_anchors_that_cannot_be_read_stop_the_start(monkeypatch, tmp_path):
    from mobile_api import config
    (tmp_path / "notes.pem").write_text("not a certificate")
    for wrong in (tmp_path / "missing.pem", tmp_path / "notes.pem"):
        monkeypatch.setenv("TRUST_ANCHORS", str(wrong))
        with pytest.raises(config.ConfigError, match="TRUST_ANCHORS must name a PEM file or a directory"):
            config.from_env()
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    (anchors / "federal.pem").write_text(ExternalCA("Federal Test CA").pem())
    monkeypatch.setenv("TRUST_ANCHORS", str(anchors))
    assert config.from_env()["TRUST_ANCHORS"] == str(anchors)
