"""Detached CMS (CAdES-BES style) signatures made in two halves: the server builds and checks, the device signs.

The server computes ``signed_attributes`` (the DER SET OF attributes, which is what the device's key
signs with ECDSA-SHA256), the device returns a DER ECDSA signature, and ``assemble`` wraps both into a
``.p7s`` that ``openssl cms -verify`` accepts. ``verify`` checks one such file against its content.
A GOST R 34.10-2012 signer hashes with Streebog instead (content, certificate and attributes alike): its
device signs the Streebog hash of the attributes (``to_be_signed``) and returns s then r, as GOST tools do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import tsp as asn1_tsp  # importing it also registers the signing-certificate-v2 attribute
from asn1crypto import x509 as asn1_x509
from asn1crypto.core import Void
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from signing import gost, timestamp

# The serial number of a revoked certificate maps to the moment of its revocation.
Revocations = Mapping[int, datetime] | Callable[[int], datetime | None]


class Reason(StrEnum):
    """Why a signature is valid or not; the values are stable machine codes."""

    OK = "ok"
    DIGEST_MISMATCH = "digest_mismatch"
    BAD_SIGNATURE = "bad_signature"
    UNTRUSTED_ISSUER = "untrusted_issuer"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_REVOKED = "certificate_revoked"
    WRONG_KEY_USAGE = "wrong_key_usage"
    MALFORMED = "malformed"
    BAD_TIMESTAMP = "bad_timestamp"
    REVOCATION_UNKNOWN = "revocation_unknown"  # an external CA's CRL could not be had (signing/revocation.py)


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying one signature: valid, a reason code, and what was learnt on the way."""

    valid: bool
    reason: Reason
    detail: str
    signer: x509.Certificate | None = None
    signing_time: datetime | None = None
    note: str | None = None
    timestamped_at: datetime | None = None  # the genTime of a checked signature time-stamp (CAdES-T)


class _Refused(Exception):
    """Internal: stops verification with a reason."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    """The asn1crypto view of a cryptography certificate."""
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _signing_time_value(moment: datetime) -> asn1_cms.Time:
    """RFC 5652: UTCTime up to 2049, GeneralizedTime after."""
    moment = moment.astimezone(timezone.utc).replace(microsecond=0)
    choice = "utc_time" if 1950 <= moment.year < 2050 else "generalized_time"
    return asn1_cms.Time({choice: moment})


def gost_key(certificate: x509.Certificate) -> gost.GostKey | None:
    """The certificate's GOST R 34.10-2012 key, or None for any other key."""
    try:
        certificate.public_key()
        return None
    except UnsupportedAlgorithm:
        pass
    spki = gost.elements(gost.elements(certificate.public_bytes(serialization.Encoding.DER))[0])[6]
    try:
        return gost.public_key(spki)
    except gost.NotGost:
        return None


def _hash(key: gost.GostKey | None, data: bytes) -> bytes:
    """SHA-256 for a P-256 signer, Streebog as wide as the key for a GOST one."""
    return hashlib.sha256(data).digest() if key is None else key.hash(data)


def algorithm(certificate: x509.Certificate) -> str:
    """What a signing session tells the device to sign with."""
    key = gost_key(certificate)
    return "ecdsa-with-SHA256" if key is None else key.algorithm


def to_be_signed(signed_attrs_der: bytes, certificate: x509.Certificate) -> bytes:
    """What the device's key signs: the attributes themselves for ECDSA (the keystore hashes them), their
    Streebog hash for GOST, which is what GOST tools sign (`openssl pkeyutl -sign`, CryptSignHash)."""
    key = gost_key(certificate)
    return signed_attrs_der if key is None else key.hash(signed_attrs_der)


# CAdES signer-attributes (RFC 5126 5.11.3, id-aa-ets-signerAttr): the role a signer claims; a deputy's claim is
# the title (X.520 id-at-title) "acting for <principal>".
SIGNER_ATTRIBUTES = "1.2.840.113549.1.9.16.2.18"
_TITLE = "2.5.4.12"


class _Titles(asn1_core.SetOf):
    _child_spec = asn1_core.UTF8String


class _ClaimedAttribute(asn1_core.Sequence):
    _fields = [("type", asn1_core.ObjectIdentifier), ("values", _Titles)]


class _ClaimedAttributes(asn1_core.SequenceOf):
    _child_spec = _ClaimedAttribute


class _SignerAttributeChoice(asn1_core.Choice):
    _alternatives = [("claimed_attributes", _ClaimedAttributes, {"implicit": 0})]


