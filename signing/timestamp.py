"""RFC 3161 time-stamps over a signature value: what turns a CAdES-BES signature into CAdES-T.

The message imprint is the hash of the SignerInfo's signature value (ETSI EN 319 122-1, the
signature-time-stamp): SHA-256 for an ECDSA signature, Streebog-256 for a GOST one. A TSA that does
not know Streebog answers "bad algorithm"; then the request is made again with SHA-256, which every
TSA accepts and which binds the token to the signature just as well (it is the token's own hash, not
the signature's). The answer is checked before it is kept: status, imprint, nonce, the TSA's
signature and its certificate (extended key usage timeStamping, critical) up to a configured trust
anchor (TSA_CA_FILE), at the token's genTime.
"""

from __future__ import annotations

import hashlib
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import tsp as asn1_tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from signing import gost

SHA256 = "sha256"
STREEBOG_256 = gost.STREEBOG_256
# Imprint hashes we ask for and accept, as asn1crypto names them.
IMPRINT_HASHES = {
    SHA256: lambda data: hashlib.sha256(data).digest(),
    STREEBOG_256: lambda data: gost.streebog(data, 256),
}
# Hashes a TSA may sign its token's attributes with.
_SIGNER_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_ESS_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
CONTENT_TYPE = "application/timestamp-query"


class _TimeStampResp(asn1_core.Sequence):
    """RFC 3161 TimeStampResp; asn1crypto's requires the token, which a refusal leaves out."""

    _fields = [("status", asn1_tsp.PKIStatusInfo), ("time_stamp_token", asn1_cms.ContentInfo, {"optional": True})]


class TimestampError(Exception):
    """No usable token: the TSA could not be reached, refused, or answered something we must not keep.

    `transient` tells a TSA that is down or slow (try again later) from a bad answer (a wrong imprint
    or nonce, an untrusted certificate), which is logged loudly but retried just the same."""

    def __init__(self, detail: str, *, transient: bool = False, bad_algorithm: bool = False) -> None:
        super().__init__(detail)
        self.detail, self.transient, self.bad_algorithm = detail, transient, bad_algorithm


@dataclass(frozen=True)
class Token:
    """A checked time-stamp token (DER ContentInfo) and what it says."""

    der: bytes
    gen_time: datetime
    hash_algorithm: str  # "sha256" or the Streebog-256 OID
    serial: int
    tsa: x509.Certificate


def imprint_algorithms(gost_signature: bool) -> tuple[str, ...]:
    """What to ask for, in order: Streebog-256 first for a GOST signature, SHA-256 otherwise (or after)."""
    return (STREEBOG_256, SHA256) if gost_signature else (SHA256,)


def imprint(algorithm: str, signature_value: bytes) -> bytes:
    return IMPRINT_HASHES[algorithm](signature_value)


def load_tsa_anchors(path: str | Path) -> list[x509.Certificate]:
    """The TSA trust anchors (and any intermediates) of a PEM file."""
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as error:
        raise ValueError(f"TSA_CA_FILE {path} holds no readable PEM certificate: {error}") from None


def request_der(algorithm: str, digest: bytes, nonce: int) -> bytes:
    """A TimeStampReq asking for the TSA's certificate in the token."""
    return asn1_tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
        "nonce": nonce,
        "cert_req": True,
    }).dump()


def _post(url: str, body: bytes, timeout: float) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": CONTENT_TYPE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the operator's TSA_URL
            return answer.read(1_000_000)
    except urllib.error.HTTPError as error:
        raise TimestampError(f"the TSA answered HTTP {error.code}", transient=True) from None
    except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
        reason = getattr(error, "reason", error)
        raise TimestampError(f"the TSA could not be reached: {reason}", transient=True) from None


def fetch(url: str, signature_value: bytes, trusted: Sequence[x509.Certificate], *, gost_signature: bool,
          timeout: float) -> Token:
    """Ask the TSA for a token over the signature value, and check the answer."""
    last: TimestampError | None = None
    for algorithm in imprint_algorithms(gost_signature):
        digest, nonce = imprint(algorithm, signature_value), secrets.randbits(63)
        try:
            return check_response(_post(url, request_der(algorithm, digest, nonce), timeout), algorithm, digest,
                                  nonce, trusted)
        except TimestampError as error:
            if not error.bad_algorithm:
                raise
            last = error  # this TSA does not do Streebog: ask again with SHA-256
    raise last


