"""A tablet with a GOST R 34.10-2012 key (OpenSSL and Debian's GOST engine) enrols, signs an approval and a
resolution through the API; the report and `openssl cms -verify -engine gost` on the evidence agree."""
import base64
import io
import shlex
import subprocess
import zipfile

import pytest
from cryptography import x509

from models import db
from models.signing import OrganizationCA
from tests.approvals.conftest import Signer
from tests.support.gost_tablet import GostTablet, gost_engine


@pytest.fixture(scope="module", autouse=True)
def engine():
    gost_engine()


@pytest.fixture
def enrol_gost(login):
    """enrol_gost("exec1", bits) -> Signer whose tablet is OpenSSL with a GOST key."""

    def _enrol(username: str, bits: int = 256, parameter_set: str = "A") -> Signer:
        api, tablet = login(username), GostTablet(bits, parameter_set)
        resp = api.post("/keys", json={"csr": tablet.csr_pem()})
        assert resp.status_code == 201, resp.get_json()
        return Signer(api, tablet, resp.get_json())

    return _enrol


@pytest.mark.parametrize("bits", [256, 512])
def test_a_gost_tablet_signs_an_approval_and_openssl_verifies_the_evidence(enrol_gost, route, users, document,
                                                                          tmp_path, bits):
    exec1 = enrol_gost("exec1", bits)
    certificate = x509.load_pem_x509_certificate(exec1.key["certificate"].encode())
    assert "Галиев" in certificate.subject.rfc4514_string()
    approval = route(("sequential", [users["exec1"]]))

    session = exec1.session("approval", approval["id"], decision="approve").get_json()
    assert session["algorithm"] == f"gost3410-2012-{bits}"
    assert len(base64.b64decode(session["data_to_sign"])) == bits // 8  # a Streebog hash, not the attributes
    url = f"/signing-sessions/{session['id']}/signature"
    # Signed by another GOST key, or with one bit changed: refused, and the session stays open.
    stranger = GostTablet(bits).sign_b64(session["data_to_sign"])
    resp = exec1.api.post(url, json={"signature": stranger})
    assert resp.status_code == 422 and resp.get_json()["code"] == "bad_signature", resp.get_json()
    flipped = bytearray(base64.b64decode(exec1.tablet.sign_b64(session["data_to_sign"])))
    flipped[0] ^= 0x01
    resp = exec1.api.post(url, json={"signature": base64.b64encode(bytes(flipped)).decode()})
    assert resp.status_code == 422 and resp.get_json()["code"] == "bad_signature", resp.get_json()
    assert exec1.sign_session(session).status_code == 200
    decided = exec1.api.post(f"/approvals/{approval['id']}/decision",
                             json={"decision": "approve", "signing_session_id": session["id"]})
    assert decided.status_code == 200 and decided.get_json()["status"] == "approved"

    [item] = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert (item["valid"], item["reason"], item["certificate"]["serial"]) == (True, "ok", exec1.key["serial"])

    evidence = exec1.api.get(f"/documents/{document}/evidence")
    with zipfile.ZipFile(io.BytesIO(evidence.data)) as archive:
        archive.extractall(tmp_path)
    text = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    [command] = [line for line in text.splitlines() if line.startswith("openssl cms -verify")]
    assert "-engine gost" in command
    done = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, timeout=30)
    assert done.returncode == 0 and b"Verification successful" in done.stderr, done.stderr.decode()
    # The same command refuses the evidence once a byte of the signature is changed.
    [p7s] = (tmp_path / "signatures").iterdir()
    tampered = bytearray(p7s.read_bytes())
    tampered[-1] ^= 0x01
    p7s.write_bytes(bytes(tampered))
    done = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, timeout=30)
    assert done.returncode != 0 and b"Verification successful" not in done.stderr


