"""Device CSRs: what is refused and why, and the certificate a good one gets."""

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.csr import CsrError, issue_certificate, load_csr
from tests.signing.signer import NOW
from tests.support.tablet import Tablet


def _csr(key, algorithm=hashes.SHA256()) -> bytes:
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device")])
    )
    return request.sign(key, algorithm).public_bytes(serialization.Encoding.PEM)


def _broken_self_signature() -> bytes:
    der = x509.load_pem_x509_csr(Tablet().csr_pem().encode()).public_bytes(serialization.Encoding.DER)
    # The last byte belongs to the ECDSA signature's s: flipping it keeps the DER readable.
    tampered = x509.load_der_x509_csr(der[:-1] + bytes([der[-1] ^ 0x01]))
    return tampered.public_bytes(serialization.Encoding.PEM)


BAD_CSRS = {
    "garbage": (lambda: b"-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n",
                "csr_malformed"),
    "not pem": (lambda: b"hello", "csr_malformed"),
    "rsa-1024": (lambda: _csr(rsa.generate_private_key(65537, 1024)), "csr_unsupported_key"),
    "rsa-2048": (lambda: _csr(rsa.generate_private_key(65537, 2048)), "csr_unsupported_key"),
    "p-384": (lambda: _csr(ec.generate_private_key(ec.SECP384R1())), "csr_unsupported_key"),
    "ed25519": (lambda: _csr(ed25519.Ed25519PrivateKey.generate(), None), "csr_unsupported_key"),
    "broken self-signature": (_broken_self_signature, "csr_bad_signature"),
}


@pytest.mark.parametrize("case", BAD_CSRS)
def test_bad_csrs_are_refused_with_a_stable_code(case):
    make, code = BAD_CSRS[case]
    with pytest.raises(CsrError) as refused:
        load_csr(make())
    assert refused.value.code == code
    assert refused.value.reason


@pytest.mark.parametrize(("case", "words"), [("rsa-2048", "RSA-2048"), ("p-384", "secp384r1"), ("ed25519", "Ed25519")])
def test_the_reason_names_the_refused_key(case, words):
    with pytest.raises(CsrError, match=words):
        load_csr(BAD_CSRS[case][0]())


def test_a_good_csr_gets_a_signing_certificate_for_the_user(ca):
    tablet = Tablet()
    cert = issue_certificate(ca, load_csr(tablet.csr_pem()), user_id="u-7", user_name="Пётр Иванов", now=NOW)

    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Пётр Иванов"
    assert cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == "u-7"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ca.organization
    assert cert.issuer == ca.certificate.subject
    cert.verify_directly_issued_by(ca.certificate)

    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.EMAIL_PROTECTION]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert cert.not_valid_after_utc == NOW + timedelta(days=730)
    assert cert.not_valid_before_utc <= NOW


def test_validity_is_configurable_and_serials_are_random(ca):
    csr = load_csr(Tablet().csr_pem())
    certs = [issue_certificate(ca, csr, user_id="u", user_name="U", now=NOW, valid_for=timedelta(days=30))
             for _ in range(3)]
    assert {cert.not_valid_after_utc for cert in certs} == {NOW + timedelta(days=30)}
    assert len({cert.serial_number for cert in certs}) == 3
    assert all(cert.serial_number.bit_length() > 100 for cert in certs)


def test_a_long_russian_name_is_cut_to_fit_the_common_name(ca):
    name = "Константинопольский Константин Константинович"
    cert = issue_certificate(ca, load_csr(Tablet().csr_pem()), user_id="u-9", user_name=name)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert name.startswith(cn) and len(cn.encode()) <= 64