class _SignerAttribute(asn1_core.SequenceOf):
    """SignerAttribute ::= SEQUENCE OF CHOICE { claimedAttributes [0] ClaimedAttributes, ... } (implicit tags)."""

    _child_spec = _SignerAttributeChoice


def claimed_role(p7s: bytes) -> str | None:
    """The title a signature's signed signer-attributes claim (a deputy's "acting for ..."), or None."""
    for attribute in _signer_info(p7s)["signed_attrs"]:
        if attribute["type"].dotted == SIGNER_ATTRIBUTES:
            for choice in _SignerAttribute.load(attribute["values"][0].dump()):
                for claimed in choice.chosen:
                    if claimed["type"].dotted == _TITLE:
                        return claimed["values"][0].native
    return None


def signed_attributes(content: bytes, certificate: x509.Certificate, signing_time: datetime,
                      claimed_role: str | None = None) -> bytes:
    """DER of the SET OF signed attributes over the content: the exact bytes the device signs; with a deputy's
    claimed role ("acting for ...") as a CAdES signer-attributes attribute when given."""
    if signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    cert = _asn1_certificate(certificate)
    key = gost_key(certificate)
    ess_cert_id = asn1_tsp.ESSCertIDv2(
        {
            "cert_hash": _hash(key, cert.dump()),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                "serial_number": cert.serial_number,
            },
        }
    )
    if key is not None:
        # SHA-256 is the DEFAULT, left out by DER; Streebog must be named.
        ess_cert_id["hash_algorithm"] = {"algorithm": key.digest_oid}
    attributes = asn1_cms.CMSAttributes(
        [
            asn1_cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            asn1_cms.CMSAttribute({"type": "signing_time", "values": [_signing_time_value(signing_time)]}),
            asn1_cms.CMSAttribute({"type": "message_digest", "values": [_hash(key, content)]}),
            asn1_cms.CMSAttribute(
                {"type": "signing_certificate_v2", "values": [asn1_tsp.SigningCertificateV2({"certs": [ess_cert_id]})]}
            ),
        ]
    )
    if claimed_role:
        claim = _SignerAttribute([_SignerAttributeChoice(
            name="claimed_attributes", value=_ClaimedAttributes([{"type": _TITLE, "values": [claimed_role]}]))])
        attributes.append(asn1_cms.CMSAttribute({"type": SIGNER_ATTRIBUTES,
                                                 "values": [asn1_core.Any.load(claim.dump())]}))
    return attributes.dump(force=True)  # a SET OF is DER only once sorted; dump sorts it


def assemble(
    signed_attrs_der: bytes,
    signature_der: bytes,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """A detached CMS SignedData (.p7s, DER) from the signed attributes, the device's signature and certificates."""
    cert = _asn1_certificate(certificate)
    key = gost_key(certificate)
    digest_algorithm, signature_algorithm = ("sha256", "sha256_ecdsa") if key is None else (
        key.digest_oid, key.key_oid)  # GOST tools name the key's algorithm as the signature's
    signer_info = asn1_cms.SignerInfo(
        {
            "version": "v1",
            "sid": asn1_cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": cert.issuer,
                        "serial_number": cert.serial_number,
                    }
                }
            ),
            "digest_algorithm": {"algorithm": digest_algorithm},
            "signed_attrs": asn1_cms.CMSAttributes.load(signed_attrs_der),
            "signature_algorithm": {"algorithm": signature_algorithm},
            "signature": signature_der,
        }
    )
    signed_data = asn1_cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": digest_algorithm}],
            "encap_content_info": {"content_type": "data"},  # detached: no content inside
            "certificates": [cert, *(_asn1_certificate(extra) for extra in chain)],
            "signer_infos": [signer_info],
        }
    )
    return asn1_cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


# (digest, signature) algorithm pairs a signer info may name, as asn1crypto spells them.
_ALGORITHMS = {
    ("sha256", "sha256_ecdsa"),
    ("sha256", "ecdsa"),
    (gost.STREEBOG_256, gost.KEY_256),
    (gost.STREEBOG_256, gost.SIGN_WITH_256),
    (gost.STREEBOG_512, gost.KEY_512),
    (gost.STREEBOG_512, gost.SIGN_WITH_512),
}


@dataclass(frozen=True)
class _Parsed:
    """The parts of a .p7s that verification looks at."""

    signature: bytes
    signed_attrs_der: bytes
    certificate: x509.Certificate
    certificate_der: bytes
    message_digest: bytes
    signing_time: datetime
    ess_cert_hash: bytes
    digest_algorithm: str  # "sha256", or a Streebog OID
    ess_hash_algorithm: str
    signature_algorithm: str


