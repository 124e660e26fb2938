"""Document detail, attachment download, and registration by a clerk."""
import json

from flask import Response, g, jsonify, request, url_for
from marshmallow import ValidationError

from domain import access, approvals, documents, pages, reading, substitutions
from domain.errors import not_found
from domain.paging import decode, page_of

from ..approvals.schemas import ApprovalSchema
from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..conditional import etagged
from ..errors import ApiError, field_errors
from ..fastdump import compile_rows
from ..files import send_blob, serves_file
from ..idempotency import idempotent
from ..openapi import LOCATION, declare, errors
from ..reads import gets_outside_transaction
from ..schemas import (
    AttachmentSchema,
    DocumentDetailSchema,
    DocumentForm,
    DocumentMetadataIn,
    PageArgs,
    PageImageArgs,
    PagesSchema,
    ResolutionPage,
    ResolutionSchema,
    UserRef,
)

blp = Blueprint("documents", __name__, description="Documents")
gets_outside_transaction(blp)  # its GETs only read, in plain SQL
blp.before_request(authenticate)


# The document's own fields, then its parts, each dumped by a plan compiled from its schema.
_head = compile_rows(DocumentDetailSchema(only=("id", "reg_number", "reg_date", "title", "summary", "sender", "urgent",
                                                "due_at")), reading.HEAD)
_addressee = compile_rows(UserRef(), reading.ADDRESSEE)
_attachment = compile_rows(AttachmentSchema(), reading.ATTACHMENT)
_resolution = compile_rows(ResolutionSchema(), reading.RESOLUTION)
_approval = ApprovalSchema()
_OWNER, _ROUTED, _TASK, _ROLES = (reading.HEAD.index(c) for c in ("owner_id", "ever_routed", "has_open_task", "roles"))


def detail(document_id: int) -> Response:
    """A document as this user sees it: its files, the first resolutions they may see, their actions."""
    user_id = viewer = g.user_id
    head = reading.opened(user_id, document_id)
    if head is None:  # a deputy (inbox scope) sees what a principal they act for now sees: only then
        for principal_id in substitutions.principal_ids(user_id, "inbox"):
            head, viewer = reading.opened(principal_id, document_id), principal_id
            if head is not None:
                break
    if head is None:
        raise not_found("document")
    resolutions, more = resolution_page(viewer, document_id, reading.DETAIL_RESOLUTIONS)
    approval = reading.round_of(document_id) if head[_ROUTED] else None
    # The actions are the user's own; a deputy acts in the principal's name through the acts themselves.
    actions = access.actions_for(user_id, head[_ROLES].split(), head[_OWNER], bool(head[_TASK]), approval) \
        if viewer == user_id else []
    return jsonify({
        **_head(head),
        "addressees": [_addressee(r) for r in reading.addressees(document_id)],
        "attachments": [_attachment(r) for r in reading.attachments(document_id)],
        "resolutions": [_resolution(r) for r in resolutions],
        "resolutions_next_cursor": more,
        "approval": _approval.dump(approvals.view(approval)) if approval else None,
        "actions": actions,
    })


@blp.route("/documents/<id:document_id>", methods=["GET"])
@etagged
@blp.response(200, DocumentDetailSchema)
def get_document(document_id):
    """A document with its attachments, resolutions and what the user may do now."""
    return detail(document_id)


def resolution_page(user_id: int, document_id: int, limit: int, cursor: str | None = None):
    """A page of the document's resolutions this user sees, oldest first, and the next page's cursor."""
    after = decode(cursor, int)[0] if cursor else 0
    rows = reading.resolutions(user_id, document_id, limit + 1, after)
    return page_of(rows, limit, lambda last: (last[0],))


@blp.route("/documents/<id:document_id>/resolutions", methods=["GET"])
@etagged
@blp.arguments(PageArgs(), location="query")
@blp.response(200, ResolutionPage)
def list_resolutions(args, document_id):
    """The document's resolutions this user sees, oldest first, a page at a time (the opened document
    shows the first page)."""
    if reading.opened(g.user_id, document_id) is None:
        raise not_found("document")
    rows, next_cursor = resolution_page(g.user_id, document_id, args["limit"], args.get("cursor"))
    return jsonify({"items": [_resolution(r) for r in rows], "next_cursor": next_cursor})


