"""Certificates a signer already has from an external CA: the trust anchors (TRUST_ANCHORS), the chain from a
certificate up to one of them, what a signing certificate must allow, and the device's proof that it holds
the certificate's key (a signature over a challenge the server gave, P-256 or GOST R 34.10-2012).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import gost
from signing.revocation import signed_by

CHALLENGE_TTL = timedelta(minutes=5)
MAX_CHAIN = 6


class TrustError(ValueError):
    """A refused external certificate, with a stable machine code and a reason a person can read."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


def load_trust_anchors(path: str | os.PathLike | None) -> list[x509.Certificate]:
    """The CA certificates of a PEM file, or of every .pem/.crt/.cer file of a directory (none for None)."""
    if not path:
        return []
    where = Path(path)
    files = sorted(p for p in where.iterdir() if p.suffix in (".pem", ".crt", ".cer")) if where.is_dir() else [where]
    anchors: list[x509.Certificate] = []
    for file in files:
        anchors.extend(x509.load_pem_x509_certificates(file.read_bytes()))
    return anchors


def load_chain(pem: str | bytes) -> list[x509.Certificate]:
    """The certificates of a PEM text, the signer's first; TrustError when there are none or they cannot be read."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TrustError("certificate_malformed", "not a PEM certificate: send the signer's certificate (and any "
                                                  "intermediate CA certificates after it) between -----BEGIN "
                                                  "CERTIFICATE----- and -----END CERTIFICATE----- lines") from None
    if len(certificates) > MAX_CHAIN:
        raise TrustError("certificate_malformed", f"at most {MAX_CHAIN} certificates, the signer's first")
    return certificates


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        if not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except x509.ExtensionNotFound:
        return False
    try:
        return certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _valid_at(certificate: x509.Certificate, moment: datetime) -> bool:
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


def _when(certificate: x509.Certificate) -> str:
    return (f"{certificate.subject.rfc4514_string()} is valid from {certificate.not_valid_before_utc:%Y-%m-%d} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d}")


def chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate],
          at: datetime) -> list[x509.Certificate]:
    """The path from the certificate up to a trust anchor (both included), every certificate on it valid at
    `at`, each signed by the next, the CAs marked as CAs; TrustError otherwise."""
    path = [leaf]
    anchor_ders = {_der(anchor) for anchor in anchors}
    while _der(path[-1]) not in anchor_ders:
        current = path[-1]
        if len(path) > MAX_CHAIN:
            raise TrustError("untrusted_issuer", "the chain is longer than allowed")
        issuer = next((candidate for candidate in [*anchors, *intermediates]
                       if candidate.subject == current.issuer and _is_ca(candidate)
                       and candidate not in path and signed_by(_der(current), candidate)), None)
        if issuer is None:
            raise TrustError("untrusted_issuer", f"{current.issuer.rfc4514_string()} is not a trusted CA and no "
                                                 "certificate sent leads from it to one")
        path.append(issuer)
    for certificate in path:
        if not _valid_at(certificate, at):
            raise TrustError("certificate_expired", f"{_when(certificate)}, not at {at:%Y-%m-%dT%H:%M:%SZ}")
    return path


def gost_key(certificate: x509.Certificate) -> gost.GostKey | None:
    """The certificate's GOST key, None for any other."""
    try:
        certificate.public_key()
        return None
    except UnsupportedAlgorithm:
        spki = gost.elements(gost.elements(_der(certificate))[0])[6]
        try:
            return gost.public_key(spki)
        except (gost.NotGost, gost.UnknownParameterSet, ValueError):
            return None


def check_signing_certificate(certificate: x509.Certificate) -> None:
    """A certificate for a person's signatures: not a CA, digitalSignature or nonRepudiation, a P-256 or GOST
    key, and an extended key usage (if any) that admits S/MIME (what OpenSSL's CMS verification asks)."""
    if _is_ca(certificate):
        raise TrustError("wrong_key_usage", "a CA certificate cannot sign documents")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise TrustError("wrong_key_usage", "the certificate has no key usage: digitalSignature or "
                                            "nonRepudiation is required") from None
    if not (usage.digital_signature or usage.content_commitment):
        raise TrustError("wrong_key_usage", "the certificate's key usage allows neither digitalSignature nor "
                                            "nonRepudiation")
    try:
        purposes = set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        if not {x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} \
                & purposes:
            raise TrustError("wrong_key_usage", "the certificate's extended key usage excludes document signing")
    except x509.ExtensionNotFound:
        pass
    if gost_key(certificate) is None:
        try:
            key = certificate.public_key()
        except UnsupportedAlgorithm:
            key = None
        if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
            raise TrustError("csr_unsupported_key", "only EC P-256 (secp256r1) and GOST R 34.10-2012 keys are "
                                                    "accepted")


@dataclass(frozen=True)
class Challenge:
    """What a device signs to prove it holds a key: the exact bytes, and until when they are accepted."""

    data: bytes
    expires_at: datetime


def _mac(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, b"key-proof\0" + body, hashlib.sha256).hexdigest()


def challenge(secret: bytes, user_id: str, now: datetime | None = None, ttl: timedelta = CHALLENGE_TTL) -> Challenge:
    """A fresh challenge for the user, sealed with the server's secret (nothing is stored)."""
    now = now or datetime.now(timezone.utc)
    expires_at = (now + ttl).replace(microsecond=0)
    body = json.dumps({"purpose": "key-proof", "user": user_id, "expires_at": f"{expires_at:%Y-%m-%dT%H:%M:%SZ}",
                       "nonce": secrets.token_hex(16)}, separators=(",", ":"), sort_keys=True).encode()
    sealed = json.dumps({"body": base64.b64encode(body).decode(), "mac": _mac(secret, body)},
                        separators=(",", ":"), sort_keys=True).encode()
    return Challenge(sealed, expires_at)


def check_challenge(secret: bytes, data: bytes, user_id: str, now: datetime | None = None) -> None:
    """The challenge is one this server gave this user and has not expired; TrustError otherwise."""
    now = now or datetime.now(timezone.utc)
    try:
        sealed = json.loads(data)
        body = base64.b64decode(sealed["body"], validate=True)
        good = hmac.compare_digest(sealed["mac"], _mac(secret, body))
        fields = json.loads(body)
        expires_at = datetime.strptime(fields["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except (ValueError, KeyError, TypeError):
        good = False
    if not good or fields.get("purpose") != "key-proof" or fields.get("user") != user_id:
        raise TrustError("challenge_invalid", "the challenge is not one this server gave you: ask for a new one")
    if expires_at <= now:
        raise TrustError("challenge_expired", "the challenge has expired: ask for a new one and sign it at once")


def check_proof(certificate: x509.Certificate, data: bytes, signature: bytes) -> None:
    """The certificate's key signed data: ECDSA-SHA256 (DER) for P-256; for GOST, s then r over the Streebog
    hash of data, as `openssl pkeyutl -sign` gives it. TrustError("proof_invalid") otherwise."""
    key = gost_key(certificate)
    if key is not None:
        good = key.verify(signature, key.hash(data))
    else:
        try:
            public = certificate.public_key()
            public.verify(signature, data, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr]
            good = True
        except (InvalidSignature, ValueError, TypeError, AttributeError):
            good = False
    if not good:
        raise TrustError("proof_invalid", "the signature over the challenge does not verify with the "
                                          "certificate's key: the device does not hold this key")