def _single_attribute(attrs: asn1_cms.CMSAttributes, name: str) -> object:
    """The one value of a signed attribute that must occur exactly once."""
    found = [attr["values"] for attr in attrs if attr["type"].native == name]
    if len(found) != 1 or len(found[0]) != 1:
        raise _Refused(Reason.MALFORMED, f"the {name} signed attribute must occur exactly once")
    return found[0][0]


def _parse(p7s: bytes) -> _Parsed:
    """Take a .p7s apart, refusing anything that is not one SHA-256 ECDSA signer with our attributes."""
    try:
        info = asn1_cms.ContentInfo.load(p7s, strict=True)
        if info["content_type"].native != "signed_data":
            raise _Refused(Reason.MALFORMED, "not a CMS SignedData")
        signed_data = info["content"]
        if signed_data["encap_content_info"]["content_type"].native != "data":
            raise _Refused(Reason.MALFORMED, "the signed content type is not id-data")
        if signed_data["encap_content_info"]["content"].native is not None:
            raise _Refused(Reason.MALFORMED, "the signature is not detached")
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise _Refused(Reason.MALFORMED, f"expected one signer, found {len(signer_infos)}")
        signer_info = signer_infos[0]
        digest_algorithm = signer_info["digest_algorithm"]["algorithm"].native
        signature_algorithm = signer_info["signature_algorithm"]["algorithm"].native
        if (digest_algorithm, signature_algorithm) not in _ALGORITHMS:
            raise _Refused(Reason.MALFORMED, "the algorithms are neither ECDSA with SHA-256 nor GOST R 34.10-2012 "
                                             "with GOST R 34.11-2012")
        attrs = signer_info["signed_attrs"]
        if not attrs:
            raise _Refused(Reason.MALFORMED, "there are no signed attributes")
        # The signature covers the attributes as a universal SET OF, not as the [0] they are tagged with here.
        encoded = attrs.dump()
        signed_attrs_der = b"\x31" + encoded[1:]
        if _single_attribute(attrs, "content_type").native != "data":
            raise _Refused(Reason.MALFORMED, "the content-type attribute is not id-data")
        message_digest = _single_attribute(attrs, "message_digest").native
        signing_time = _single_attribute(attrs, "signing_time").native
        ess = _single_attribute(attrs, "signing_certificate_v2")
        ess_id = ess["certs"][0]
        ess_hash_algorithm = ess_id["hash_algorithm"]["algorithm"].native
        if ess_hash_algorithm != digest_algorithm:
            raise _Refused(Reason.MALFORMED, "the signing-certificate-v2 hash is not the signature's digest")
        sid = signer_info["sid"]
        if sid.name != "issuer_and_serial_number":
            raise _Refused(Reason.MALFORMED, "the signer is not identified by issuer and serial number")
        wanted = sid.chosen
        certificates = signed_data["certificates"]
        for candidate in [] if isinstance(certificates, Void) else certificates:
            if candidate.name != "certificate":
                continue
            cert = candidate.chosen
            if cert.issuer == wanted["issuer"] and cert.serial_number == wanted["serial_number"].native:
                certificate_der = cert.dump()
                break
        else:
            raise _Refused(Reason.MALFORMED, "the signer's certificate is not in the signature")
        return _Parsed(
            signature=signer_info["signature"].native,
            signed_attrs_der=signed_attrs_der,
            certificate=x509.load_der_x509_certificate(certificate_der),
            certificate_der=certificate_der,
            message_digest=message_digest,
            signing_time=signing_time,
            ess_cert_hash=ess_id["cert_hash"].native,
            digest_algorithm=digest_algorithm,
            ess_hash_algorithm=ess_hash_algorithm,
            signature_algorithm=signature_algorithm,
        )
    except _Refused:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        # asn1crypto parses lazily, so broken DER surfaces as any of these on first access.
        raise _Refused(Reason.MALFORMED, f"not a readable CMS signature ({type(error).__name__})") from None


def signing_time(p7s: bytes) -> datetime:
    """The signing-time attribute of a .p7s (ValueError if it cannot be read)."""
    try:
        return _parse(p7s).signing_time
    except _Refused as refused:
        raise ValueError(refused.detail) from None


