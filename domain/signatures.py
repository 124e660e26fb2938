"""Signatures: each organization's CA, device keys, two-step signing sessions, verification reports, evidence.

Rule: a user with an active (unrevoked, unexpired) key must sign their approval decisions; a user
without one decides unsigned. Enrolling a tablet is therefore what makes a person's decisions signed,
and an organization that wants every decision signed enrols every approver. Issuing a resolution may
carry a signature of its author.
"""
import dataclasses
import functools
import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from flask import current_app, has_request_context, request

from models import Document, Job, Organization, Resolution, User, audit, db, utcnow
from models.base import lock as lock_row
from models.blobstore import BlobNotFound, blobs
from models.raw import run
from models.resolutions import ISSUED_STATES
from models.signing import OrganizationCA, Signature, SigningKey, SigningSession
from signing import cms, mark, timestamp, trust
from signing.ca import (
    CertificateAuthority,
    create_ca,
    dump_certificate,
    dump_key,
    load_ca,
)
from signing.canonical import resolution_bytes, version_hash
from signing.csr import CsrError, issue_certificate, load_csr
from signing.evidence import SignedItem, build_evidence, signed_moment
from signing.trust import TrustError

from . import assistant_rights, pages, substitutions
from . import revocation as crls
from .errors import ApiError, conflict, not_found

ALGORITHMS = ("ecdsa-with-SHA256", "gost3410-2012-256", "gost3410-2012-512")
# The job that asks the TSA again for a signature the TSA did not time-stamp in time (workers/timestamps.py).
TIMESTAMP_JOB = "signature.timestamp"

log = logging.getLogger(__name__)


def _passphrase() -> bytes:
    return current_app.config["CA_PASSPHRASE"].encode()


def init_ca(organization: Organization) -> OrganizationCA | None:
    """Create the organization's CA unless it has one; returns the new CA row or None."""
    if db.session.get(OrganizationCA, organization.id) is not None:
        return None
    ca = create_ca(organization.name, algorithm=current_app.config.get("CA_ALGORITHM", "p256"))
    row = OrganizationCA(organization_id=organization.id, certificate_pem=dump_certificate(ca).decode(),
                         key_pem=dump_key(ca, _passphrase()).decode())
    db.session.add(row)
    audit.record(organization.id, None, "ca.created", "organization", organization.id,
                 serial=format(ca.certificate.serial_number, "x"), algorithm=cms.algorithm(ca.certificate))
    return row


def _ca_row(organization_id: int) -> OrganizationCA:
    row = db.session.get(OrganizationCA, organization_id)
    if row is None:
        raise ApiError(409, "no_certificate_authority",
                       "The organization has no signing CA yet; an operator runs `flask ca init`.")
    return row


def ca_certificate(organization_id: int) -> x509.Certificate:
    """The organization's CA certificate: the only trust anchor for its signatures."""
    return x509.load_pem_x509_certificate(_ca_row(organization_id).certificate_pem.encode())


def _load_ca(organization_id: int) -> CertificateAuthority:
    row = _ca_row(organization_id)
    return load_ca(row.key_pem.encode(), row.certificate_pem.encode(), _passphrase())


load_organization_ca = _load_ca


def crl_url(organization_id: int) -> str | None:
    """Where the organization CA's CRL is served (its certificates' distribution point): under PUBLIC_URL, else
    under the address the request came to; None outside a request without PUBLIC_URL."""
    base = current_app.config.get("PUBLIC_URL") or (request.host_url if has_request_context() else None)
    return f"{base.rstrip('/')}/api/v1/ca/{organization_id}/crl" if base else None


@functools.lru_cache(maxsize=4)
def _anchors_of(path: str | None) -> tuple[x509.Certificate, ...]:
    return tuple(trust.load_trust_anchors(path))


def trust_anchors() -> list[x509.Certificate]:
    """The external CAs whose certificates a signer may bring (TRUST_ANCHORS)."""
    return list(_anchors_of(current_app.config.get("TRUST_ANCHORS")))


