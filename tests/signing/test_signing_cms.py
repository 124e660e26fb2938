"""CMS signatures from a simulated tablet: the round trip, and every kind of tampering detected."""

import hashlib
from datetime import timedelta

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from signing import cms
from signing.canonical import decision_bytes
from signing.cms import Reason, verify
from signing.csr import issue_certificate, load_csr
from tests.signing.signer import NOW
from tests.support.tablet import Tablet

CONTENT = decision_bytes(
    document_id="doc-1", version_hash="cd" * 32, decision="approve", comment=None, signer="u-1001", signed_at=NOW
)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_tablet_round_trip_is_valid(ca, enrol):
    signer = enrol()
    data_to_sign = cms.signed_attributes(CONTENT, signer.certificate, NOW)
    signature = signer.tablet.sign(data_to_sign)
    p7s = cms.assemble(data_to_sign, signature, signer.certificate, [ca.certificate])

    result = verify(p7s, CONTENT, [ca.certificate], {})

    assert (result.valid, result.reason, result.note) == (True, Reason.OK, None)
    assert result.reason == "ok"
    assert result.signer == signer.certificate
    assert result.signing_time == NOW
    assert data_to_sign[0] == 0x31  # a DER SET OF, as the device signs it
    assert data_to_sign[1:] in p7s  # embedded unchanged, only retagged [0]
    assert hashlib.sha256(CONTENT).digest() in data_to_sign
    assert cms.signing_time(p7s) == NOW


def test_signed_attributes_are_deterministic(enrol):
    signer = enrol()
    assert cms.signed_attributes(CONTENT, signer.certificate, NOW) == cms.signed_attributes(
        CONTENT, signer.certificate, NOW
    )


@pytest.mark.parametrize("index", [0, len(CONTENT) // 2, len(CONTENT) - 1])
def test_a_changed_content_byte_is_a_digest_mismatch(ca, enrol, index):
    p7s = enrol().sign(CONTENT)
    assert verify(p7s, _flip(CONTENT, index), [ca.certificate], {}).reason == Reason.DIGEST_MISMATCH


@pytest.mark.parametrize("where", ["last", "middle"])
def test_a_changed_signature_byte_is_a_bad_signature(ca, enrol, where):
    signer = enrol()
    data_to_sign = cms.signed_attributes(CONTENT, signer.certificate, NOW)
    signature = signer.tablet.sign(data_to_sign)
    p7s = cms.assemble(data_to_sign, signature, signer.certificate, [ca.certificate])
    start = p7s.index(signature)
    index = start + len(signature) - 1 if where == "last" else start + len(signature) // 2
    result = verify(_flip(p7s, index), CONTENT, [ca.certificate], {})
    assert (result.valid, result.reason) == (False, Reason.BAD_SIGNATURE)


def test_a_changed_signed_attribute_is_a_bad_signature(ca, enrol):
    signer = enrol()
    p7s = signer.sign(CONTENT)
    digest = hashlib.sha256(CONTENT).digest()
    other = hashlib.sha256(b"other content").digest()
    # Pointing the message digest at other content breaks the device's signature over the attributes.
    assert verify(p7s.replace(digest, other), b"other content", [ca.certificate], {}).reason == Reason.BAD_SIGNATURE


def test_a_certificate_from_another_organizations_ca_is_untrusted(ca, other_ca, enrol):
    p7s = enrol(by=other_ca).sign(CONTENT)
    result = verify(p7s, CONTENT, [ca.certificate], {})
    assert (result.valid, result.reason) == (False, Reason.UNTRUSTED_ISSUER)
    assert verify(p7s, CONTENT, [ca.certificate, other_ca.certificate], {}).valid


def test_a_forged_ca_with_our_name_is_untrusted(ca, enrol):
    from signing.ca import CertificateAuthority

    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = CertificateAuthority(impostor_key, ca.certificate)  # our CA's name and certificate, not its key
    p7s = enrol(by=impostor).sign(CONTENT)
    assert verify(p7s, CONTENT, [ca.certificate], {}).reason == Reason.UNTRUSTED_ISSUER


def test_revoked_before_signing_is_refused(ca, enrol):
    signer = enrol()
    p7s = signer.sign(CONTENT, at=NOW)
    revoked = {signer.certificate.serial_number: NOW - timedelta(hours=1)}
    result = verify(p7s, CONTENT, [ca.certificate], revoked)
    assert (result.valid, result.reason) == (False, Reason.CERTIFICATE_REVOKED)


def test_revoked_after_signing_stays_valid_and_says_so(ca, enrol):
    signer = enrol()
    p7s = signer.sign(CONTENT, at=NOW)
    revoked_at = NOW + timedelta(hours=1)
    result = verify(p7s, CONTENT, [ca.certificate], lambda serial: revoked_at)
    assert (result.valid, result.reason) == (True, Reason.OK)
    assert "revoked" in result.note and "after" in result.note


def test_a_backdated_signing_time_does_not_escape_revocation_given_a_trusted_time(ca, enrol):
    signer = enrol(now=NOW - timedelta(days=10))
    p7s = signer.sign(CONTENT, at=NOW - timedelta(days=2))  # a stolen key claiming an earlier time
    revoked = {signer.certificate.serial_number: NOW - timedelta(days=1)}
    assert verify(p7s, CONTENT, [ca.certificate], revoked).valid
    assert verify(p7s, CONTENT, [ca.certificate], revoked, at=NOW).reason == Reason.CERTIFICATE_REVOKED


def test_an_expired_certificate_is_refused(ca, enrol):
    signer = enrol(now=NOW - timedelta(days=365 * 3), valid_for=timedelta(days=730))
    result = verify(signer.sign(CONTENT, at=NOW), CONTENT, [ca.certificate], {})
    assert (result.valid, result.reason) == (False, Reason.CERTIFICATE_EXPIRED)
    # The same certificate signed validly while it was in force.
    assert verify(signer.sign(CONTENT, at=NOW - timedelta(days=365 * 2)), CONTENT, [ca.certificate], {}).valid


def test_a_certificate_not_yet_valid_is_refused(ca, enrol):
    signer = enrol(now=NOW + timedelta(days=1))
    assert verify(signer.sign(CONTENT, at=NOW), CONTENT, [ca.certificate], {}).reason == Reason.CERTIFICATE_EXPIRED


def test_a_certificate_without_signing_key_usage_is_refused(ca):
    tablet = Tablet()
    csr = load_csr(tablet.csr_pem())
    # A TLS client certificate from our own CA: trusted, but not for signing documents.
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "tls")]))
        .issuer_name(ca.certificate.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(
            x509.KeyUsage(False, False, False, False, True, False, False, False, False), critical=True
        )
        .sign(ca.key, hashes.SHA256())
    )
    data_to_sign = cms.signed_attributes(CONTENT, cert, NOW)
    p7s = cms.assemble(data_to_sign, tablet.sign(data_to_sign), cert)
    assert verify(p7s, CONTENT, [ca.certificate], {}).reason == Reason.WRONG_KEY_USAGE


