"""Request and response schemas of approvals, keys, signing sessions and signature reports."""
import base64
import binascii

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from domain import signatures
from models.signing import DECISIONS, STAGE_MODES, SUBJECT_TYPES
from signing.cms import Reason

from ..fields import Id, Text, UtcTime
from ..schemas import UserRef


class Base64(fields.String):
    """Bytes travel as standard base64 text."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else base64.b64encode(value).decode()

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("Not valid base64.") from None


class StageIn(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(["sequential", "parallel"]))
    approvers = fields.List(Id(), required=True, validate=validate.Length(1, 50))


class RouteIn(Schema):
    stages = fields.List(fields.Nested(StageIn), required=True, validate=validate.Length(1, 20))


class DecisionIn(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    comment = Text(allow_none=True, validate=validate.Length(max=4000))
    signing_session_id = Id(allow_none=True)
    acting_for = Id(allow_none=True, metadata={
        "description": "a deputy acting for a principal names them (inferred where only the principal could act)"})


class DocumentRef(Schema):
    id = Id()
    reg_number = fields.String()
    title = fields.String()


class ApproverView(Schema):
    user = fields.Nested(UserRef)
    due = fields.Boolean()
    decision = fields.String(allow_none=True, metadata={"enum": [*DECISIONS, None]})
    comment = fields.String(allow_none=True)
    decided_at = UtcTime(allow_none=True)
    signature_id = Id(allow_none=True)


class StageView(Schema):
    position = fields.Integer()
    mode = fields.String(metadata={"enum": list(STAGE_MODES)})
    status = fields.String(metadata={"enum": ["done", "current", "waiting", "rejected"]})
    approvers = fields.List(fields.Nested(ApproverView))


class DecisionView(Schema):
    id = Id()
    approver = fields.Nested(UserRef)
    stage = fields.Integer()
    decision = fields.String(metadata={"enum": list(DECISIONS)})
    comment = fields.String(allow_none=True)
    decided_at = UtcTime()
    signature_id = Id(allow_none=True)
    cancelled = fields.Boolean()
    decided_by = Id(metadata={"description": "who decided: the approver, or their deputy"})
    acting_for = Id(allow_none=True, metadata={"description": "a deputy's decision: the approver it was for"})


class ApprovalSchema(Schema):
    id = Id()
    document_id = Id()
    document = fields.Nested(DocumentRef)
    round = fields.Integer()
    status = fields.String(metadata={"enum": ["in_progress", "approved", "rejected"]})
    created_at = UtcTime()
    finished_at = UtcTime(allow_none=True)
    due = fields.List(Id())
    stages = fields.List(fields.Nested(StageView))
    decisions = fields.List(fields.Nested(DecisionView))


class ApprovalPage(Schema):
    items = fields.List(fields.Nested(ApprovalSchema))
    next_cursor = fields.String(allow_none=True)


class KeyIn(Schema):
    csr = fields.String(validate=validate.Length(1, 16000), metadata={
        "description": "A PKCS#10 request: the organization's CA issues the certificate."})
    certificate = fields.String(validate=validate.Length(1, 64000), metadata={
        "description": "Instead of `csr`: a PEM certificate the signer has from a trusted external CA (intermediate "
                       "CA certificates may follow it), with `challenge` and `proof`."})
    challenge = Base64(metadata={"description": "The challenge of `POST /keys/challenge`, as it was answered."})
    proof = Base64(metadata={"description": "The device's signature over the challenge bytes with the "
                                            "certificate's key: DER ECDSA-SHA256 (P-256), or s then r over their "
                                            "GOST R 34.11-2012 hash (GOST)."})

    @validates_schema
    def _one_way(self, data, **kwargs):
        if ("csr" in data) == ("certificate" in data):
            raise ValidationError("Send either csr or certificate (with challenge and proof).", "csr")
        if "certificate" in data:
            missing = {name: ["Required with certificate."] for name in ("challenge", "proof") if name not in data}
            if missing:
                raise ValidationError(missing)


class ChallengeOut(Schema):
    challenge = Base64(attribute="data", metadata={"description": "The bytes to sign, base64."})
    expires_at = UtcTime()


class KeyOut(Schema):
    id = Id()
    certificate = fields.String(attribute="certificate_pem")
    serial = fields.String()
    not_after = UtcTime()
    created_at = UtcTime()
    revoked_at = UtcTime(allow_none=True)


class KeyPage(Schema):
    items = fields.List(fields.Nested(KeyOut))


class SubjectIn(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["approval", "resolution"]))
    id = Id(required=True)


class SessionIn(Schema):
    subject = fields.Nested(SubjectIn, required=True)
    key_id = Id(required=True)
    # For an approval: the decision being signed, and the comment a reject needs.
    decision = fields.String(validate=validate.OneOf(["approve", "reject"]))
    comment = Text(allow_none=True, validate=validate.Length(max=4000))
    acting_for = Id(allow_none=True, metadata={
        "description": "a deputy acting for a principal names them (inferred where only the principal could act)"})


class SubjectOut(Schema):
    type = fields.String(metadata={"enum": list(SUBJECT_TYPES)})
    id = Id()


class Subject(fields.Nested):
    """What a session or a signature is about, as SubjectOut, from its `subject_type` and `subject_id`."""

    def __init__(self, **kwargs):
        super().__init__(SubjectOut, **kwargs)

    def get_value(self, obj, attr, accessor=None, default=None):
        return {"type": obj.subject_type, "id": obj.subject_id}


class SessionOut(Schema):
    id = Id()
    subject = Subject()
    key_id = Id()
    data_to_sign = fields.Function(
        lambda s: base64.b64encode(signatures.session_data_to_sign(s)).decode(),
        metadata={"type": "string", "format": "byte",
                  "description": "ecdsa-with-SHA256: the DER signed attributes, sign these bytes (ECDSA P-256, "
                                 "SHA-256); gost3410-2012-256/-512: their GOST R 34.11-2012 hash, sign it as a "
                                 "hash (openssl pkeyutl -sign) and send s then r"})
    algorithm = fields.Function(signatures.session_algorithm,
                                metadata={"type": "string", "enum": list(signatures.ALGORITHMS)})
    # The canonical JSON being signed, so the tablet can show the signer what they sign.
    content = fields.Function(lambda s: s.content.decode("utf-8"),
                              metadata={"type": "string", "description": "the canonical JSON being signed"})
    expires_at = UtcTime()


class SignatureIn(Schema):
    signature = Base64(required=True, validate=validate.Length(1, 16000))


class SignatureOut(Schema):
    id = Id()
    session_id = Id()
    document_id = Id()
    subject = Subject()
    signer = fields.Nested(UserRef)
    certificate_serial = fields.String(attribute="key.serial")
    signed_at = UtcTime()
    # The genTime of the TSA's time-stamp (CAdES-T); null until the TSA has answered (or without a TSA).
    timestamped_at = UtcTime(allow_none=True)
    version_hash = fields.String()
    acting_for = Id(attribute="acting_for_id", allow_none=True, metadata={
        "description": "a deputy's signature in a principal's name: the principal"})


class CertificateView(Schema):
    serial = fields.String()
    subject = fields.String()
    issuer = fields.String()
    not_after = UtcTime()


class RevocationView(Schema):
    status = fields.String(metadata={"enum": ["good", "revoked", "unknown"]})
    detail = fields.String()
    detail_ru = fields.String()


class SignatureReportItem(Schema):
    id = Id()
    subject = fields.Nested(SubjectOut)
    signer = fields.Nested(UserRef)
    acting_for = Id(allow_none=True, metadata={"description": "a deputy's signature: the principal it was for"})
    certificate = fields.Nested(CertificateView)
    signed_at = UtcTime()
    signing_time = UtcTime(allow_none=True)
    # A checked signature time-stamp's genTime: then validity and revocation are judged at it.
    timestamped_at = UtcTime(allow_none=True)
    version_hash = fields.String()
    key_revoked_at = UtcTime(allow_none=True)
    valid = fields.Boolean()
    reason = fields.String(metadata={"enum": [r.value for r in Reason]})
    detail = fields.String()
    note = fields.String(allow_none=True)
    revocation = fields.Nested(RevocationView, metadata={
        "description": "The certificate's revocation status at the signature's time: from the key table for the "
                       "organization CA's certificates, from the issuer's CRL for an external CA's; `unknown` when "
                       "no current CRL can be had (and then the signature is not `valid`)."})


class SignatureReport(Schema):
    document_id = Id()
    items = fields.List(fields.Nested(SignatureReportItem))


class IssueIn(Schema):
    signing_session_id = Id(allow_none=True)
