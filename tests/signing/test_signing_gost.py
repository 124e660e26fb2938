"""GOST R 34.10-2012 keys: OpenSSL's GOST engine makes the key, the request and the signature, our CA certifies
the key, the server verifies the signature; and OpenSSL verifies what the server built. Every verdict is
crossed with `openssl ... -engine gost`, for each standard parameter set."""

import io
import secrets
import shlex
import subprocess
import zipfile

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from gostcrypto.gostsignature import gost_34_10_2012 as gost_signature

from signing import cms, gost
from signing.csr import CsrError, GostRequest, issue_certificate, load_csr
from signing.evidence import SignedItem, build_evidence
from tests.signing.signer import NOW
from tests.support.gost_tablet import PARAMETER_SETS, GostTablet, gost_engine, openssl

CONTENT = '{"decision":"approve","document_id":"doc-1","signer":"u-1001"}'.encode()


@pytest.fixture(scope="module", autouse=True)
def engine():
    gost_engine()


def _openssl_verifies(tmp_path, p7s: bytes, content: bytes, ca) -> bool:
    (tmp_path / "s.p7s").write_bytes(p7s)
    (tmp_path / "c.json").write_bytes(content)
    (tmp_path / "ca.pem").write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    done = openssl("cms", "-verify", "-inform", "DER", "-binary", "-in", str(tmp_path / "s.p7s"),
                   "-content", str(tmp_path / "c.json"), "-CAfile", str(tmp_path / "ca.pem"), "-purpose", "any",
                   "-attime", str(int(NOW.timestamp())), "-out", "/dev/null")
    return done.returncode == 0 and b"Verification successful" in done.stderr


@pytest.mark.parametrize(("bits", "parameter_set"),
                         [(bits, name) for bits, names in PARAMETER_SETS.items() for name in names])
def test_openssl_signs_the_server_verifies_and_openssl_verifies_the_servers_cms(tmp_path, ca, bits, parameter_set):
    tablet = GostTablet(bits, parameter_set)
    request = load_csr(tablet.csr_pem())
    assert isinstance(request, GostRequest) and request.key.bits == bits
    certificate = issue_certificate(ca, request, user_id="u-1001", user_name="Анна Смирнова", now=NOW)
    (tmp_path / "ca.pem").write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
    checked = openssl("verify", "-CAfile", str(tmp_path / "ca.pem"), "-attime", str(int(NOW.timestamp())),
                      str(tmp_path / "cert.pem"))
    assert checked.returncode == 0, checked.stderr.decode()
    text = openssl("x509", "-in", str(tmp_path / "cert.pem"), "-noout", "-text").stdout.decode()
    assert f"GOST R 34.10-2012 with {bits} bit modulus" in text

    attributes = cms.signed_attributes(CONTENT, certificate, NOW)
    digest = cms.to_be_signed(attributes, certificate)
    assert cms.algorithm(certificate) == f"gost3410-2012-{bits}" and len(digest) == bits // 8
    p7s = cms.assemble(attributes, tablet.sign(digest), certificate, [ca.certificate])

    verdict = cms.verify(p7s, CONTENT, [ca.certificate], {})
    assert (verdict.valid, verdict.reason) == (True, cms.Reason.OK), verdict.detail
    assert _openssl_verifies(tmp_path, p7s, CONTENT, ca)

    flipped = bytearray(p7s)
    flipped[-1] ^= 0x01  # the last byte of r
    assert cms.verify(bytes(flipped), CONTENT, [ca.certificate], {}).reason == cms.Reason.BAD_SIGNATURE
    assert not _openssl_verifies(tmp_path, bytes(flipped), CONTENT, ca)
    changed = CONTENT.replace(b"approve", b"reject!")
    assert cms.verify(p7s, changed, [ca.certificate], {}).reason == cms.Reason.DIGEST_MISMATCH
    assert not _openssl_verifies(tmp_path, p7s, changed, ca)