def check_response(response_der: bytes, algorithm: str, digest: bytes, nonce: int,
                   trusted: Sequence[x509.Certificate]) -> Token:
    """The token of a TimeStampResp, if granted and answering exactly our request."""
    try:
        response = _TimeStampResp.load(response_der, strict=True)
        status = response["status"]
        granted = status["status"].native in ("granted", "granted_with_mods")
        failure = status["fail_info"].native if not granted and status["fail_info"].native else set()
        token = response["time_stamp_token"]
        token_der = None if isinstance(token, asn1_core.Void) else token.dump()
    except (ValueError, TypeError, KeyError) as error:
        raise TimestampError(f"the TSA's answer is not a TimeStampResp ({type(error).__name__})") from None
    if not granted:
        text = ", ".join(sorted(failure)) or status["status"].native
        raise TimestampError(f"the TSA refused the request: {text}", transient=True,
                             bad_algorithm="bad_alg" in failure)
    if token_der is None:
        raise TimestampError("the TSA granted the request but sent no token")
    return check_token(token_der, None, trusted, expected=(algorithm, digest), nonce=nonce)


def check_token(token_der: bytes, signature_value: bytes | None, trusted: Sequence[x509.Certificate], *,
                expected: tuple[str, bytes] | None = None, nonce: int | None = None) -> Token:
    """Check a TimeStampToken: over `signature_value` (or the `expected` imprint), signed by a TSA whose
    certificate chains to `trusted` and was valid at genTime. Raises TimestampError."""
    try:
        info = asn1_cms.ContentInfo.load(token_der, strict=True)
        if info["content_type"].native != "signed_data":
            raise TimestampError("the token is not a CMS SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TimestampError("the token does not hold a TSTInfo")
        tst_der = encap["content"].contents
        tst = asn1_tsp.TSTInfo.load(tst_der)
        algorithm = tst["message_imprint"]["hash_algorithm"]["algorithm"].native
        hashed = tst["message_imprint"]["hashed_message"].native
        gen_time = tst["gen_time"].native
        token_nonce = tst["nonce"].native
        serial = tst["serial_number"].native
        if len(signed["signer_infos"]) != 1:
            raise TimestampError("the token must have exactly one signer")
        signer_info = signed["signer_infos"][0]
        included = signed["certificates"]
        certificates = [] if isinstance(included, asn1_core.Void) else [
            x509.load_der_x509_certificate(c.chosen.dump()) for c in included if c.name == "certificate"]
        tsa = _tsa_certificate(signer_info, [*certificates, *trusted])
        _check_signer_info(signer_info, tst_der, tsa)
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise TimestampError(f"the token cannot be read ({type(error).__name__})") from None
    if expected is None:
        if algorithm not in IMPRINT_HASHES:
            raise TimestampError(f"the token's imprint hash {algorithm} is neither SHA-256 nor Streebog-256")
        expected = (algorithm, imprint(algorithm, signature_value))
    if (algorithm, hashed) != expected:
        raise TimestampError("the token's message imprint is not the hash of this signature")
    if nonce is not None and token_nonce != nonce:
        raise TimestampError("the token's nonce is not the one we sent")
    _check_tsa_certificate(tsa, certificates, trusted, gen_time)
    return Token(token_der, gen_time, algorithm, serial, tsa)


def _tsa_certificate(signer_info: asn1_cms.SignerInfo, candidates: Sequence[x509.Certificate]) -> x509.Certificate:
    sid = signer_info["sid"]
    for certificate in candidates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (certificate.serial_number == wanted["serial_number"].native
                    and certificate.issuer.public_bytes() == wanted["issuer"].dump()):
                return certificate
        else:
            try:
                ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == sid.chosen.native:
                return certificate
    raise TimestampError("the TSA's certificate is neither in the token nor in TSA_CA_FILE")


def _check_signer_info(signer_info: asn1_cms.SignerInfo, tst_der: bytes, tsa: x509.Certificate) -> None:
    """The TSA's key signed attributes that name the TSTInfo's hash and the TSA's certificate."""
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _SIGNER_HASHES:
        raise TimestampError(f"the token is signed with an unsupported hash {digest_name}")
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, asn1_core.Void):
        raise TimestampError("the token has no signed attributes")
    # Taken before any attribute is read: reading one can make asn1crypto encode them all again (slowly).
    signed = b"\x31" + attrs.dump()[1:]  # signed as a universal SET OF, not the [0] it is tagged with
    values = {attr["type"].native: attr["values"] for attr in attrs}
    if values.get("content_type") is None or values["content_type"][0].native != "tst_info":
        raise TimestampError("the token's content-type attribute is not TSTInfo")
    if values.get("message_digest") is None or values["message_digest"][0].native != hashlib.new(
            digest_name, tst_der).digest():
        raise TimestampError("the token's message digest does not match its TSTInfo")
    tsa_der = tsa.public_bytes(serialization.Encoding.DER)
    if "signing_certificate_v2" in values:
        ess = values["signing_certificate_v2"][0]["certs"][0]
        name = ess["hash_algorithm"]["algorithm"].native
    elif "signing_certificate" in values:
        ess, name = values["signing_certificate"][0]["certs"][0], "sha1"
    else:
        raise TimestampError("the token does not name the TSA's certificate (ESS signing-certificate)")
    if name not in _ESS_HASHES or ess["cert_hash"].native != _ESS_HASHES[name](tsa_der).digest():
        raise TimestampError("the token names another certificate than the TSA's")
    _verify_signature(tsa, signer_info["signature_algorithm"], signer_info["signature"].native, signed,
                      _SIGNER_HASHES[digest_name]())


