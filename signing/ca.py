"""The organization's certificate authority: create it, store its key encrypted, load it back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_VALIDITY = timedelta(days=3650)
# cryptography caps a commonName at 64 UTF-8 bytes: 32 Cyrillic letters, shorter than many full names.
_COMMON_NAME_BYTES = 64


class WrongPassphrase(ValueError):
    """The CA key could not be decrypted with the given passphrase."""


def common_name(text: str) -> str:
    """The text cut on a character boundary to fit a commonName; the full name lives elsewhere (O, UID)."""
    text = text.strip()
    if not text:
        raise ValueError("a common name cannot be empty")
    cut = text.encode("utf-8")[:_COMMON_NAME_BYTES].decode("utf-8", errors="ignore")
    return cut.rstrip()


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA key with its self-signed certificate."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def organization(self) -> str:
        """The organization named in the CA's subject."""
        return str(self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)


def create_ca(
    organization: str, *, now: datetime | None = None, valid_for: timedelta = CA_VALIDITY
) -> CertificateAuthority:
    """Create a P-256 CA whose self-signed certificate names the organization."""
    now = now or datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name(f"{organization} Signing CA")),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key, certificate)


def dump_key(ca: CertificateAuthority, passphrase: bytes) -> bytes:
    """PEM of the CA key, encrypted with the passphrase."""
    if not passphrase:
        raise ValueError("a CA key is never stored unencrypted: the passphrase is empty")
    return ca.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def dump_certificate(ca: CertificateAuthority) -> bytes:
    """PEM of the CA certificate."""
    return ca.certificate.public_bytes(serialization.Encoding.PEM)


def load_ca(key_pem: bytes, certificate_pem: bytes, passphrase: bytes) -> CertificateAuthority:
    """Load a CA from its encrypted key and certificate; WrongPassphrase if the key will not open."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=passphrase)
    except (ValueError, TypeError) as error:
        # cryptography says "Bad decrypt. Incorrect password?" or complains of a missing password
        raise WrongPassphrase("the CA key cannot be decrypted with this passphrase") from error
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
        raise ValueError("the CA key does not belong to the CA certificate")
    return CertificateAuthority(key, certificate)