def _signer_info(p7s: bytes) -> asn1_cms.SignerInfo:
    try:
        return asn1_cms.ContentInfo.load(p7s)["content"]["signer_infos"][0]
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise ValueError(f"not a readable CMS signature ({type(error).__name__})") from None


def signature_value(p7s: bytes) -> bytes:
    """The SignerInfo's signature value: what a signature time-stamp's imprint hashes."""
    return _signer_info(p7s)["signature"].native


def timestamp_token(p7s: bytes) -> bytes | None:
    """The DER TimeStampToken in the unsigned attribute id-aa-signatureTimeStampToken, if any."""
    unsigned = _signer_info(p7s)["unsigned_attrs"]
    if isinstance(unsigned, Void):
        return None
    for attr in unsigned:
        if attr["type"].native == "signature_time_stamp_token":
            return attr["values"][0].dump()
    return None


def with_timestamp(p7s: bytes, token_der: bytes) -> bytes:
    """The .p7s with the token added as its unsigned attribute id-aa-signatureTimeStampToken (CAdES-T).

    The signed attributes and the signature stay byte for byte: only the SignerInfo gains [1]."""
    info = asn1_cms.ContentInfo.load(p7s)
    signer_info = info["content"]["signer_infos"][0]
    if timestamp_token(p7s) is not None:
        raise ValueError("the signature already carries a time-stamp")
    signer_info["unsigned_attrs"] = asn1_cms.CMSAttributes([asn1_cms.CMSAttribute({
        "type": "signature_time_stamp_token", "values": [asn1_cms.ContentInfo.load(token_der)]})])
    return info.dump()


def _signed_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether the CA's key signed the certificate (ECDSA P-256 or GOST R 34.10-2012 with Streebog)."""
    try:
        ca_key = gost_key(ca)
        if ca_key is None:
            certificate.verify_directly_issued_by(ca)
            return True
        tbs, algorithm, signature = gost.elements(certificate.public_bytes(serialization.Encoding.DER))
        if gost.algorithm_oid(algorithm) != (gost.SIGN_WITH_256 if ca_key.bits == 256 else gost.SIGN_WITH_512):
            return False
        return ca_key.verify(asn1_core.OctetBitString.load(signature).native, ca_key.hash(tbs))
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


def _issuer(certificate: x509.Certificate, trusted: Sequence[x509.Certificate]) -> x509.Certificate:
    """The trusted CA that signed the certificate."""
    for ca in trusted:
        if ca.subject != certificate.issuer:
            continue
        if _signed_by(certificate, ca):
            return ca
    raise _Refused(Reason.UNTRUSTED_ISSUER, f"{certificate.issuer.rfc4514_string()} is not a trusted CA")


