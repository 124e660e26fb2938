"""Revocation lists: the organization CA's own CRLs (issued, kept, served) and external CAs' CRLs (fetched from
their distribution points, kept, refreshed after nextUpdate).

Every CRL is kept (table revocation_lists). The evidence of a signature carries the CRL that was current at
the signature's time: a signing session makes sure its organization CA has a CRL current at the signing time
(issuing one when the newest is due), and a revocation issues a new one at once, so the newest CRL issued
at or before a signature's time lists exactly the revocations made before it.
"""
import hashlib
from datetime import datetime

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app, g, has_app_context

from models import User, db, utcnow
from models.revocation import RevocationList
from models.signing import SigningKey
from signing import revocation
from signing.revocation import Crl, FetchError, Status


def issuer_id(certificate: x509.Certificate) -> str:
    """How a CA is named in the revocation_lists table: the SHA-256 of its certificate."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _keep(crl: Crl, issuer: x509.Certificate, url: str | None, issued_at: datetime | None = None) -> RevocationList:
    """The CRL kept once, whoever else fetched the same CRL at the same moment; issued_at, when given, is the
    exact moment our CA issued it (its thisUpdate is that moment to the second)."""
    digest = hashlib.sha256(crl.der).hexdigest()
    query = sa.select(RevocationList).where(RevocationList.sha256 == digest)
    row = db.session.scalar(query)
    if row is None:
        try:
            with db.session.begin_nested():
                row = RevocationList(issuer=issuer_id(issuer), url=url, this_update=issued_at or crl.this_update,
                                     next_update=crl.next_update, der=crl.der, sha256=digest)
                db.session.add(row)
        except sa.exc.IntegrityError:  # a twin request kept it first
            row = db.session.scalar(query)
    return row


def _newest(issuer: x509.Certificate, at: datetime | None = None) -> RevocationList | None:
    """The newest kept CRL of the issuer, or the newest issued at or before at."""
    query = sa.select(RevocationList).where(RevocationList.issuer == issuer_id(issuer))
    if at is not None:
        query = query.where(RevocationList.this_update <= at)
    return db.session.scalar(query.order_by(RevocationList.this_update.desc(), RevocationList.id.desc()).limit(1))


def _revoked_keys(organization_id: int, ca: x509.Certificate) -> list[tuple[int, datetime]]:
    """(serial, revocation time) of the organization's revoked keys whose certificate its CA issued."""
    rows = db.session.execute(
        sa.select(SigningKey.serial, SigningKey.revoked_at, SigningKey.certificate_pem)
        .join(User, User.id == SigningKey.user_id)
        .where(User.organization_id == organization_id, SigningKey.revoked_at.is_not(None)))
    return [(int(serial, 16), revoked_at) for serial, revoked_at, pem in rows
            if x509.load_pem_x509_certificate(pem.encode()).issuer == ca.subject]


def issue(organization_id: int, at: datetime | None = None) -> RevocationList:
    """Issue and keep a new CRL of the organization CA, current from at (default now).

    The row keeps the exact moment: a revocation in the same second as a signature's time (a signing time or
    genTime, whole seconds) comes after it, so its CRL is not taken for the one current at that time."""
    from domain.signatures import load_organization_ca  # the CA's key lives with the signature rules

    ca = load_organization_ca(organization_id)
    at = at or utcnow()
    newest = _newest(ca.certificate)
    number = (revocation.load_crl(newest.der).number or 0) + 1 if newest is not None else 1
    der = revocation.issue_crl(ca, _revoked_keys(organization_id, ca.certificate), number=number, this_update=at)
    return _keep(revocation.load_crl(der), ca.certificate, None, issued_at=at)


def current(organization_id: int, at: datetime | None = None) -> RevocationList:
    """The organization CA's CRL current at `at` (default now), issued (and kept) when the newest is due."""
    from domain.signatures import ca_certificate

    at = at or utcnow()
    newest = _newest(ca_certificate(organization_id))
    if newest is None or newest.this_update > at or newest.next_update - revocation.CRL_REFRESH_BEFORE <= at:
        return issue(organization_id, at)
    return newest


def served(organization_id: int) -> bytes:
    """The DER CRL the distribution point serves: the newest kept one while current, else a fresh one (a read
    keeps nothing; the next signing session or revocation keeps a current CRL)."""
    from domain.signatures import ca_certificate, load_organization_ca

    now = utcnow()
    newest = _newest(ca_certificate(organization_id))
    if newest is not None and now < newest.next_update - revocation.CRL_REFRESH_BEFORE:
        return newest.der
    ca = load_organization_ca(organization_id)
    number = (revocation.load_crl(newest.der).number or 0) + 1 if newest is not None else 1
    return revocation.issue_crl(ca, _revoked_keys(organization_id, ca.certificate), number=number,
                                this_update=now)


def as_of(issuer: x509.Certificate, moment: datetime) -> RevocationList | None:
    """The kept CRL of the issuer that was current at moment: the newest issued at or before it."""
    row = _newest(issuer, moment)
    if row is None or (row.next_update is not None and row.next_update <= moment):
        return None
    return row


def newest(issuer: x509.Certificate) -> RevocationList | None:
    """The newest kept CRL of the issuer: the state as it is known now."""
    return _newest(issuer)


def external(certificate: x509.Certificate, issuer: x509.Certificate) -> tuple[Crl | None, FetchError | None]:
    """The issuer's current CRL for an external certificate: the kept one while current, else fetched again from
    the certificate's distribution points (and kept). Returns the best CRL known and why none is current."""
    now = utcnow()
    failed = g.setdefault("crl_failures", {}) if has_app_context() else {}
    if issuer_id(issuer) in failed:  # one attempt per request and issuer: a report may hold many signatures
        return failed[issuer_id(issuer)]
    kept = _newest(issuer)
    crl = revocation.load_crl(kept.der) if kept is not None else None
    if crl is not None and crl.current_at(now):
        return crl, None
    urls = revocation.distribution_urls(certificate)
    failure = FetchError("the certificate names no CRL distribution point",
                         "в сертификате не указана точка распространения списка отзыва")
    for url in urls:
        try:
            fetched = revocation.fetch(url, issuer, now, get=current_app.config.get("CRL_FETCH") or revocation.http_get)
        except FetchError as error:
            failure = error
            continue
        _keep(fetched, issuer, url)
        if fetched.current_at(now):
            return fetched, None
        crl, failure = fetched, FetchError(f"the CRL at {url} is stale", f"список отзыва по адресу {url} устарел")
    failed[issuer_id(issuer)] = (crl, failure)
    return crl, failure


def external_status(certificate: x509.Certificate, issuer: x509.Certificate, moment: datetime) -> Status:
    """The revocation status of an external certificate at moment, by its issuer's current CRL."""
    crl, failure = external(certificate, issuer)
    result = revocation.status(crl, certificate.serial_number, moment, utcnow())
    if result.state == "unknown" and failure is not None:
        return revocation.unknown(failure.en, failure.ru)
    return result
