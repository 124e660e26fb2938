"""Certificate revocation lists: issue them for a CA (P-256 or GOST), read and check them, fetch them over HTTP,
and say what a CRL tells of a certificate at a moment.

A revocation status is one of three: ``good`` (a CRL current at the moment, signed by the issuer, does not
list the certificate, or lists it revoked only after the moment), ``revoked`` (listed, revoked at or before
the moment) and ``unknown`` (no CRL could be had, or only a stale one, or its signature does not verify).
``unknown`` is never taken as ``good``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from signing import gost
from signing.ca import CertificateAuthority

# How long an issued CRL is current (its nextUpdate) and how long before that a new one is issued.
CRL_VALIDITY = timedelta(days=7)
CRL_REFRESH_BEFORE = timedelta(days=1)
FETCH_TIMEOUT_S = 5.0
MAX_CRL_BYTES = 10 * 1024 * 1024


def distribution_point(url: str) -> x509.CRLDistributionPoints:
    """The certificate extension naming where its issuer's CRL is served."""
    return x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None,
                                                              None)])


def distribution_urls(certificate: x509.Certificate) -> list[str]:
    """The HTTP(S) URLs of the certificate's CRL distribution points."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    urls = []
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith(("http://", "https://")):
                urls.append(name.value)
    return urls


def issue_crl(ca: CertificateAuthority, revoked: Iterable[tuple[int, datetime]], *, number: int,
              this_update: datetime, valid_for: timedelta = CRL_VALIDITY) -> bytes:
    """The DER CRL of the CA listing the (serial, revocation time) pairs, current from this_update."""
    this_update = this_update.astimezone(timezone.utc).replace(microsecond=0)
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca.certificate.subject)
               .last_update(this_update)
               .next_update(this_update + valid_for)
               .add_extension(x509.CRLNumber(number), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False))
    for serial, revoked_at in sorted(revoked):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial)
            .revocation_date(revoked_at.astimezone(timezone.utc).replace(microsecond=0)).build())
    if isinstance(ca.key, ec.EllipticCurvePrivateKey):
        return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    # cryptography cannot sign with a GOST key: build with a stand-in, then sign the TBSCertList again.
    stand_in = builder.sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    tbs = gost.elements(gost.elements(stand_in.public_bytes(serialization.Encoding.DER))[0])
    oid = gost.SIGN_WITH_256 if ca.key.public.bits == 256 else gost.SIGN_WITH_512
    algorithm = core.Sequence(contents=core.ObjectIdentifier(oid).dump()).dump()
    tbs[1] = algorithm  # version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, extensions
    tbs_der = gost.sequence(tbs)
    signature = ca.key.sign(ca.key.public.hash(tbs_der))
    return gost.sequence([tbs_der, algorithm, core.OctetBitString(signature).dump()])


def _gost_key(certificate: x509.Certificate) -> gost.GostKey | None:
    try:
        certificate.public_key()
        return None
    except UnsupportedAlgorithm:
        spki = gost.elements(gost.elements(certificate.public_bytes(serialization.Encoding.DER))[0])[6]
        return gost.public_key(spki)


def signed_by(der: bytes, issuer: x509.Certificate) -> bool:
    """Whether the issuer's key signed this DER certificate or CRL (ECDSA P-256 with SHA-256, or GOST)."""
    try:
        tbs, algorithm, signature = gost.elements(der)
        value = core.OctetBitString.load(signature).native
        key = _gost_key(issuer)
        if key is None:
            public = issuer.public_key()
            if not isinstance(public, ec.EllipticCurvePublicKey):
                return False
            # Certificates and CRLs of an external CA may use another SHA-2 than SHA-256.
            chosen = {"1.2.840.10045.4.3.2": hashes.SHA256(), "1.2.840.10045.4.3.3": hashes.SHA384(),
                      "1.2.840.10045.4.3.4": hashes.SHA512()}.get(gost.algorithm_oid(algorithm))
            if chosen is None:
                return False
            public.verify(value, tbs, ec.ECDSA(chosen))
            return True
        if gost.algorithm_oid(algorithm) != (gost.SIGN_WITH_256 if key.bits == 256 else gost.SIGN_WITH_512):
            return False
        return key.verify(value, key.hash(tbs))
    except (ValueError, TypeError, KeyError, IndexError, InvalidSignature, UnsupportedAlgorithm):
        return False