@pytest.mark.parametrize(
    "signature",
    [b"", b"not DER at all", b"\x30\x06\x02\x01\x01\x02\x01\x01", b"\x30\x44" + b"\x00" * 68],
    ids=["empty", "text", "tiny-der", "truncated"],
)
def test_garbage_signatures_are_bad_signatures(ca, enrol, signature):
    signer = enrol()
    data_to_sign = cms.signed_attributes(CONTENT, signer.certificate, NOW)
    p7s = cms.assemble(data_to_sign, signature, signer.certificate, [ca.certificate])
    assert verify(p7s, CONTENT, [ca.certificate], {}).reason == Reason.BAD_SIGNATURE


def test_a_signature_by_another_key_is_a_bad_signature(ca, enrol):
    signer, thief = enrol(), Tablet()
    data_to_sign = cms.signed_attributes(CONTENT, signer.certificate, NOW)
    p7s = cms.assemble(data_to_sign, thief.sign(data_to_sign), signer.certificate, [ca.certificate])
    assert verify(p7s, CONTENT, [ca.certificate], {}).reason == Reason.BAD_SIGNATURE


def test_a_swapped_certificate_for_the_same_key_is_a_bad_signature(ca, enrol):
    signer = enrol()
    p7s = signer.sign(CONTENT)
    # A second certificate for the same key, but the signed attributes name the first one by hash.
    twin = issue_certificate(ca, load_csr(signer.tablet.csr_pem()), user_id="u-1001", user_name="Анна Смирнова",
                           now=NOW)
    data_to_sign = cms.signed_attributes(CONTENT, signer.certificate, NOW)
    swapped = cms.assemble(data_to_sign, signer.tablet.sign(data_to_sign), twin, [ca.certificate])
    assert verify(p7s, CONTENT, [ca.certificate], {}).valid
    assert verify(swapped, CONTENT, [ca.certificate], {}).reason == Reason.BAD_SIGNATURE


@pytest.mark.parametrize("p7s", [b"", b"garbage", b"\x30\x03\x02\x01\x01"], ids=["empty", "text", "wrong-der"])
def test_garbage_p7s_is_malformed(ca, p7s):
    result = verify(p7s, CONTENT, [ca.certificate], {})
    assert (result.valid, result.reason, result.signer) == (False, Reason.MALFORMED, None)


def test_truncated_or_padded_p7s_is_malformed(ca, enrol):
    p7s = enrol().sign(CONTENT)
    assert verify(p7s[:-10], CONTENT, [ca.certificate], {}).reason == Reason.MALFORMED
    assert verify(p7s + b"\x00", CONTENT, [ca.certificate], {}).reason == Reason.MALFORMED


def test_a_p7s_without_the_signer_certificate_is_malformed(ca, enrol):
    info = asn1_cms.ContentInfo.load(enrol().sign(CONTENT))
    info["content"]["certificates"] = [asn1_x509.Certificate.load(ca.certificate.public_bytes(Encoding.DER))]
    p7s = info.dump(force=True)
    assert verify(p7s, CONTENT, [ca.certificate], {}).reason == Reason.MALFORMED
