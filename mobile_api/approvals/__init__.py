"""Approval routes and decisions, device keys, two-step signing sessions, signature reports and evidence."""
import io

from flask import g, request, send_file, url_for

from domain import access, approvals, paging, resolutions, signatures

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..errors import ApiError
from ..idempotency import idempotent
from ..openapi import LOCATION, binary_body, declare, errors
from ..schemas import AttachmentForm, AttachmentSchema, PageArgs
from .schemas import (
    ApprovalPage,
    ApprovalSchema,
    ChallengeOut,
    DecisionIn,
    KeyIn,
    KeyOut,
    KeyPage,
    RouteIn,
    SessionIn,
    SessionOut,
    SignatureIn,
    SignatureOut,
    SignatureReport,
)

blp = Blueprint("approvals", __name__, description="Approvals and signatures")
blp.before_request(authenticate)


@blp.route("/documents/<id:document_id>/approval-route", methods=["PUT"])
@blp.arguments(RouteIn())
@blp.response(200, ApprovalSchema)
@errors("forbidden", "approval_in_progress")
def put_route(body, document_id):
    """The owner sets the approval route: a new round whose first approvers are asked at once."""
    approval = approvals.put_route(g.user, access.get_document(g.user, document_id), body["stages"])
    return approvals.view(approval)


@blp.route("/approvals", methods=["GET"])
@blp.arguments(PageArgs(), location="query")
@blp.response(200, ApprovalPage)
def waiting(args):
    """The approvals waiting for this user's decision, newest first."""
    after = paging.decode(args["cursor"], int)[0] if "cursor" in args else None
    page, next_id = approvals.waiting_for(g.user, args["limit"], after)
    return {"items": [approvals.view(a) for a in page], "next_cursor": paging.encode(next_id) if next_id else None}


@blp.route("/approvals/<id:approval_id>/decision", methods=["POST"])
@idempotent
@blp.arguments(DecisionIn())
@blp.response(200, ApprovalSchema)
@errors("approval_closed", "not_due", "session_used", "stale_version", "signature_mismatch", "signature_missing",
        "comment_required", "signature_required", "signing_session_mismatch", "not_acting_for")
def decide(body, approval_id):
    """Approve or reject (a reject needs a comment); signed through a signing session when required. A
    deputy decides in the principal's name (`acting_for`, inferred when only the principal is due)."""
    approval = approvals.decide(g.user, approval_id, body["decision"], body.get("comment"),
                                body.get("signing_session_id"), body.get("acting_for"))
    return approvals.view(approval)


@blp.route("/keys", methods=["POST"])
@idempotent
@blp.arguments(KeyIn())
@blp.response(201, KeyOut)
@errors("no_certificate_authority", "csr_malformed", "csr_bad_signature", "csr_unsupported_key",
        "certificate_malformed", "untrusted_issuer", "certificate_expired", "wrong_key_usage", "certificate_revoked",
        "revocation_unknown", "challenge_invalid", "challenge_expired", "proof_invalid", "key_exists")
def enrol(body):
    """Enrol a device key (P-256 or GOST R 34.10-2012): a PKCS#10 request in, a certificate from the CA out; or a
    certificate from a trusted external CA (TRUST_ANCHORS) with the device's signature over a challenge."""
    if "certificate" in body:
        return signatures.enrol_external(g.user, body["certificate"], body["challenge"], body["proof"]), 201
    return signatures.enrol(g.user, body["csr"]), 201


@blp.route("/keys/challenge", methods=["POST"])
@blp.response(200, ChallengeOut)
def key_challenge():
    """A challenge for the device to sign with the key of the external certificate it enrols (valid 5 minutes)."""
    return signatures.key_challenge(g.user)


@blp.route("/keys", methods=["GET"])
@blp.response(200, KeyPage)
def keys():
    """The caller's enrolled keys, newest first; revoked ones stay listed with `revoked_at`."""
    return {"items": signatures.keys_of(g.user)}


@blp.route("/keys/<id:key_id>", methods=["DELETE"])
@blp.response(204)
def revoke(key_id):
    """Revoke a key: it signs nothing more; what it signed before stays valid."""
    signatures.revoke(g.user, signatures.get_key(g.user, key_id))


@blp.route("/signing-sessions", methods=["POST"])
@idempotent
@blp.arguments(SessionIn())
@blp.response(201, SessionOut)
@errors("not_found", "invalid_state", "key_revoked", "key_expired", "approval_closed", "not_due",
        "no_certificate_authority", "comment_required", "validation_failed", "not_acting_for")
def open_session(body):
    """Prepare a signature: the canonical content and the DER signed attributes the device signs."""
    subject = body["subject"]
    if subject["type"] == "approval":
        if "decision" not in body:
            raise ApiError(422, "validation_failed", "Say which decision is signed.", {"decision": ["Required."]})
        session = approvals.open_session(g.user, subject["id"], body["key_id"], body["decision"], body.get("comment"),
                                         body.get("acting_for"))
    else:
        session = signatures.open_resolution_session(g.user, resolutions.for_issue(g.user, subject["id"]),
                                                     body["key_id"])
    return session, 201


@blp.route("/signing-sessions/<id:session_id>/signature", methods=["POST"])
@idempotent
@blp.arguments(SignatureIn())
@blp.response(200, SignatureOut)
@errors("session_used", "key_revoked", "key_expired", "no_certificate_authority", "session_expired",
        "digest_mismatch", "bad_signature", "untrusted_issuer", "certificate_expired", "certificate_revoked",
        "wrong_key_usage", "malformed")
def sign(body, session_id):
    """The device's signature over data_to_sign (DER ECDSA, or GOST s then r): assembled into a CMS, verified."""
    return signatures.sign(g.user, session_id, body["signature"])


@blp.route("/documents/<id:document_id>/signatures", methods=["GET"])
@blp.response(200, SignatureReport)
@errors("no_certificate_authority")
def report(document_id):
    """Every signature on the document, verified now: signer, certificate, time, valid and why."""
    doc = access.get_document(g.user, document_id)
    return {"document_id": doc.id, "items": signatures.report(doc)}


@blp.route("/documents/<id:document_id>/evidence", methods=["GET"])
@blp.response(200, description="A zip that `openssl cms -verify` checks", content_type="application/zip")
@binary_body(200, "application/zip")
@errors("no_certificate_authority")
def evidence(document_id):
    """The signed contents, .p7s files, certificates and CA of the document, with instructions."""
    doc = access.get_document(g.user, document_id)
    return send_file(io.BytesIO(signatures.evidence(doc)), mimetype="application/zip", as_attachment=True,
                     download_name=f"evidence-{doc.id}.zip")


@blp.route("/documents/<id:document_id>/attachments", methods=["POST"])
@idempotent
@declare(requestBody={"required": True, "content": {"multipart/form-data": {"schema": AttachmentForm}}})
@blp.response(201, AttachmentSchema, headers=LOCATION)
@errors("forbidden", "payload_too_large", "validation_failed")
def add_attachment(document_id):
    """The owner adds a file (same name: a new version); pending approval decisions are cancelled."""
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None:
        raise ApiError(422, "validation_failed", "Send multipart/form-data with a file part.", {"file": ["Required."]})
    doc = access.get_document(g.user, document_id)
    attachment = approvals.add_version(g.user, doc, upload)
    location = url_for("documents.download", document_id=doc.id, attachment_id=attachment.id)
    return attachment, 201, {"Location": location}