@dataclass(frozen=True)
class Crl:
    """A parsed CRL: who issued it, when it is current, and the revoked serials with their times."""

    der: bytes
    issuer: x509.Name
    this_update: datetime
    next_update: datetime | None
    number: int | None
    revoked: dict[int, datetime]

    def current_at(self, moment: datetime) -> bool:
        return self.this_update <= moment and (self.next_update is None or moment < self.next_update)


class CrlError(ValueError):
    """Bytes that are not a readable CRL."""


def load_crl(der: bytes) -> Crl:
    """Read a DER (or PEM) CRL; CrlError when it cannot be read."""
    try:
        crl = x509.load_pem_x509_crl(der) if der.lstrip().startswith(b"-----") else x509.load_der_x509_crl(der)
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            number = None
        return Crl(crl.public_bytes(serialization.Encoding.DER), crl.issuer, crl.last_update_utc,
                   crl.next_update_utc, number, {entry.serial_number: entry.revocation_date_utc for entry in crl})
    except (ValueError, TypeError) as error:
        raise CrlError(f"not a readable CRL ({type(error).__name__})") from None


@dataclass(frozen=True)
class Status:
    """What is known of a certificate's revocation at a moment, in English and Russian."""

    state: str  # "good", "revoked", "unknown"
    revoked_at: datetime | None
    en: str
    ru: str


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def unknown(en: str, ru: str) -> Status:
    return Status("unknown", None, f"revocation status unknown: {en}", f"статус отзыва неизвестен: {ru}")


def status(crl: Crl | None, serial: int, moment: datetime, now: datetime | None = None) -> Status:
    """The certificate's status at moment by a CRL current now (the newest knowledge of revocations)."""
    now = now or datetime.now(timezone.utc)
    if crl is None:
        return unknown("no revocation list of the issuer could be obtained",
                       "не удалось получить список отзыва издателя")
    revoked_at = crl.revoked.get(serial)
    if revoked_at is not None and revoked_at <= moment:
        return Status("revoked", revoked_at, f"the certificate was revoked at {_stamp(revoked_at)}, before signing",
                      f"сертификат отозван {_stamp(revoked_at)}, до подписания")
    if not crl.current_at(now):
        return unknown(f"the newest revocation list was current until {_stamp(crl.next_update)}; "
                       "a newer one could not be obtained",
                       f"последний список отзыва действовал до {_stamp(crl.next_update)}; новый получить не удалось")
    if revoked_at is not None:
        return Status("good", revoked_at, f"the certificate was revoked at {_stamp(revoked_at)}, after this "
                                          "signature was made", f"сертификат отозван {_stamp(revoked_at)}, после "
                                                                "подписания")
    return Status("good", None, "not revoked", "не отозван")


class FetchError(Exception):
    """A CRL could not be fetched or is not acceptable, with the reason in English and Russian."""

    def __init__(self, en: str, ru: str) -> None:
        super().__init__(en)
        self.en, self.ru = en, ru


def http_get(url: str, timeout: float = FETCH_TIMEOUT_S) -> bytes:
    """The body of a GET, at most MAX_CRL_BYTES; FetchError on any failure."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) URLs only, checked above
            body = answer.read(MAX_CRL_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise FetchError(f"{url} did not answer ({error})", f"{url} не ответил ({error})") from None
    if len(body) > MAX_CRL_BYTES:
        raise FetchError(f"{url} sent more than {MAX_CRL_BYTES} bytes", f"{url} прислал больше {MAX_CRL_BYTES} байт")
    return body


def fetch(url: str, issuer: x509.Certificate, now: datetime,
          get: Callable[[str], bytes] = http_get) -> Crl:
    """Fetch the CRL at url and accept it only if the issuer signed it and it is already in force."""
    try:
        crl = load_crl(get(url))
    except CrlError as error:
        raise FetchError(f"{url} did not send a CRL ({error})", f"{url} прислал не список отзыва") from None
    if crl.issuer != issuer.subject or not signed_by(crl.der, issuer):
        raise FetchError(f"the CRL from {url} is not signed by {issuer.subject.rfc4514_string()}",
                         f"список отзыва с {url} не подписан издателем {issuer.subject.rfc4514_string()}")
    if crl.this_update > now + timedelta(minutes=5):
        raise FetchError(f"the CRL from {url} is dated in the future", f"список отзыва с {url} датирован будущим")
    return crl