def _trust_error(error: TrustError, field: str = "certificate") -> ApiError:
    return ApiError(422, error.code, error.reason, {field: [error.reason]})


def _issued_by_us(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    # By name: cms.verify then checks the CA's signature on it (a GOST one costs tens of milliseconds).
    return cert.issuer == ca.subject


def chain_of(key: SigningKey, organization_id: int, at: datetime) -> tuple[list[x509.Certificate], bool]:
    """The CA certificates above the key's certificate (its issuer first) and whether they are an external
    CA's; TrustError when an external chain no longer leads to a trust anchor valid at `at`."""
    ca = ca_certificate(organization_id)
    certificates = trust.load_chain(key.certificate_pem)
    if _issued_by_us(certificates[0], ca):
        return [ca], False
    return trust.chain(certificates[0], certificates[1:], trust_anchors(), at)[1:], True


def key_challenge(user: User) -> trust.Challenge:
    """What the device signs to prove it holds the key of the certificate it brings."""
    return trust.challenge(current_app.config["SECRET_KEY"].encode(), str(user.id))


def enrol_external(user: User, certificate_pem: str, challenge: bytes, proof: bytes) -> SigningKey:
    """Enrol a certificate the signer has from a trusted external CA: its chain leads to a trust anchor, it is
    valid now and allows signatures, and the device signed our challenge with its key."""
    now = utcnow()
    try:
        certificates = trust.load_chain(certificate_pem)
        trust.check_challenge(current_app.config["SECRET_KEY"].encode(), challenge, str(user.id), now)
        path = trust.chain(certificates[0], certificates[1:], trust_anchors(), now)
        trust.check_signing_certificate(path[0])
        trust.check_proof(path[0], challenge, proof)
    except TrustError as error:
        raise _trust_error(error, "proof" if error.code == "proof_invalid" else
                           "challenge" if error.code.startswith("challenge") else "certificate") from None
    leaf = path[0]
    status = crls.external_status(leaf, path[1], now)
    if status.state != "good" or (status.revoked_at is not None and status.revoked_at <= now):
        code = "certificate_revoked" if status.state == "revoked" else "revocation_unknown"
        raise ApiError(422, code, status.en, {"certificate": [status.en, status.ru]})
    serial = format(leaf.serial_number, "x")
    if db.session.scalar(sa.select(SigningKey.id).where(SigningKey.serial == serial)) is not None:
        raise conflict("key_exists", "This certificate is enrolled already.", "enrolled")
    pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in path[:-1])  # the anchor is ours
    key = SigningKey(user_id=user.id, certificate_pem=pem, serial=serial, not_after=leaf.not_valid_after_utc)
    db.session.add(key)
    db.session.flush()
    audit.record(user.organization_id, user.id, "key.enrolled", "signing_key", key.id, serial=key.serial,
                 issuer=leaf.issuer.rfc4514_string(), not_after=leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return key


def certificate(key: SigningKey) -> x509.Certificate:
    return x509.load_pem_x509_certificate(key.certificate_pem.encode())


def enrol(user: User, csr_pem: str) -> SigningKey:
    """Issue a certificate for a device key from the user's organization CA."""
    try:
        csr = load_csr(csr_pem)
    except CsrError as error:
        raise ApiError(422, error.code, error.reason, {"csr": [error.reason]}) from None
    cert = issue_certificate(_load_ca(user.organization_id), csr, user_id=str(user.id), user_name=user.name,
                             crl_url=crl_url(user.organization_id))
    key = SigningKey(user_id=user.id, certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
                     serial=format(cert.serial_number, "x"), not_after=cert.not_valid_after_utc)
    db.session.add(key)
    db.session.flush()
    audit.record(user.organization_id, user.id, "key.issued", "signing_key", key.id, serial=key.serial,
                 not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return key


def get_key(user: User, key_id: int | None) -> SigningKey:
    """One of the user's own keys, else 404."""
    key = db.session.get(SigningKey, key_id) if key_id else None
    if key is None or key.user_id != user.id:
        raise not_found("key")
    return key


def revoke(user: User, key: SigningKey) -> None:
    """Revoke a key: later signing is refused; signatures made before stay valid."""
    key = lock_row(SigningKey, key.id)  # revoked once, however many requests arrive together
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(user.organization_id, user.id, "key.revoked", "signing_key", key.id, serial=key.serial)
        db.session.flush()
        crls.issue(user.organization_id)  # the distribution point lists it from now on


def signature_required(user_id: int) -> bool:
    """Decisions of a user with an active key (not revoked, not expired) must be signed (see the module
    docstring). One existence check: an opened document asks it of every due approver."""
    return bool(run(_HAS_ACTIVE_KEY, user_id=user_id, now=utcnow())[0][0])


# Built once (models.raw.run): building and compiling it was most of what the check cost.
_HAS_ACTIVE_KEY = sa.select(sa.exists().where(SigningKey.user_id == sa.bindparam("user_id"),
                                              SigningKey.revoked_at.is_(None),
                                              SigningKey.not_after > sa.bindparam("now", type_=sa.DateTime)))


def issue_needs_signature(user: User) -> bool:
    """Where the organization asks for it, an author with an active key signs what they issue (as decisions)."""
    return user.organization.issue_requires_signature and signature_required(user.id)


def check_issue_signed(user: User, signed: bool) -> None:
    """Refuse an unsigned issue that `issue_needs_signature`."""
    if not signed and issue_needs_signature(user):
        raise ApiError(422, "signature_required",
                       "Your organization has resolutions signed: sign the issue with your enrolled key.",
                       {"signing_session_id": ["Required: your organization has issued resolutions signed."]})


def keys_of(user: User) -> list[SigningKey]:
    """The user's enrolled keys, newest first, revoked ones included (they still back old signatures)."""
    return list(db.session.scalars(sa.select(SigningKey).where(SigningKey.user_id == user.id)
                                   .order_by(SigningKey.id.desc())))


def _check_usable(key: SigningKey, now: datetime) -> None:
    if key.revoked_at is not None:
        raise ApiError(409, "key_revoked", "This key was revoked; enrol the device again.")
    if key.not_after <= now:
        raise ApiError(409, "key_expired", "This key's certificate has expired; enrol the device again.")


def document_version(doc: Document) -> str:
    """The version hash of a document: its registration data and its files in order."""
    metadata = {"id": str(doc.id), "reg_number": doc.reg_number, "reg_date": doc.reg_date, "title": doc.title,
                "summary": doc.summary, "correspondent": doc.correspondent}
    return version_hash(metadata, [attachment.sha256 for attachment in doc.attachments])


def signing_now() -> datetime:
    """Now, to the second: the canonical form and the CMS signing-time both drop fractions."""
    return utcnow().replace(microsecond=0)


def session_algorithm(session: SigningSession) -> str:
    """What the device signs with: ECDSA-SHA256 for a P-256 key, GOST R 34.10-2012 for a GOST one."""
    return cms.algorithm(certificate(session.key))


def session_data_to_sign(session: SigningSession) -> bytes:
    """The bytes the device signs: the DER signed attributes (P-256), or their Streebog hash (GOST)."""
    return cms.to_be_signed(session.data_to_sign, certificate(session.key))


def _claimed_role(content: bytes) -> str | None:
    """A deputy's claimed role for the signed signer-attributes: the principal the signed content names."""
    principal_id = json.loads(content).get("acting_for")
    principal = db.session.get(User, int(principal_id)) if principal_id else None
    return None if principal is None else f"за {principal.name} / acting for {principal.name} (user {principal.id})"


def open_session(user: User, key_id: int, doc: Document, subject_type: str, subject_id: int,
                 content: bytes, signed_at: datetime) -> SigningSession:
    """Prepare what the device signs: the signed attributes over the content, valid for a few minutes."""
    key = get_key(user, key_id)
    _check_usable(key, signed_at)
    _check_chain(key, user.organization_id, signed_at)
    data_to_sign = cms.signed_attributes(content, certificate(key), signed_at, claimed_role=_claimed_role(content))
    session = SigningSession(user_id=user.id, key_id=key.id, key=key, document_id=doc.id,
                             subject_type=subject_type, subject_id=subject_id, content=content,
                             data_to_sign=data_to_sign, created_at=signed_at,
                             expires_at=signed_at + timedelta(seconds=current_app.config["SIGNING_SESSION_TTL"]))
    db.session.add(session)
    db.session.flush()
    return session


def _check_chain(key: SigningKey, organization_id: int, at: datetime) -> list[x509.Certificate]:
    """The key's CA certificates, after making sure a revocation list current at `at` is kept for its
    evidence: our CA's is issued when due; an external CA's is fetched, and the key must not be revoked by it
    nor its status unknown."""
    try:
        chain, external = chain_of(key, organization_id, at)
    except TrustError as error:
        raise _trust_error(error, "signature") from None
    if not external:
        crls.current(organization_id, at)
        return chain
    status = crls.external_status(certificate(key), chain[0], at)
    if status.state != "good" or (status.revoked_at is not None and status.revoked_at <= at):
        code = "certificate_revoked" if status.state == "revoked" else "revocation_unknown"
        raise ApiError(422, code, f"The signature was refused: {status.en}.", {"signature": [status.en, status.ru]})
    return chain


def open_resolution_session(user: User, res: Resolution, key_id: int) -> SigningSession:
    """A session for the signature of whoever issues the resolution: its author, an assistant the author
    allowed to issue in their name, or the author's deputy (each signs with their own key)."""
    if (res.author_id != user.id and not assistant_rights.may_issue_for(user, res.author_id)
            and substitutions.acts_for(user, res.author_id, "resolutions") is None):
        raise not_found("resolution")
    if res.status in ISSUED_STATES:
        raise ApiError(409, "invalid_state", "The resolution is already issued.")
    signed_at = signing_now()
    content = _resolution_content(res, user, signed_at)
    return open_session(user, key_id, res.document, "resolution", res.id, content, signed_at)


def _resolution_content(res: Resolution, signer: User, signed_at: datetime) -> bytes:
    # A deputy signs in the principal's name: the author's draft, or one the deputy wrote for them.
    acting_for = res.author_id if res.author_id != signer.id else res.acting_for_id
    return resolution_bytes(resolution_id=str(res.id), document_id=str(res.document_id), text=res.text,
                            executors=[str(executor.id) for executor in res.executors], deadline=res.deadline,
                            signer=str(signer.id), signed_at=signed_at,
                            acting_for=str(acting_for) if acting_for is not None else None)


def _revocations(organization_id: int) -> dict[int, datetime]:
    """Serial number to revocation time, for the organization's revoked keys."""
    rows = db.session.execute(
        sa.select(SigningKey.serial, SigningKey.revoked_at).join(User, User.id == SigningKey.user_id)
        .where(User.organization_id == organization_id, SigningKey.revoked_at.is_not(None))
    )
    return {int(serial, 16): revoked_at for serial, revoked_at in rows}


def sign(user: User, session_id: int | None, signature_der: bytes) -> Signature:
    """Assemble the device's signature into a detached CMS, verify it now, time-stamp it, and keep it."""
    # With a TSA, the signature is checked and time-stamped before the session's lock is taken: on SQLite
    # that lock is the database's write lock, which no one should wait for while the TSA answers.
    early = _time_stamped_early(user, session_id, signature_der) if tsa_configured() else None
    session = lock_row(SigningSession, session_id) if session_id else None
    if session is None or session.user_id != user.id:
        raise not_found("signing session")
    now = utcnow()
    if session.used_at is not None:
        raise conflict("session_used", "This signing session was already used; open a new one.", "used")
    if session.expires_at <= now:
        raise ApiError(410, "session_expired", "This signing session has expired; open a new one.")
    _check_usable(session.key, now)  # under the lock: a key revoked meanwhile is refused here
    # Also under the lock: the chain still leads to a trust anchor, an external CA's CRL does not list the key
    # (nor is unknown), and our CA has a CRL current now for the evidence.
    chain = _check_chain(session.key, user.organization_id, now)
    p7s = cms.assemble(session.data_to_sign, signature_der, certificate(session.key), chain)
    if early is None or early[0] != p7s:
        result = cms.verify(p7s, session.content, chain[:1], _revocations(user.organization_id), at=now)
        if not result.valid:
            raise ApiError(422, result.reason.value, f"The signature was refused: {result.detail}.",
                           {"signature": [result.reason.value]})
    token = early and early[1]
    if token is not None:
        p7s = cms.with_timestamp(p7s, token.der)
    doc = db.session.get(Document, session.document_id)
    acting_for = json.loads(session.content).get("acting_for")  # a deputy's, in a principal's name
    signature = Signature(document_id=doc.id, session_id=session.id, signer_id=user.id, key_id=session.key_id,
                          subject_type=session.subject_type, subject_id=session.subject_id,
                          content=session.content, p7s=p7s, version_hash=document_version(doc), signed_at=now,
                          timestamped_at=token and token.gen_time,
                          acting_for_id=int(acting_for) if acting_for else None)
    session.used_at = now
    db.session.add(signature)
    db.session.flush()
    if tsa_configured() and token is None:
        db.session.add(Job(kind=TIMESTAMP_JOB, payload={"signature_id": signature.id}))
    audit.record(user.organization_id, user.id, "signature.made", "signature", signature.id,
                 document_id=str(doc.id), subject=f"{session.subject_type}:{session.subject_id}",
                 serial=session.key.serial, content_sha256=_sha256(session.content), p7s_sha256=_sha256(p7s),
                 timestamped_at=token and _iso(token.gen_time),
                 **({"acting_for": acting_for} if acting_for else {}))
    return signature


def _time_stamped_early(user: User, session_id: int | None,
                        signature_der: bytes) -> tuple[bytes, timestamp.Token | None] | None:
    """The verified .p7s and, if the TSA answered in time, its token (CAdES-T); None when the signature
    would be refused anyway (the locked path says why). Without a token the signature stands as
    CAdES-BES and a job asks the TSA again."""
    session = db.session.get(SigningSession, session_id) if session_id else None
    now = utcnow()
    if session is None or session.user_id != user.id or session.used_at is not None or session.expires_at <= now:
        return None
    try:  # the chain as the locked path assembles it; its CRL checks (and any CRL it issues) wait for the lock
        chain, _external = chain_of(session.key, user.organization_id, now)
    except TrustError:
        return None
    p7s = cms.assemble(session.data_to_sign, signature_der, certificate(session.key), chain)
    if not cms.verify(p7s, session.content, chain[:1], _revocations(user.organization_id), at=now).valid:
        return None  # no TSA request for a signature that is refused
    try:
        return p7s, fetch_timestamp(p7s, certificate(session.key), current_app.config["TSA_TIMEOUT_S"])
    except timestamp.TimestampError as error:
        log.warning("signing session %s: no time-stamp now (%s); a job will ask the TSA again", session.id,
                    error.detail)
        return p7s, None


def tsa_configured() -> bool:
    return bool(current_app.config.get("TSA_URL"))


def tsa_anchors() -> list[x509.Certificate]:
    """The certificates a TSA's token must chain to (TSA_CA_FILE); none when time-stamps are off."""
    path = current_app.config.get("TSA_CA_FILE")
    return timestamp.load_tsa_anchors(path) if path else []


def fetch_timestamp(p7s: bytes, signer: x509.Certificate, timeout: float) -> timestamp.Token:
    """A checked token from the TSA over the signature value of `p7s` (raises timestamp.TimestampError)."""
    return timestamp.fetch(current_app.config["TSA_URL"], cms.signature_value(p7s), tsa_anchors(),
                           gost_signature=cms.gost_key(signer) is not None, timeout=timeout)


def attach_timestamp(signature_id: int, token: timestamp.Token) -> bool:
    """Add the token to a signature that has none yet (CAdES-BES becomes CAdES-T); False if it had one."""
    signature = lock_row(Signature, signature_id)
    if signature is None or cms.timestamp_token(signature.p7s) is not None:
        return False
    # Checked again against the signature it is attached to, not just the one it was asked for.
    timestamp.check_token(token.der, cms.signature_value(signature.p7s), tsa_anchors())
    signature.p7s = cms.with_timestamp(signature.p7s, token.der)
    signature.timestamped_at = token.gen_time
    audit.record(signature.signer.organization_id, None, "signature.timestamped", "signature", signature.id,
                 document_id=str(signature.document_id), gen_time=_iso(token.gen_time),
                 tsa=token.tsa.subject.rfc4514_string(), p7s_sha256=_sha256(signature.p7s))
    return True


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed_content(signature: Signature) -> dict:
    """The signed canonical JSON as a dict."""
    return json.loads(signature.content)


def signed_at_of(content: dict) -> datetime:
    return datetime.strptime(content["signed_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def bound_signature(user: User, session_id: int, subject_type: str, subject_id: int) -> Signature:
    """The signature made in the user's session for this subject, not yet bound to anything."""
    session = db.session.get(SigningSession, session_id)
    if session is None or session.user_id != user.id or (session.subject_type, session.subject_id) != (
            subject_type, subject_id):
        raise ApiError(422, "signing_session_mismatch", "The signing session is not yours or not for this subject.",
                       {"signing_session_id": ["Not a signing session of yours for this subject."]})
    signature = db.session.scalar(sa.select(Signature).where(Signature.session_id == session.id))
    if signature is None:
        raise ApiError(409, "signature_missing", "Nothing was signed in this session yet; post the signature first.")
    return signature


def sign_resolution_issue(user: User, res: Resolution, session_id: int) -> Signature:
    """Check that the session's signature covers the resolution exactly as it is issued."""
    signature = bound_signature(user, session_id, "resolution", res.id)
    if signature.content != _resolution_content(res, user, signed_at_of(signed_content(signature))):
        raise ApiError(409, "signature_mismatch", "The resolution changed after it was signed; sign it again.")
    return signature


def report(doc: Document) -> list[dict]:
    """Every signature on the document, verified now at its moment: the genTime of its time-stamp, else the time
    the server received it; with its certificate's revocation status then."""
    signatures = db.session.scalars(sa.select(Signature).where(Signature.document_id == doc.id)
                                    .order_by(Signature.id)).all()
    if not signatures:
        return []
    revoked = _revocations(doc.organization_id)
    tsa_trusted = tsa_anchors()
    out = []
    for signature in signatures:
        result, revocation = _verified(signature, doc.organization_id, revoked, tsa_trusted)
        cert = result.signer or certificate(signature.key)
        out.append({
            "id": signature.id, "subject": {"type": signature.subject_type, "id": str(signature.subject_id)},
            "signer": signature.signer, "signed_at": signature.signed_at, "signing_time": result.signing_time,
            "timestamped_at": result.timestamped_at,
            "version_hash": signature.version_hash, "acting_for": signature.acting_for_id,
            "certificate": {"serial": format(cert.serial_number, "x"), "subject": cert.subject.rfc4514_string(),
                            "issuer": cert.issuer.rfc4514_string(), "not_after": cert.not_valid_after_utc},
            "key_revoked_at": signature.key.revoked_at,
            "valid": result.valid, "reason": result.reason.value, "detail": result.detail, "note": result.note,
            "revocation": revocation,
        })
    return out


def _verified(signature: Signature, organization_id: int, revoked: dict[int, datetime],
              tsa_trusted: list[x509.Certificate]) -> tuple[cms.Verification, dict]:
    """A signature verified at its moment, and its certificate's revocation status then: from the key table for
    our CA's certificates, from the issuer's CRL for an external CA's (unknown, and so not valid, when no current
    CRL can be had). The moment is its time-stamp's genTime when it has one (checked against the TSA anchors),
    else the time the server received it, so a revocation after the time-stamp keeps it valid and one before
    does not, whatever the server's clock said; verify.sh in the evidence judges at the same moment."""
    moment = signature.timestamped_at if tsa_trusted and signature.timestamped_at else signature.signed_at
    try:
        chain, external = chain_of(signature.key, organization_id, moment)
    except TrustError as error:
        refused = cms.Verification(False, cms.Reason(error.code) if error.code in set(cms.Reason) else
                                   cms.Reason.UNTRUSTED_ISSUER, error.reason)
        return refused, {"status": "unknown", "detail": f"revocation status unknown: {error.reason}",
                         "detail_ru": "статус отзыва неизвестен: цепочка сертификата не ведёт к доверенному "
                                      "удостоверяющему центру"}
    result = cms.verify(signature.p7s, signature.content, chain[:1], revoked, at=signature.signed_at,
                        tsa_trusted=tsa_trusted)
    moment = result.timestamped_at or moment  # the genTime cms.verify checked (the one kept, unless tampered)
    if not external:
        revoked_at = revoked.get(certificate(signature.key).serial_number)
        state = "revoked" if revoked_at is not None and revoked_at <= moment else "good"
        status = revocation_text(state, revoked_at)
        return result, status
    status = crls.external_status(certificate(signature.key), chain[0], moment)
    text = {"status": status.state, "detail": status.en, "detail_ru": status.ru}
    if result.valid and status.state == "revoked":
        result = dataclasses.replace(result, valid=False, reason=cms.Reason.CERTIFICATE_REVOKED, detail=status.en)
    elif result.valid and status.state == "unknown":
        result = dataclasses.replace(result, valid=False, reason=cms.Reason.REVOCATION_UNKNOWN, detail=status.en)
    elif result.valid and status.revoked_at is not None:
        result = dataclasses.replace(result, note="; ".join(filter(None, [result.note, status.en])))
    return result, text


def revocation_text(state: str, revoked_at: datetime | None) -> dict:
    """A revocation status judged from our own key table, in the words of signing.revocation."""
    if revoked_at is None:
        return {"status": state, "detail": "not revoked", "detail_ru": "не отозван"}
    stamp = f"{revoked_at:%Y-%m-%dT%H:%M:%SZ}"
    if state == "revoked":
        return {"status": state, "detail": f"the certificate was revoked at {stamp}, before signing",
                "detail_ru": f"сертификат отозван {stamp}, до подписания"}
    return {"status": state, "detail": f"the certificate was revoked at {stamp}, after this signature was made",
            "detail_ru": f"сертификат отозван {stamp}, после подписания"}


def evidence(doc: Document) -> bytes:
    """The evidence zip of the document's signatures, checkable with stock `openssl cms -verify`."""
    signatures = db.session.scalars(sa.select(Signature).where(Signature.document_id == doc.id)
                                    .order_by(Signature.id)).all()
    ca = ca_certificate(doc.organization_id)
    anchors, items, lists = [ca], [], {}
    for s in signatures:
        item = SignedItem(name=f"{s.subject_type}-{s.subject_id}-signature-{s.id}", content=s.content, p7s=s.p7s,
                          signer=f"user-{s.signer_id}", certificate=certificate(s.key))
        try:
            chain, external = chain_of(s.key, doc.organization_id, s.timestamped_at or s.signed_at)
        except TrustError:
            chain, external = trust.load_chain(s.key.certificate_pem)[1:], True
        if chain:
            if external:
                crls.external(item.certificate, chain[0])  # the newest state, fetched when the kept CRL is stale
            anchors.append(chain[-1])
            item = evidence_crls(item, chain, lists)
        items.append(item)
    view, note = signed_view(doc, signatures, items)
    return build_evidence(str(doc.id), items, anchors, crls=lists, tsa_certificates=tsa_anchors(), view=view,
                          view_note=note)


# What a mark says was signed, by the signature's subject.
_SIGNED_WHAT = {"approval": "Согласование / Approval", "resolution": "Резолюция / Resolution"}


def _mark(signature: Signature, item: SignedItem) -> mark.Mark:
    cert = item.certificate
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    principal = db.session.get(User, signature.acting_for_id) if signature.acting_for_id else None
    what = _SIGNED_WHAT.get(signature.subject_type, signature.subject_type)
    return mark.Mark(
        serial=format(cert.serial_number, "X"),
        owner=str(names[0].value) if names else cert.subject.rfc4514_string(),
        valid_from=cert.not_valid_before_utc, valid_to=cert.not_valid_after_utc,
        signed_at=signed_moment(item.p7s, item.timestamp), timestamped=signature.timestamped_at is not None,
        acting_for=principal.name if principal else None, what=f"{what} {signature.subject_id}",
        file=f"signatures/{item.name}.p7s")


def signed_view(doc: Document, signatures, items: list[SignedItem]) -> tuple[bytes | None, tuple[str, str] | None]:
    """The PDF of the document's pages (each file's, at the widest prepared width) with a mark per signature,
    or None and why not (English, Russian): a file's pages are still being prepared or could not be, or no file
    has pages. Files of a type without pages (plain text, archives) are left out."""
    if not signatures:
        return None, None
    images: list[mark.PageImage] = []
    store = blobs()
    for attachment in doc.attachments:
        if pages.kind_of(attachment.mime, attachment.name) == "txt":
            continue  # plain text is read as text: it never has page images
        prepared = pages.of_file(attachment.sha256, attachment.mime)
        if prepared.status == pages.PROCESSING:
            return None, (f"the pages of {attachment.name} are still being prepared; download the evidence again "
                          "in a minute", f"страницы файла {attachment.name} ещё готовятся; скачайте архив через минуту")
        if prepared.status == pages.FAILED:
            if prepared.reason in ("unsupported", "not_prepared"):
                continue  # a type without pages, or a bulk-loaded file: no pages are coming
            why = prepared.reason, prepared.params
            return None, (f"the pages of {attachment.name} could not be prepared: {pages.reason_text(*why, 'en')}",
                          f"страницы файла {attachment.name} не подготовлены: {pages.reason_text(*why)}")
        for page in sorted(prepared.pages, key=lambda p: p["n"]):
            widest = page["images"][str(max(int(w) for w in page["images"]))]
            try:
                with store.open(widest) as f:
                    images.append(mark.PageImage(f.read(), f"{attachment.name}, {page['n']}"))
            except BlobNotFound:
                return None, (f"a page image of {attachment.name} is missing from the store",
                              f"изображение страницы файла {attachment.name} не найдено в хранилище")
    if not images:
        return None, ("the document's files have no page images", "у файлов документа нет изображений страниц")
    title = f"№ {doc.reg_number}: {doc.title}" if doc.reg_number else doc.title
    pdf, _ = mark.signed_pdf(title, images, [_mark(s, item) for s, item in zip(signatures, items)])
    return pdf, None


def evidence_crls(item: SignedItem, chain: list[x509.Certificate], lists: dict[str, bytes]) -> SignedItem:
    """The item with its intermediates and the names of its issuer's CRLs (the one current at its time, the
    newest one), those CRLs added to lists by name."""
    issuer = chain[0]
    at = signed_moment(item.p7s)
    prefix = f"ca-{crls.issuer_id(issuer)[:12]}"

    def named(row) -> str | None:
        if row is None:
            return None
        name = f"{prefix}-{row.this_update:%Y%m%dT%H%M%SZ}-{row.sha256[:8]}.crl"
        lists[name] = row.der
        return name

    return dataclasses.replace(item, chain=tuple(chain[:-1]), crl=named(crls.as_of(issuer, at)),
                               current_crl=named(crls.newest(issuer)))