def test_a_signature_by_another_gost_key_or_the_wrong_hash_width_is_refused(tmp_path, ca):
    tablet, stranger = GostTablet(256, "A"), GostTablet(256, "A")
    certificate = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id="u-1", user_name="Анна", now=NOW)
    attributes = cms.signed_attributes(CONTENT, certificate, NOW)
    digest = cms.to_be_signed(attributes, certificate)
    foreign = cms.assemble(attributes, stranger.sign(digest), certificate, [ca.certificate])
    assert cms.verify(foreign, CONTENT, [ca.certificate], {}).reason == cms.Reason.BAD_SIGNATURE
    assert not _openssl_verifies(tmp_path, foreign, CONTENT, ca)
    # The DER attributes signed as if they were a hash: the wrong size, refused rather than misread.
    assert cms.verify(cms.assemble(attributes, b"\x01" * 64 + b"\x02", certificate, [ca.certificate]), CONTENT,
                      [ca.certificate], {}).reason == cms.Reason.BAD_SIGNATURE


def test_a_gost_request_with_a_broken_self_signature_is_refused():
    pem = GostTablet(512, "B").csr_pem()
    lines = pem.splitlines()
    # The request's last base64 line ends inside its signature: change one of its characters.
    last = len(lines) - 2
    lines[last] = lines[last][:-3] + ("A" if lines[last][-3] != "A" else "B") + lines[last][-2:]
    with pytest.raises(CsrError) as refused:
        load_csr("\n".join(lines) + "\n")
    assert refused.value.code == "csr_bad_signature"


def test_the_evidence_of_gost_and_p256_signatures_verifies_with_openssl(tmp_path, ca, enrol):
    items = []
    for name, bits in (("gost-256", 256), ("gost-512", 512)):
        tablet = GostTablet(bits, "A")
        certificate = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id=name, user_name=name, now=NOW)
        attributes = cms.signed_attributes(CONTENT, certificate, NOW)
        p7s = cms.assemble(attributes, tablet.sign(cms.to_be_signed(attributes, certificate)), certificate,
                           [ca.certificate])
        items.append(SignedItem(f"approval-{name}", CONTENT, p7s, name, certificate))
    p256 = enrol("u-1001")
    items.append(SignedItem("approval-p256", CONTENT, p256.sign(CONTENT), "u-1001", p256.certificate))

    with zipfile.ZipFile(io.BytesIO(build_evidence("doc-1", items, [ca.certificate]))) as archive:
        archive.extractall(tmp_path)
    text = (tmp_path / "HOW-TO-VERIFY.txt").read_text(encoding="utf-8")
    commands = [line for line in text.splitlines() if line.startswith("openssl cms -verify")]
    assert [("-engine gost" in line) for line in commands] == [True, True, False]
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True)
        assert done.returncode == 0 and b"Verification successful" in done.stderr, (command, done.stderr)


@pytest.mark.parametrize("parameter_set", sorted(gost.PARAMETER_SETS))
def test_our_verification_agrees_with_gostcryptos_own_signatures(parameter_set):
    # A second implementation beside OpenSSL's: gostcrypto signs in affine coordinates, we verify in Jacobian.
    bits, _, curve_name = gost.PARAMETER_SETS[parameter_set]
    size = bits // 8
    mode = gost_signature.MODE_256 if bits == 256 else gost_signature.MODE_512
    signer = gost_signature.new(mode, gost_signature.CURVES_R_1323565_1_024_2019[curve_name])
    private = bytearray(secrets.token_bytes(size - 1).rjust(size, b"\0"))
    point = bytes(signer.public_key_generate(bytearray(private)))
    key = gost.GostKey(bits, parameter_set, int.from_bytes(point[:size], "big"), int.from_bytes(point[size:], "big"),
                       b"", b"")
    digest = gost.streebog(CONTENT, bits)
    r_then_s = bytes(signer.sign(bytearray(private), bytearray(digest[::-1])))  # gostcrypto reads big-endian
    s_then_r = r_then_s[size:] + r_then_s[:size]
    assert key.verify(s_then_r, digest)
    assert not key.verify(s_then_r, gost.streebog(CONTENT + b" ", bits))
    assert not key.verify(s_then_r[:-1] + bytes([s_then_r[-1] ^ 1]), digest)
    assert not key.verify(s_then_r[size:] + s_then_r[:size], digest)  # r then s: the other tools' order