def _verify_signature(certificate: x509.Certificate, algorithm: asn1_algos.SignedDigestAlgorithm,
                      signature: bytes, data: bytes, digest: hashes.HashAlgorithm) -> None:
    try:
        key = certificate.public_key()
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest))
        elif isinstance(key, rsa.RSAPublicKey):
            scheme = (padding.PSS(padding.MGF1(digest), padding.PSS.AUTO)
                      if algorithm["algorithm"].native == "rsassa_pss" else padding.PKCS1v15())
            key.verify(signature, data, scheme, digest)
        else:
            raise TimestampError("the TSA's key is neither EC nor RSA")
    except InvalidSignature:
        raise TimestampError("the TSA's signature on the token does not verify") from None
    except UnsupportedAlgorithm:
        raise TimestampError("the TSA's key is neither EC nor RSA") from None


def _check_tsa_certificate(tsa: x509.Certificate, extra: Sequence[x509.Certificate],
                           trusted: Sequence[x509.Certificate], at: datetime) -> None:
    """A certificate for time-stamping only (RFC 3161 2.3), valid at genTime, issued under a trust anchor."""
    try:
        eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise TimestampError("the TSA's certificate has no extended key usage timeStamping") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise TimestampError("the TSA's certificate is not for time-stamping only (critical timeStamping usage)")
    anchors = {c.fingerprint(hashes.SHA256()) for c in trusted}
    current, path = tsa, [tsa]
    for _ in range(5):
        if current.fingerprint(hashes.SHA256()) in anchors:
            break
        issuer = next((c for c in [*trusted, *extra] if c.subject == current.issuer and c != current
                       and _issued_by(current, c)), None)
        if issuer is None:
            raise TimestampError(f"the TSA's certificate does not chain to a trusted TSA CA "
                                 f"({current.issuer.rfc4514_string()})")
        current = issuer
        path.append(current)
    else:
        raise TimestampError("the TSA's certificate chain is too long")
    if current.fingerprint(hashes.SHA256()) not in anchors:
        raise TimestampError("the TSA's certificate does not chain to a trusted TSA CA")
    for certificate in path:
        if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
            raise TimestampError(f"{certificate.subject.rfc4514_string()} was not valid at the time-stamp's "
                                 f"{at:%Y-%m-%dT%H:%M:%SZ}")


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


@dataclass(frozen=True)
class TokenInfo:
    """What a token says, read without checking it (for instructions and display)."""

    gen_time: datetime
    hash_algorithm: str
    hashed_message: bytes


def token_info(token_der: bytes) -> TokenInfo:
    """The genTime and imprint of a token (ValueError if it cannot be read)."""
    try:
        tst = asn1_tsp.TSTInfo.load(asn1_cms.ContentInfo.load(token_der)["content"]["encap_content_info"]["content"]
                                    .contents)
        imprint_ = tst["message_imprint"]
        return TokenInfo(tst["gen_time"].native, imprint_["hash_algorithm"]["algorithm"].native,
                         imprint_["hashed_message"].native)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ValueError(f"not a readable time-stamp token ({type(error).__name__})") from None