def test_a_resolution_is_issued_with_a_gost_signature_beside_a_p256_approval(enrol_gost, enrol, users, route,
                                                                            document):
    exec1, employee1 = enrol_gost("exec1", 512, "C"), enrol("employee1")
    approval = route(("sequential", [users["employee1"]]))
    assert employee1.approve(approval["id"]).status_code == 200
    res = exec1.api.post(f"/documents/{document}/resolutions",
                         json={"text": "Подготовить заключение.", "executors": [users["employee1"]]}).get_json()
    session_id = exec1.signed("resolution", res["id"])
    resp = exec1.api.post(f"/resolutions/{res['id']}/issue", json={"signing_session_id": session_id})
    assert resp.status_code == 200 and resp.get_json()["status"] == "issued"
    report = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert [(r["subject"]["type"], r["valid"]) for r in report] == [("approval", True), ("resolution", True)]


def test_a_gost_request_on_an_unknown_curve_is_refused_in_words(login):
    # A GOST 2001 key (the old algorithm, withdrawn in 2019) is not a GOST R 34.10-2012 key.
    tablet = GostTablet(256)
    made = subprocess.run(["openssl", "genpkey", "-engine", "gost", "-algorithm", "gost2001", "-pkeyopt",
                           "paramset:A", "-out", str(tablet.key)], capture_output=True)
    assert made.returncode == 0, made.stderr.decode()
    resp = login("exec1").post("/keys", json={"csr": tablet.csr_pem()})
    assert resp.status_code == 422 and resp.get_json()["code"] == "csr_unsupported_key", resp.get_json()
    assert "GOST R 34.10-2012" in resp.get_json()["detail"]


def test_an_organization_whose_ca_is_gost_signs_with_gost_and_p256_tablets(app, demo, enrol, enrol_gost, route,
                                                                          users, document, tmp_path):
    # The demo organization's CA is made again, as `flask ca init` makes one with CA_ALGORITHM=gost2012-512.
    organization_id = demo["exec1"].organization_id
    db.session.delete(db.session.get(OrganizationCA, organization_id))
    db.session.commit()
    app.config["CA_ALGORITHM"] = "gost2012-512"
    made = app.test_cli_runner().invoke(args=["ca", "init", "--organization", str(organization_id)])
    assert made.exit_code == 0 and "CA created" in made.output, made.output

    exec1, employee1 = enrol_gost("exec1", 256, "TCA"), enrol("employee1")
    ca = x509.load_pem_x509_certificate(db.session.get(OrganizationCA, organization_id).certificate_pem.encode())
    assert ca.signature_algorithm_oid.dotted_string == "1.2.643.7.1.1.3.3"  # signed with GOST 512 and Streebog
    approval = route(("parallel", [users["exec1"], users["employee1"]]))
    assert exec1.approve(approval["id"]).status_code == 200
    assert employee1.approve(approval["id"], "reject", "Нет сметы").status_code == 200
    report = exec1.api.get(f"/documents/{document}/signatures").get_json()["items"]
    assert [(r["valid"], r["certificate"]["issuer"]) for r in report] == [(True, ca.subject.rfc4514_string())] * 2

    with zipfile.ZipFile(io.BytesIO(exec1.api.get(f"/documents/{document}/evidence").data)) as archive:
        archive.extractall(tmp_path)
    text = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    commands = [line for line in text.splitlines() if line.startswith("openssl cms -verify")]
    assert len(commands) == 2
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, timeout=30)
        assert done.returncode == 0 and b"Verification successful" in done.stderr, done.stderr.decode()


def test_an_unknown_ca_algorithm_stops_the_start(monkeypatch):
    from mobile_api import config
    monkeypatch.setenv("CA_ALGORITHM", "gost2001")
    with pytest.raises(config.ConfigError, match="CA_ALGORITHM must be one of p256, gost2012-256, gost2012-512"):
        config.from_env()
    monkeypatch.setenv("CA_ALGORITHM", "gost2012-256")
    assert config.from_env()["CA_ALGORITHM"] == "gost2012-256"