@blp.route("/documents/<id:document_id>/attachments/<id:attachment_id>", methods=["GET"])
@blp.response(200, description="The file (Range supported: 206)")
@serves_file("application/octet-stream", "application/pdf", "text/plain", "*/*")
def download(document_id, attachment_id):
    """An attachment's bytes, with ETag and Range."""
    att = access.get_attachment(g.user_id, document_id, attachment_id)
    return send_blob(att.sha256, att.mime, download_name=att.name, what="attachment")


# A page image or a file's text never changes at its URL's blob (ETag): the phone keeps it.
LONG_CACHE = "private, max-age=31536000, immutable"


def _language() -> str:
    return request.accept_languages.best_match(["ru", "en", "tt"], "ru").replace("tt", "ru")


@blp.route("/documents/<id:document_id>/attachments/<id:attachment_id>/pages", methods=["GET"])
@etagged
@blp.response(200, PagesSchema)
def attachment_pages(document_id, attachment_id):
    """The file's pages as the phone shows them: `processing` until the documents worker has prepared
    them, then `ready` with each page's size, or `failed` with the reason (Russian, or English by
    Accept-Language)."""
    prepared = pages.of_attachment(g.user_id, document_id, attachment_id)
    items = [{"n": p["n"], "width": p["width"], "height": p["height"],
              "widths": sorted(int(w) for w in p["images"])} for p in prepared.pages]
    answer = {"status": prepared.status, "count": len(items), "items": items}
    if prepared.status == pages.FAILED:
        answer.update(reason=pages.reason_text(prepared.reason, prepared.params, _language()),
                      reason_code=prepared.reason)
    return jsonify(answer)


@blp.route("/documents/<id:document_id>/attachments/<id:attachment_id>/pages/<id:n>", methods=["GET"])
@blp.arguments(PageImageArgs(), location="query")
@blp.response(200, description="The page as an image (WebP, or PNG where WebP was not available)")
@serves_file("image/webp", "image/png")
@errors("invalid_state")
def page_image(args, document_id, attachment_id, n):
    """A page at the prepared width nearest `width`; ETag, kept by the phone (private, long-lived)."""
    prepared = pages.of_attachment(g.user_id, document_id, attachment_id)
    blob, kind = pages.page_image(prepared, n, args.get("width"), _language())
    resp = send_blob(blob, kind, what="page")
    resp.headers["Cache-Control"] = LONG_CACHE
    return resp


@blp.route("/documents/<id:document_id>/attachments/<id:attachment_id>/text", methods=["GET"])
@blp.response(200, description="The file's text, UTF-8 (its text layer, or read from its images by OCR)")
@serves_file("text/plain")
@errors("invalid_state")
def attachment_text(document_id, attachment_id):
    """The file's text, once the documents worker has read it (409 before, or when it failed)."""
    prepared = pages.of_attachment(g.user_id, document_id, attachment_id)
    pages.ready(prepared, _language())
    resp = send_blob(prepared.text_sha256, "text/plain; charset=utf-8", what="text")
    resp.headers["Cache-Control"] = LONG_CACHE
    return resp


@blp.route("/documents", methods=["POST"])
@idempotent
@declare(requestBody={"required": True, "content": {"multipart/form-data": {
    "schema": DocumentForm, "encoding": {"metadata": {"contentType": "application/json"}}}}})
@blp.response(201, DocumentDetailSchema, headers=LOCATION)
@errors("forbidden", "payload_too_large", "unsupported_media_type", "malformed_json", "validation_failed")
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
                       field_errors(errors)) from None
    doc = documents.register(g.user, meta, request.files.getlist("file"))
    created = detail(doc.id)
    created.status_code = 201
    created.headers["Location"] = url_for("documents.get_document", document_id=doc.id)
    return created
