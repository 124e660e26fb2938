"""Check a device's PKCS#10 request and issue its end-entity certificate from the organization CA."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing.ca import CertificateAuthority, common_name

CERTIFICATE_VALIDITY = timedelta(days=730)
# A device clock a little ahead of ours must not see its fresh certificate as not yet valid.
CLOCK_SKEW = timedelta(minutes=5)


class CsrError(ValueError):
    """A refused CSR, with a stable machine code and a reason a person can read."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def _describe(key: object) -> str:
    """A short human name for a public key's type."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


def load_csr(pem: bytes | str) -> x509.CertificateSigningRequest:
    """Parse a PEM CSR and require a P-256 key and a valid self-signature, or raise CsrError."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        csr = x509.load_pem_x509_csr(data)
        key = csr.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The parser's own words (ASN.1 tags, Rust debug output) help nobody who reads the answer.
        if b"-----BEGIN CERTIFICATE REQUEST-----" not in data:
            raise CsrError("csr_malformed", "not a PEM certificate request: send the PKCS#10 request between "
                                            "-----BEGIN CERTIFICATE REQUEST----- and -----END CERTIFICATE "
                                            "REQUEST----- lines") from None
        raise CsrError("csr_malformed", "the certificate request is damaged or truncated: its content is "
                                        "not a PKCS#10 request; make it again on the device") from None
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise CsrError(
            "csr_unsupported_key",
            f"the key is {_describe(key)}; only EC P-256 (secp256r1) keys are accepted",
        )
    # Proof of possession: only the holder of the private key can sign the request.
    if not csr.is_signature_valid:
        raise CsrError("csr_bad_signature", "the request's self-signature does not verify with its key")
    return csr


def issue_certificate(
    ca: CertificateAuthority,
    csr: x509.CertificateSigningRequest,
    *,
    user_id: str,
    user_name: str,
    now: datetime | None = None,
    valid_for: timedelta = CERTIFICATE_VALIDITY,
) -> x509.Certificate:
    """Sign a certificate for the user's device key; the subject comes from us, never from the CSR."""
    now = now or datetime.now(timezone.utc)
    key = csr.public_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name(user_name)),
            x509.NameAttribute(NameOID.USER_ID, user_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ca.organization),
        ]
    )
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key)  # type: ignore[arg-type]  # load_csr admits P-256 keys only
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # emailProtection is what OpenSSL's S/MIME purpose asks of a CMS signer.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
