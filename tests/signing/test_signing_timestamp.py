"""Signature time-stamps (CAdES-T) against a real RFC 3161 TSA (`openssl ts -reply` on 127.0.0.1): the token is
checked before it is kept, `openssl ts -verify` and `openssl cms -verify` accept the result, and the verdict
judges the certificate at the token's genTime rather than at the server's clock."""

import shlex
import subprocess
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms, timestamp
from signing.evidence import SignedItem, timestamp_command, verify_command
from tests.fakes.tsa_server import FakeTsa, TsaPki
from tests.support.gost_tablet import gost_engine


@pytest.fixture(scope="session")
def tsa_pki() -> TsaPki:
    gost_engine()  # the TSA answers Streebog imprints with OpenSSL's GOST engine
    return TsaPki()


@pytest.fixture
def tsa(tsa_pki, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a developer's proxy must not see loopback calls
    with FakeTsa(tsa_pki) as fake:
        yield fake


@pytest.fixture
def anchors(tsa_pki):
    return timestamp.load_tsa_anchors(tsa_pki.ca_file)


def stamped(p7s: bytes, tsa: FakeTsa, anchors, gost_signature: bool = False) -> tuple[bytes, timestamp.Token]:
    token = timestamp.fetch(tsa.url, cms.signature_value(p7s), anchors, gost_signature=gost_signature, timeout=2)
    return cms.with_timestamp(p7s, token.der), token


def run(command: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(shlex.split(command), cwd=cwd, capture_output=True, timeout=30)


def test_a_token_over_the_signature_value_passes_openssl_ts_verify_and_cms_verify(enrol, tsa, anchors, tsa_pki,
                                                                                  tmp_path):
    signer = enrol()
    content = b'{"decision":"approve"}'
    p7s, token = stamped(signer.sign(content), tsa, anchors)
    assert token.hash_algorithm == "sha256" and token.tsa == tsa_pki.tsa.certificate
    assert cms.timestamp_token(p7s) == token.der
    query = tsa.queries[-1]
    assert query["cert_req"].native is True and query["nonce"].native is not None

    item = SignedItem("approval-1", content, p7s, "user-1", signer.certificate)
    (tmp_path / "signatures").mkdir()
    (tmp_path / "content").mkdir()
    (tmp_path / "timestamps").mkdir()
    (tmp_path / "certs").mkdir()
    (tmp_path / "signatures/approval-1.p7s").write_bytes(p7s)
    (tmp_path / "content/approval-1.json").write_bytes(content)
    (tmp_path / "timestamps/approval-1.tsr").write_bytes(token.der)
    (tmp_path / "certs/ca.pem").write_bytes(signer.ca.certificate.public_bytes(Encoding.PEM))
    (tmp_path / "certs/tsa.pem").write_bytes(tsa_pki.ca_file.read_bytes())
    # The evidence's commands: the CAdES-T signature still verifies, and so does its token.
    done = run(verify_command(item, [signer.ca.certificate]), tmp_path)
    assert done.returncode == 0 and b"Verification successful" in done.stderr, done.stderr.decode()
    done = run(timestamp_command(item), tmp_path)
    assert done.returncode == 0 and b"Verification: OK" in done.stdout, done.stdout + done.stderr
    # ...and OpenSSL hashes the signature value itself to the token's imprint (not our hex).
    (tmp_path / "value.bin").write_bytes(cms.signature_value(p7s))
    done = run("openssl ts -verify -token_in -in timestamps/approval-1.tsr -data value.bin -CAfile certs/tsa.pem",
               tmp_path)
    assert done.returncode == 0 and b"Verification: OK" in done.stdout, done.stdout + done.stderr
    (tmp_path / "value.bin").write_bytes(cms.signature_value(signer.sign(content)))  # another signature
    done = run("openssl ts -verify -token_in -in timestamps/approval-1.tsr -data value.bin -CAfile certs/tsa.pem",
               tmp_path)
    assert done.returncode != 0 and b"Verification: OK" not in done.stdout


def test_a_gost_signature_is_stamped_over_its_streebog_hash_and_falls_back_to_sha256(tsa, anchors):
    value = bytes(range(64))
    token = timestamp.fetch(tsa.url, value, anchors, gost_signature=True, timeout=2)
    assert (token.hash_algorithm, timestamp.token_info(token.der).hashed_message) == (
        timestamp.STREEBOG_256, timestamp.imprint(timestamp.STREEBOG_256, value))
    tsa.mode = "no_gost"  # a TSA without Streebog refuses it (badAlg): asked again with SHA-256
    token = timestamp.fetch(tsa.url, value, anchors, gost_signature=True, timeout=2)
    assert token.hash_algorithm == "sha256"
    assert [q["message_imprint"]["hash_algorithm"]["algorithm"].native for q in tsa.queries[-2:]] == [
        timestamp.STREEBOG_256, "sha256"]


@pytest.mark.parametrize("mode, why", [
    ("wrong_imprint", "message imprint is not the hash of this signature"),
    ("wrong_nonce", "nonce is not the one we sent"),
    ("untrusted", "does not chain to a trusted TSA CA"),
    ("down", "HTTP 503"),
])
def test_a_wrong_answer_is_refused(tsa, anchors, mode, why):
    tsa.mode = mode
    with pytest.raises(timestamp.TimestampError, match=why):
        timestamp.fetch(tsa.url, b"signature value", anchors, gost_signature=False, timeout=2)


def test_a_tsa_certificate_not_for_time_stamping_is_refused(tsa, tsa_pki, anchors):
    token = timestamp.fetch(tsa.url, b"value", anchors, gost_signature=False, timeout=2)
    # Trusting only the rogue TSA's CA: the genuine token no longer chains.
    with pytest.raises(timestamp.TimestampError, match="trusted TSA CA"):
        timestamp.check_token(token.der, b"value", [tsa_pki.rogue_ca])
    tampered = bytearray(token.der)
    tampered[-5] ^= 0x01  # inside the TSA's signature
    with pytest.raises(timestamp.TimestampError):
        timestamp.check_token(bytes(tampered), b"value", anchors)


def test_the_verdict_judges_revocation_at_the_time_stamp_not_the_server_clock(enrol, tsa, anchors):
    signer = enrol()
    content = b'{"decision":"approve"}'
    p7s, token = stamped(signer.sign(content), tsa, anchors)
    serial, gen_time = signer.certificate.serial_number, token.gen_time
    trusted = [signer.ca.certificate]

    # The server received it an hour late (a queue, a clock ahead); the key was revoked in between.
    revoked = {serial: gen_time + timedelta(minutes=30)}
    late = gen_time + timedelta(hours=1)
    plain = cms.verify(p7s, content, trusted, revoked, at=late)
    assert (plain.valid, plain.reason) == (False, cms.Reason.CERTIFICATE_REVOKED)  # no TSA trust: server's clock
    result = cms.verify(p7s, content, trusted, revoked, at=late, tsa_trusted=anchors)
    assert (result.valid, result.reason, result.timestamped_at) == (True, cms.Reason.OK, gen_time)
    assert "after this signature was time-stamped" in result.note

    # A server clock behind: revoked before the time-stamp, though "after" the server's time.
    revoked = {serial: gen_time - timedelta(minutes=1)}
    early = gen_time - timedelta(minutes=2)
    assert cms.verify(p7s, content, trusted, revoked, at=early).valid
    result = cms.verify(p7s, content, trusted, revoked, at=early, tsa_trusted=anchors)
    assert (result.valid, result.reason) == (False, cms.Reason.CERTIFICATE_REVOKED)
    assert "before this signature was time-stamped" in result.detail
    assert "the server's clock says it arrived at" in result.detail  # a late token: said, not believed


def test_a_token_over_another_signature_makes_the_signature_refused(enrol, tsa, anchors):
    signer = enrol()
    content = b'{"decision":"approve"}'
    other, _ = stamped(signer.sign(b'{"decision":"reject"}'), tsa, anchors)
    p7s = cms.with_timestamp(signer.sign(content), cms.timestamp_token(other))
    result = cms.verify(p7s, content, [signer.ca.certificate], {}, tsa_trusted=anchors)
    assert (result.valid, result.reason) == (False, cms.Reason.BAD_TIMESTAMP)
    assert "imprint" in result.detail


def test_a_tsa_without_trust_anchors_stops_the_process_at_start(monkeypatch, tmp_path, tsa_pki):
    from mobile_api.config import ConfigError, from_env

    monkeypatch.delenv("TSA_URL", raising=False)
    monkeypatch.delenv("TSA_CA_FILE", raising=False)
    assert from_env()["TSA_URL"] is None  # no TSA: no time-stamps
    monkeypatch.setenv("TSA_URL", "http://127.0.0.1:9/tsa")
    with pytest.raises(ConfigError, match="TSA_URL needs TSA_CA_FILE"):
        from_env()
    (tmp_path / "empty.pem").write_text("not a certificate")
    monkeypatch.setenv("TSA_CA_FILE", str(tmp_path / "empty.pem"))
    with pytest.raises(ConfigError, match="no readable PEM certificate"):
        from_env()
    monkeypatch.setenv("TSA_CA_FILE", str(tsa_pki.ca_file))
    assert from_env()["TSA_CA_FILE"] == str(tsa_pki.ca_file)