def _check_signature(parsed: _Parsed) -> None:
    """The device key signed the attributes, and they name this very certificate."""
    try:
        gost_signer = gost_key(parsed.certificate)
    except ValueError:
        raise _Refused(Reason.BAD_SIGNATURE, "the signer's GOST key cannot be read") from None
    if gost_signer is not None:
        if parsed.digest_algorithm != gost_signer.digest_oid:
            raise _Refused(Reason.BAD_SIGNATURE, f"a {gost_signer.bits}-bit GOST key signs with a Streebog hash "
                                                 f"of {gost_signer.bits} bits")
        if not gost_signer.verify(parsed.signature, gost_signer.hash(parsed.signed_attrs_der)):
            raise _Refused(Reason.BAD_SIGNATURE, "the signature does not verify with the certificate's key")
    else:
        key = parsed.certificate.public_key()
        if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
            raise _Refused(Reason.BAD_SIGNATURE, "the signer's key is neither EC P-256 nor GOST R 34.10-2012")
        if parsed.digest_algorithm != "sha256":
            raise _Refused(Reason.BAD_SIGNATURE, "a P-256 key signs with SHA-256")
        try:
            key.verify(parsed.signature, parsed.signed_attrs_der, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise _Refused(Reason.BAD_SIGNATURE, "the signature does not verify with the certificate's key") from None
    # Without this a certificate for the same key could be swapped in (ESS, RFC 5035).
    if parsed.ess_cert_hash != _hash(gost_signer, parsed.certificate_der):
        raise _Refused(Reason.BAD_SIGNATURE, "the signed certificate hash does not match the certificate")


def _check_key_usage(certificate: x509.Certificate) -> None:
    """An end-entity certificate meant for signatures."""
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            raise _Refused(Reason.WRONG_KEY_USAGE, "the certificate's key usage does not allow signatures")
    except x509.ExtensionNotFound:
        raise _Refused(Reason.WRONG_KEY_USAGE, "the certificate has no key usage") from None
    try:
        purposes = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if not {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(purposes):
            raise _Refused(Reason.WRONG_KEY_USAGE, "the certificate's extended key usage excludes document signing")
    except x509.ExtensionNotFound:
        pass  # no EKU means no restriction
    try:
        if certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise _Refused(Reason.WRONG_KEY_USAGE, "a CA certificate cannot sign documents")
    except x509.ExtensionNotFound:
        pass


def _check_validity(certificates: Sequence[x509.Certificate], moment: datetime) -> None:
    """Every certificate on the path was within its validity at the moment of signing."""
    for certificate in certificates:
        if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
            raise _Refused(
                Reason.CERTIFICATE_EXPIRED,
                f"{certificate.subject.rfc4514_string()} was valid from "
                f"{certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}"
                f" to {certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, not at {moment:%Y-%m-%dT%H:%M:%SZ}",
            )


def verify(
    p7s: bytes,
    content: bytes,
    trusted_ca_certs: Sequence[x509.Certificate],
    revoked: Revocations,
    at: datetime | None = None,
    tsa_trusted: Sequence[x509.Certificate] | None = None,
) -> Verification:
    """Verify a detached signature over content.

    ``at`` is a trusted time of signing (e.g. when the server received the signature); without it the
    signed signing-time attribute is used. A signature time-stamp (CAdES-T) whose TSA chains to
    ``tsa_trusted`` outranks both: its genTime is the moment. Validity and revocation are judged at
    that moment, so a signature made before its key was revoked stays valid.
    """
    if at is not None and at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    signer: x509.Certificate | None = None
    claimed: datetime | None = None
    stamped: datetime | None = None
    notes: list[str] = []
    try:
        parsed = _parse(p7s)
        signer, claimed = parsed.certificate, parsed.signing_time
        moment = (at or claimed).astimezone(timezone.utc)
        ca = _issuer(signer, trusted_ca_certs)
        _check_signature(parsed)
        stamped = _time_stamp(p7s, parsed, tsa_trusted, notes)
        moment = (stamped or moment).astimezone(timezone.utc)
        if parsed.message_digest != _hash(gost_key(signer), content):
            raise _Refused(Reason.DIGEST_MISMATCH, "the content is not what was signed")
        _check_key_usage(signer)
        _check_validity([signer, ca], moment)
        lookup = revoked.get if isinstance(revoked, Mapping) else revoked
        revoked_at = lookup(signer.serial_number)
        when = "time-stamped" if stamped else "made"
        if revoked_at is not None:
            if revoked_at <= moment:
                # A token attached late (the TSA was down) proves nothing earlier, whatever the server's clock says.
                earlier = (f"; the server's clock says it arrived at {at:%Y-%m-%dT%H:%M:%SZ}, which the time-stamp "
                           f"does not prove" if stamped and at is not None and at < revoked_at else "")
                raise _Refused(
                    Reason.CERTIFICATE_REVOKED,
                    f"the certificate was revoked at {revoked_at:%Y-%m-%dT%H:%M:%SZ}, before this signature was "
                    f"{when} ({moment:%Y-%m-%dT%H:%M:%SZ}){earlier}",
                )
            notes.append(f"the certificate was revoked at {revoked_at:%Y-%m-%dT%H:%M:%SZ}, after this signature "
                         f"was {when} ({moment:%Y-%m-%dT%H:%M:%SZ})")
    except _Refused as refused:
        return Verification(False, refused.reason, refused.detail, signer, claimed, "; ".join(notes) or None,
                            stamped)
    return Verification(True, Reason.OK, "the signature is valid", signer, claimed, "; ".join(notes) or None,
                        stamped)


def _time_stamp(p7s: bytes, parsed: _Parsed, tsa_trusted: Sequence[x509.Certificate] | None,
                notes: list[str]) -> datetime | None:
    """The genTime of the signature's time-stamp token, checked; None without a token (or without TSA
    trust anchors to check it by, which a note says)."""
    token = timestamp_token(p7s)
    if token is None:
        return None
    if not tsa_trusted:
        notes.append("the signature carries a time-stamp, but no TSA trust anchor is configured to check it; "
                     "judged at the time the server received it")
        return None
    try:
        return timestamp.check_token(token, parsed.signature, tsa_trusted).gen_time
    except timestamp.TimestampError as error:
        raise _Refused(Reason.BAD_TIMESTAMP, f"the signature's time-stamp is not acceptable: {error.detail}") \
            from None
