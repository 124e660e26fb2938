"""The organization's certificate authority: create it, store its key encrypted, load it back."""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import NameOID

from signing import gost

CA_VALIDITY = timedelta(days=3650)
# A CA's key algorithm (CA_ALGORITHM): P-256, or GOST R 34.10-2012 on CryptoPro-A (256) or TC26-512-A.
CA_ALGORITHMS = {"p256": None, "gost2012-256": (256, "1.2.643.2.2.35.1"), "gost2012-512": (512, "1.2.643.7.1.2.1.2.1")}
_GOST_PEM = "ENCRYPTED GOST PRIVATE KEY"
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

    key: ec.EllipticCurvePrivateKey | gost.GostPrivateKey
    certificate: x509.Certificate

    @property
    def organization(self) -> str:
        """The organization named in the CA's subject."""
        return str(self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value)


def sign_again(
    certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | gost.GostPrivateKey, spki_der: bytes | None = None
) -> x509.Certificate:
    """The certificate signed by key, its subjectPublicKeyInfo first replaced when spki_der is given.

    cryptography neither holds nor signs with GOST keys: certificates that involve one are built for a
    stand-in P-256 key and finished here."""
    tbs, algorithm, _ = gost.elements(certificate.public_bytes(serialization.Encoding.DER))
    parts = gost.elements(tbs)  # version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ...
    if spki_der is not None:
        parts[6] = spki_der
    if isinstance(key, gost.GostPrivateKey):
        oid = gost.SIGN_WITH_256 if key.public.bits == 256 else gost.SIGN_WITH_512
        algorithm = core.Sequence(contents=core.ObjectIdentifier(oid).dump()).dump()
        parts[2] = algorithm
        tbs = gost.sequence(parts)
        signature = key.sign(key.public.hash(tbs))
    else:
        tbs = gost.sequence(parts)
        signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return x509.load_der_x509_certificate(gost.sequence([tbs, algorithm, core.OctetBitString(signature).dump()]))


def create_ca(
    organization: str, *, now: datetime | None = None, valid_for: timedelta = CA_VALIDITY, algorithm: str = "p256"
) -> CertificateAuthority:
    """Create a CA (P-256 or GOST R 34.10-2012) whose self-signed certificate names the organization."""
    now = now or datetime.now(timezone.utc)
    if algorithm not in CA_ALGORITHMS:
        raise ValueError(f"unknown CA algorithm {algorithm!r}: one of {', '.join(CA_ALGORITHMS)}")
    key = ec.generate_private_key(ec.SECP256R1())  # a GOST CA's stand-in while cryptography builds
    gost_key = gost.generate_private_key(*CA_ALGORITHMS[algorithm]) if CA_ALGORITHMS[algorithm] else None
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name(f"{organization} Signing CA")),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()) if gost_key is None else \
        x509.SubjectKeyIdentifier(gost.key_identifier(gost_key.public))
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
    if gost_key is not None:
        return CertificateAuthority(gost_key, sign_again(certificate, gost_key, gost_key.public.spki_der))
    return CertificateAuthority(key, certificate)


def _scrypt(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)


def dump_key(ca: CertificateAuthority, passphrase: bytes) -> bytes:
    """PEM of the CA key, encrypted with the passphrase."""
    if not passphrase:
        raise ValueError("a CA key is never stored unencrypted: the passphrase is empty")
    if isinstance(ca.key, gost.GostPrivateKey):
        # No PKCS#8 writer knows GOST keys here: AES-256-GCM under a scrypt key of the passphrase.
        salt, nonce = os.urandom(16), os.urandom(12)
        sealed = AESGCM(_scrypt(passphrase, salt)).encrypt(nonce, ca.key.private_bytes(), _GOST_PEM.encode())
        body = base64.encodebytes(salt + nonce + sealed).decode()
        return f"-----BEGIN {_GOST_PEM}-----\n{body}-----END {_GOST_PEM}-----\n".encode()
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
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    if f"-----BEGIN {_GOST_PEM}-----".encode() in key_pem:
        return _load_gost_ca(key_pem, certificate, passphrase)
    try:
        key = serialization.load_pem_private_key(key_pem, password=passphrase)
    except (ValueError, TypeError) as error:
        # cryptography says "Bad decrypt. Incorrect password?" or complains of a missing password
        raise WrongPassphrase("the CA key cannot be decrypted with this passphrase") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != certificate.public_key():
        raise ValueError("the CA key does not belong to the CA certificate")
    return CertificateAuthority(key, certificate)


def _load_gost_ca(key_pem: bytes, certificate: x509.Certificate, passphrase: bytes) -> CertificateAuthority:
    body = re.search(rb"-----BEGIN [A-Z ]+-----(.*?)-----END", key_pem, re.S)
    data = base64.b64decode(body.group(1) if body else b"")
    salt, nonce, sealed = data[:16], data[16:28], data[28:]
    try:
        key = gost.load_private_key(AESGCM(_scrypt(passphrase, salt)).decrypt(nonce, sealed, _GOST_PEM.encode()))
    except InvalidTag:
        raise WrongPassphrase("the CA key cannot be decrypted with this passphrase") from None
    spki = gost.elements(gost.elements(certificate.public_bytes(serialization.Encoding.DER))[0])[6]
    if gost.public_key(spki) != key.public:
        raise ValueError("the CA key does not belong to the CA certificate")
    return CertificateAuthority(key, certificate)
