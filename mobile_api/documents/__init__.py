"""Document detail, attachment download, and registration by a clerk."""
import json

import sqlalchemy as sa
from flask import g, request, url_for
from flask_smorest import Blueprint
from marshmallow import ValidationError

from domain import access, approvals, documents
from domain.resolutions import AS_LISTED
from models import Attachment, Resolution, db

from ..approvals.schemas import ApprovalSchema
from ..auth.tokens import authenticate
from ..conditional import etagged
from ..errors import ApiError, not_found
from ..files import send_blob
from ..idempotency import idempotent
from ..schemas import DocumentDetailSchema, DocumentMetadataIn

blp = Blueprint("documents", __name__, description="Documents")
blp.before_request(authenticate)


def detail(doc) -> dict:
    """A document as this user sees it: its files, the resolutions they may see, their actions."""
    user = g.user
    resolutions = db.session.scalars(
        sa.select(Resolution).where(Resolution.document_id == doc.id).order_by(Resolution.id)
        .options(*AS_LISTED)
    ).all()
    visible = [r for r in resolutions if r.status == "issued" or access.may_edit_resolution(user, r)]
    approval = approvals.current(doc.id)
    return {
        "id": doc.id, "reg_number": doc.reg_number, "reg_date": doc.reg_date, "title": doc.title,
        "summary": doc.summary, "correspondent": doc.correspondent, "urgent": doc.urgent, "due_at": doc.due_at,
        "addressees": doc.addressees, "attachments": doc.attachments, "resolutions": visible,
        "approval": ApprovalSchema().dump(approvals.view(approval)) if approval else None,
        "actions": access.actions_for(user, doc, approval),
    }


@blp.route("/documents/<id:document_id>", methods=["GET"])
@etagged
@blp.response(200, DocumentDetailSchema)
def get_document(document_id):
    """A document with its attachments, resolutions and what the user may do now."""
    return detail(access.get_document(g.user, document_id))


@blp.route("/documents/<id:document_id>/attachments/<id:attachment_id>", methods=["GET"])
@blp.response(200, description="The file (Range supported: 206)")
def download(document_id, attachment_id):
    """An attachment's bytes, with ETag and Range."""
    doc = access.get_document(g.user, document_id)
    att = db.session.get(Attachment, attachment_id)
    if att is None or att.document_id != doc.id:
        raise not_found("attachment")
    return send_blob(att.sha256, att.mime, download_name=att.name, what="attachment")


REGISTER_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["metadata", "file"],
        "properties": {
            "metadata": {"type": "string", "description": "JSON: DocumentMetadataIn"},
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
    }}},
}


@blp.route("/documents", methods=["POST"])
@idempotent
@blp.doc(requestBody=REGISTER_BODY)
@blp.response(201, DocumentDetailSchema)
def register():
    """A clerk registers a document: multipart `metadata` (JSON) and one or more `file` parts."""
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "unsupported_media_type", "Send multipart/form-data with metadata and file parts.")
    raw = request.form.get("metadata")
    if raw is None:
        raise ApiError(422, "validation_failed", "The metadata part is missing.", {"metadata": ["Required."]})
    try:
        meta = DocumentMetadataIn().load(json.loads(raw))
    except json.JSONDecodeError:
        raise ApiError(400, "malformed_json", "The metadata part is not valid JSON.") from None
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"metadata": exc.messages}
        raise ApiError(422, "validation_failed", "The metadata did not pass validation.",
                       {k: v if isinstance(v, list) else [str(v)] for k, v in errors.items()}) from None
    doc = documents.register(g.user, meta, request.files.getlist("file"))
    return detail(doc), 201, {"Location": url_for("documents.get_document", document_id=doc.id)}
