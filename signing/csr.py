"""Check a device's PKCS#10 request and issue its end-entity certificate from the organization CA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from signing import gost
from signing.ca import CertificateAuthority, common_name, sign_again
from signing.revocation import distribution_point

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


@dataclass(frozen=True)
class GostRequest:
    """A checked PKCS#10 request for a GOST R 34.10-2012 key (cryptography cannot hold such keys)."""

    key: gost.GostKey


def _malformed(data: bytes) -> CsrError:
    # The parser's own words (ASN.1 tags, Rust debug output) help nobody who reads the answer.
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in data:
        return CsrError("csr_malformed", "not a PEM certificate request: send the PKCS#10 request between "
                                         "-----BEGIN CERTIFICATE REQUEST----- and -----END CERTIFICATE "
                                         "REQUEST----- lines")
    return CsrError("csr_malformed", "the certificate request is damaged or truncated: its content is "
                                     "not a PKCS#10 request; make it again on the device")


def _unsupported(what: str) -> CsrError:
    return CsrError("csr_unsupported_key", f"the key is {what}; only EC P-256 (secp256r1) and GOST R 34.10-2012 "
                                           "(256 or 512 bits, a standard parameter set) keys are accepted")


def load_csr(pem: bytes | str) -> x509.CertificateSigningRequest | GostRequest:
    """Parse a PEM CSR and require a P-256 or GOST R 34.10-2012 key and a valid self-signature, or raise
    CsrError."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        csr = x509.load_pem_x509_csr(data)
    except (ValueError, TypeError):
        raise _malformed(data) from None
    try:
        key = csr.public_key()
    except UnsupportedAlgorithm:
        return _load_gost(csr.public_bytes(serialization.Encoding.DER))
    except (ValueError, TypeError):
        raise _malformed(data) from None
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise _unsupported(_describe(key))
    # Proof of possession: only the holder of the private key can sign the request.
    if not csr.is_signature_valid:
        raise CsrError("csr_bad_signature", "the request's self-signature does not verify with its key")
    return csr


def _load_gost(der: bytes) -> GostRequest:
    """A request whose key cryptography does not know: a GOST one, checked here, or refused."""
    try:
        info, algorithm, signature = gost.elements(der)
        spki = gost.elements(info)[2]
        key = gost.public_key(spki)
        signed_with = gost.algorithm_oid(algorithm)
        signature_value = core.OctetBitString.load(signature).native
    except gost.NotGost as unknown:
        raise _unsupported(f"of algorithm {unknown}") from None
    except gost.UnknownParameterSet as unknown:
        raise _unsupported(str(unknown)) from None
    except (ValueError, TypeError, KeyError, IndexError):
        raise CsrError("csr_malformed", "the GOST certificate request is damaged: its key or signature cannot "
                                        "be read; make it again on the device") from None
    wanted = gost.SIGN_WITH_256 if key.bits == 256 else gost.SIGN_WITH_512
    if signed_with != wanted or not key.verify(signature_value, key.hash(info)):
        raise CsrError("csr_bad_signature", "the request's self-signature does not verify with its key")
    return GostRequest(key)


def issue_certificate(
    ca: CertificateAuthority,
    csr: x509.CertificateSigningRequest | GostRequest,
    *,
    user_id: str,
    user_name: str,
    now: datetime | None = None,
    valid_for: timedelta = CERTIFICATE_VALIDITY,
    crl_url: str | None = None,
) -> x509.Certificate:
    """Sign a certificate for the user's device key; the subject comes from us, never from the CSR. With crl_url
    the certificate names it as its CRL distribution point."""
    now = now or datetime.now(timezone.utc)
    # cryptography builds and signs with keys it knows; a GOST key goes in after, and the CA signs again.
    stand_in = ec.generate_private_key(ec.SECP256R1())
    if isinstance(csr, GostRequest):
        key = stand_in.public_key()
        key_id = x509.SubjectKeyIdentifier(gost.key_identifier(csr.key))
    else:
        key = csr.public_key()  # type: ignore[assignment]  # load_csr admits P-256 keys only
        key_id = x509.SubjectKeyIdentifier.from_public_key(key)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name(user_name)),
            x509.NameAttribute(NameOID.USER_ID, user_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ca.organization),
        ]
    )
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key)
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
        .add_extension(key_id, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    if crl_url is not None:
        builder = builder.add_extension(distribution_point(crl_url), critical=False)
    certificate = builder.sign(ca.key if isinstance(ca.key, ec.EllipticCurvePrivateKey) else stand_in, hashes.SHA256())
    if isinstance(csr, GostRequest) or isinstance(ca.key, gost.GostPrivateKey):
        certificate = sign_again(certificate, ca.key, csr.key.spki_der if isinstance(csr, GostRequest) else None)
    return certificate
