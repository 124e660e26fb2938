"""The published contract: one place that makes `GET /api/v1/openapi.json` say what the server really does.

flask-smorest describes the bodies from the marshmallow schemas that serialise them; this module adds
what only the whole app knows: the bearer scheme on every protected operation, every error as the
problem+json the server sends with the `code` values each operation can answer, the headers the
contract relies on (Idempotency-Key, If-None-Match/ETag/304, Range/206/416, Retry-After, Location),
binary media types, ids, and links between operations. Per-route facts that no decorator reveals live
in the tables below, keyed by endpoint name, so handlers stay untouched.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable

from flask import Flask

from .conditional import etagged, versioned
from .fields import Deadline, Id, Text, UtcTime
from .idempotency import idempotent

PROBLEM_TYPE = "application/problem+json"
# Ids are positive 64-bit keys spelt in digits (the pattern stops a little short of 2^63, which no key reaches).
ID_SCHEMA = {"type": "string", "pattern": "^([1-9][0-9]{0,17}|[1-8][0-9]{18})$", "example": "42",
             "description": "an opaque id (digits; compare as strings)"}
# User text: no control characters but newline and tab, no line or paragraph separators (and, unsaid here
# because JSON Schema regexes cannot name them, no lone surrogates).
_TEXT_CHAR = "[^\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029]"
_TEXT_WORD_CHAR = "[^\\s\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029]"
TEXT_PATTERN = f"^{_TEXT_CHAR}*$"
NONBLANK_TEXT_PATTERN = f"^{_TEXT_CHAR}*{_TEXT_WORD_CHAR}{_TEXT_CHAR}*$"
# RFC 3339 as the server reads it: an offset is required, years 2000-2200.
TIME_PATTERN = ("^(2[01][0-9]{2}|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
                "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
DATE_PATTERN = "^(2[01][0-9]{2}|2200)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
BASE64_PATTERN = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details. `code` is the stable machine word to branch on; "
                   "`detail` is for people.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "example": "about:blank"},
        "title": {"type": "string", "example": "Not found"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "example": 404},
        "detail": {"type": "string", "example": "No such document."},
        "code": {"type": "string", "example": "not_found"},
        "state": {"type": "string", "example": "issued",
                  "description": "on a 409 that lost a race or came too late: what the thing is now"},
        "errors": {"type": "object", "description": "validation messages by field",
                   "additionalProperties": {"type": "array", "items": {"type": "string"}},
                   "example": {"text": ["Missing data for required field."]}},
    },
}

# Codes any operation of a kind may answer, added from what the operation is.
AUTH_CODES = ["unauthorized", "invalid_token", "token_expired", "account_disabled"]
DESCRIPTIONS = {
    304: "Not modified: the ETag sent in If-None-Match still matches (no body)",
    400: "Bad request", 401: "Missing, expired or revoked access token", 403: "Not allowed",
    404: "Not found, or not visible to this user (never 403 for that)", 409: "Conflict with the current state",
    410: "Gone", 413: "Payload too large", 415: "Unsupported media type", 416: "Range not satisfiable",
    422: "Validation failed", 429: "Too many requests", 503: "The database is unreachable; retry after a while",
}

# Per-endpoint codes the rules may answer, beyond those the shape of the operation implies.
ROUTE_CODES: dict[str, dict[int, list[str]]] = {
    "auth.login": {401: ["invalid_credentials"], 429: ["rate_limited"]},
    "auth.refresh": {401: ["invalid_token", "token_reused", "token_expired"]},
    "documents.register": {403: ["forbidden"], 413: ["payload_too_large"], 415: ["unsupported_media_type"],
                           400: ["malformed_json"], 422: ["validation_failed"]},
    "resolutions.create": {403: ["forbidden"], 422: ["validation_failed", "signature_required"]},
    "resolutions.edit": {409: ["invalid_state"]},
    "resolutions.reviewed": {403: ["self_review"], 409: ["invalid_state"]},
    "resolutions.issue": {403: ["forbidden"], 409: ["invalid_state", "signature_missing", "signature_mismatch"],
                          422: ["validation_failed", "signing_session_mismatch", "signature_required"]},
    "tasks.complete": {409: ["invalid_state"]},
    "approvals.put_route": {403: ["forbidden"], 409: ["approval_in_progress"]},
    "approvals.decide": {409: ["approval_closed", "not_due", "session_used", "stale_version", "signature_mismatch",
                               "signature_missing"],
                         422: ["comment_required", "signature_required", "signing_session_mismatch"]},
    "approvals.enrol": {409: ["no_certificate_authority"],
                        422: ["csr_malformed", "csr_bad_signature", "csr_unsupported_key"]},
    "approvals.open_session": {409: ["invalid_state", "key_revoked", "key_expired", "approval_closed", "not_due",
                                     "no_certificate_authority"],
                               422: ["comment_required"]},
    "approvals.sign": {409: ["session_used", "key_revoked", "key_expired", "no_certificate_authority"],
                       410: ["session_expired"],
                       422: ["digest_mismatch", "bad_signature", "untrusted_issuer", "certificate_expired",
                             "certificate_revoked", "wrong_key_usage", "malformed"]},
    "approvals.report": {409: ["no_certificate_authority"]},
    "approvals.evidence": {409: ["no_certificate_authority"]},
    "approvals.add_attachment": {403: ["forbidden"], 413: ["payload_too_large"]},
    "voice.upload": {403: ["forbidden"], 413: ["payload_too_large"], 415: ["unsupported_audio"],
                     422: ["audio_too_long", "no_speech", "out_of_vocabulary"]},
    "voice.retry": {409: ["invalid_state"]},
    "ops.readyz": {503: ["not_ready"]},
    "organization.edit": {403: ["forbidden"]},
    "organization.create_template": {403: ["forbidden"], 409: ["template_exists", "too_many_templates"],
                                     422: ["out_of_vocabulary"]},
    "organization.update_template": {403: ["forbidden"], 409: ["template_exists"], 422: ["out_of_vocabulary"]},
    "organization.delete_template": {403: ["forbidden"]},
}

# POSTs that act on something (not only those that create): they honour Idempotency-Key too, and of two
# racing duplicates without a key one wins and the other answers 409 with the current `state`.
ACTING = {"resolutions.reviewed", "resolutions.issue", "tasks.complete", "approvals.decide", "approvals.sign",
          "voice.retry"}
# Routes that stream a stored file: ETag, Range (206/416), and the media type of the bytes.
# Generators want concrete media types, so the usual ones are named before the catch-all.
FILES = {"documents.download": ["application/octet-stream", "application/pdf", "text/plain", "*/*"],
         "voice.audio": ["audio/mp4", "audio/ogg", "audio/webm", "audio/mpeg", "audio/wav", "audio/aac", "audio/flac",
                         "audio/amr", "audio/3gpp", "application/octet-stream", "audio/*"]}
# Creating answers that say where the new resource is read.
LOCATED = {"documents.register", "resolutions.create", "voice.upload", "approvals.add_attachment",
           "organization.create_template"}
# Answers whose body no marshmallow schema describes.
RESPONSE_CONTENT = {
    ("approvals.evidence", "200"): {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    ("ops.metrics", "200"): {"text/plain": {"schema": {"type": "string"}}},
    ("ops.healthz", "200"): {"application/json": {"schema": {
        "type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}}}},
    ("ops.readyz", "200"): {"application/json": {"schema": {
        "type": "object", "required": ["status", "checks"], "properties": {
            "status": {"type": "string", "enum": ["ready"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string", "enum": ["ok"]}}}}}},
}
# OpenAPI links: where the answer of one operation leads (schemathesis follows them statefully).
def _link(operation_id: str, **parameters: str) -> dict:
    return {"operationId": operation_id, "parameters": parameters}


LINKS = {
    ("inbox.list_inbox", 200): {
        "GetDocument": _link("documents_get_document", document_id="$response.body#/items/0/document_id"),
        "MarkRead": _link("inbox_mark_read", item_id="$response.body#/items/0/id"),
        "Resolve": _link("resolutions_create", document_id="$response.body#/items/0/document_id"),
        "Dictate": _link("voice_upload", document_id="$response.body#/items/0/document_id"),
    },
    ("tasks.list_tasks", 200): {
        "CompleteTask": _link("tasks_complete", task_id="$response.body#/items/0/id"),
        "GetDocument": _link("documents_get_document", document_id="$response.body#/items/0/document_id"),
    },
    ("approvals.waiting", 200): {
        "Decide": _link("approvals_decide", approval_id="$response.body#/items/0/id"),
    },
    ("voice.review_queue", 200): {
        "GetResolution": _link("resolutions_get", resolution_id="$response.body#/items/0/id"),
        "MarkReviewed": _link("resolutions_reviewed", resolution_id="$response.body#/items/0/id"),
    },
    ("documents.get_document", 200): {
        "Download": _link("documents_download", document_id="$response.body#/id",
                          attachment_id="$response.body#/attachments/0/id"),
        "Signatures": _link("approvals_report", document_id="$response.body#/id"),
        "Evidence": _link("approvals_evidence", document_id="$response.body#/id"),
    },
    ("documents.register", 201): {
        "GetDocument": _link("documents_get_document", document_id="$response.body#/id"),
        "AddAttachment": _link("approvals_add_attachment", document_id="$response.body#/id"),
        "PutRoute": _link("approvals_put_route", document_id="$response.body#/id"),
    },
    ("approvals.put_route", 200): {
        "Decide": _link("approvals_decide", approval_id="$response.body#/id"),
    },
    ("resolutions.create", 201): {
        "GetResolution": _link("resolutions_get", resolution_id="$response.body#/id"),
        "EditResolution": _link("resolutions_edit", resolution_id="$response.body#/id"),
        "IssueResolution": _link("resolutions_issue", resolution_id="$response.body#/id"),
    },
    ("voice.upload", 202): {
        "GetVoiceNote": _link("voice_get_note", note_id="$response.body#/voice_note_id"),
        "GetAudio": _link("voice_audio", note_id="$response.body#/voice_note_id"),
        "GetDictatedResolution": _link("resolutions_get", resolution_id="$response.body#/resolution_id"),
    },
    ("voice.get_note", 200): {
        "GetAudio": _link("voice_audio", note_id="$response.body#/id"),
    },
    ("devices.register", 201): {
        "DeleteDevice": _link("devices_unregister", device_id="$response.body#/id"),
    },
    ("approvals.enrol", 201): {
        "RevokeKey": _link("approvals_revoke", key_id="$response.body#/id"),
    },
    ("approvals.open_session", 201): {
        "Sign": _link("approvals_sign", session_id="$response.body#/id"),
    },
    ("organization.create_template", 201): {
        "GetTemplate": _link("organization_get_template", template_id="$response.body#/id"),
        "UpdateTemplate": _link("organization_update_template", template_id="$response.body#/id"),
        "DeleteTemplate": _link("organization_delete_template", template_id="$response.body#/id"),
    },
}

def _request_bodies(app: Flask) -> dict[str, dict]:
    """Multipart bodies, described part by part (JSON parts with their schema and encoding)."""
    from domain.documents import MAX_FILES
    from domain.voice import MAX_PHRASE_CHARS, MAX_PHRASES
    from transcription.registry import model_paths

    binary = {"type": "string", "format": "binary"}
    phrase = {"type": "string", "minLength": 1, "maxLength": MAX_PHRASE_CHARS, "pattern": NONBLANK_TEXT_PATTERN}
    letter = {"metadata": {"$ref": "#/components/schemas/DocumentMetadataIn"},
              "file": {"type": "array", "items": binary, "minItems": 1, "maxItems": MAX_FILES,
                       "description": "the letter's files; one part per file"}}
    return {
        "documents.register": {"required": True, "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["metadata", "file"], "additionalProperties": False,
                       "properties": letter},
            "encoding": {"metadata": {"contentType": "application/json"}}}}},
        "voice.upload": {"required": True, "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["audio"], "additionalProperties": False, "properties": {
                "audio": {**binary, "description": "m4a/AAC, Ogg/Opus, WebM/Opus, MP3, WAV, FLAC, AMR...: "
                                                   "recognised from its bytes"},
                "language": {"type": "string", "enum": sorted(model_paths(app.config["VOSK_MODELS"])),
                             "description": "a configured model (GET /voice/languages); default VOICE_LANGUAGE"},
                "phrases": {"type": "array", "items": phrase, "minItems": 1, "maxItems": MAX_PHRASES,
                            "description": "recognise only these phrases, one part per phrase (a single part "
                                           "holding a JSON array is read too); every word must be in the "
                                           "model's vocabulary, else 422 out_of_vocabulary"}}}}}},
        "approvals.add_attachment": {"required": True, "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["file"], "additionalProperties": False,
                       "properties": {"file": binary}}}}},
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


# Properties whose marshmallow field (a function, a dict, a pre-dumped value) cannot say what it holds.
PROPERTY_PATCHES = {
    ("SessionOut", "subject"): _ref("SubjectOut"),
    ("SignatureOut", "subject"): _ref("SubjectOut"),
    ("SignatureReportItem", "subject"): _ref("SubjectOut"),
    ("DocumentDetail", "approval"): {"allOf": [_ref("Approval")], "nullable": True,
                                     "description": "the current approval round, if the document has one"},
    ("SyncOut", "inbox"): _ref("SyncInbox"),
    ("SyncOut", "tasks"): _ref("SyncTasks"),
}
EXTRA_SCHEMAS = {
    "SyncInbox": {"type": "object", "required": ["upserted", "removed"], "properties": {
        "upserted": {"type": "array", "items": _ref("InboxItem")},
        "removed": {"type": "array", "items": {"type": "string"}, "description": "ids of lines to drop"}}},
    "SyncTasks": {"type": "object", "required": ["upserted", "removed"], "properties": {
        "upserted": {"type": "array", "items": _ref("Task")},
        "removed": {"type": "array", "items": {"type": "string"}, "description": "ids of tasks to drop"}}},
}


HEADERS = {
    "ETag": {"description": "strong validator of this answer; send it back in If-None-Match",
             "schema": {"type": "string"}},
    "Location": {"description": "where the created resource is read", "schema": {"type": "string"}},
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}},
    "Content-Range": {"description": "`bytes first-last/size` (206) or `bytes */size` (416)",
                      "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "the bearer challenge", "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this is the remembered answer to a retried request",
                            "schema": {"type": "string"}},
}
PARAMETERS = {
    "IdempotencyKey": {
        "in": "header", "name": "Idempotency-Key", "required": False,
        "description": "Any string of 1-255 printable characters. The same key from the same user with the same "
                       "body replays the first answer and changes nothing; with another body it is "
                       "`409 idempotency_conflict`.",
        "schema": {"type": "string", "pattern": "^[!-~]([ -~]{0,253}[!-~])?$", "example": "8b1f0c4e-retry-1"},
    },
    "IfNoneMatch": {
        "in": "header", "name": "If-None-Match", "required": False,
        "description": "the ETag of the copy the app holds: an unchanged answer is `304` with no body",
        "schema": {"type": "string", "example": '"5d41402abc4b2a76b9719d911017c592"'},
    },
    "Range": {
        "in": "header", "name": "Range", "required": False,
        "description": "`bytes=first-last`: `206` with that part; outside the file `416` with "
                       "`Content-Range: bytes */size`; a malformed value is ignored (`200`, the whole file)",
        "schema": {"type": "string", "example": "bytes=0-1023"},
    },
}

_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _code_of(decorator: Callable) -> object:
    """The code object of the wrapper a decorator makes: how a view is recognised as wrapped by it."""
    return decorator(lambda: None).__code__


def _wrapped_by(view: Callable, decorator_code: object) -> bool:
    while view is not None:
        if getattr(view, "__code__", None) is decorator_code:
            return True
        view = getattr(view, "__wrapped__", None)
    return False


def _problem_response(status: int, codes: list[str], extra_headers: dict | None = None) -> dict:
    schema = {"allOf": [{"$ref": "#/components/schemas/Problem"},
                        {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}}]}
    response = {"description": f"{DESCRIPTIONS.get(status, 'Error')}: " + ", ".join(f"`{c}`" for c in codes),
                "content": {PROBLEM_TYPE: {"schema": schema, "example": {
                    "type": "about:blank", "title": DESCRIPTIONS.get(status, "Error"), "status": status,
                    "detail": "...", "code": codes[0]}}}}
    headers = dict(extra_headers or {})
    if status in (429, 503):
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if status == 401:
        headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWW-Authenticate"}
    if headers:
        response["headers"] = headers
    return response


def _add(codes: dict[int, list[str]], status: int, *words: str) -> None:
    bucket = codes.setdefault(status, [])
    for word in words:
        if word not in bucket:
            bucket.append(word)


def _required_fields(schema: dict, schemas: dict) -> list[str]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = schemas.get(ref.rsplit("/", 1)[1], {})
    return schema.get("required", [])


def _finish_operation(op: dict, endpoint: str, method: str, view: Callable, public: bool, path: str,
                      spec_schemas: dict) -> None:
    blueprint = endpoint.partition(".")[0]
    op["operationId"] = endpoint.replace(".", "_")
    responses = op.setdefault("responses", {})
    responses.pop("default", None)
    responses.pop("422", None)  # flask-smorest's, with its own error shape: rebuilt below
    codes: dict[int, list[str]] = {}
    if not public:
        op["security"] = [{"bearerAuth": []}]
        _add(codes, 401, *AUTH_CODES)
    else:
        op["security"] = []
    if "{" in path:
        _add(codes, 404, "not_found")
    body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if body_schema and not _required_fields(body_schema, spec_schemas):
        op["requestBody"]["required"] = False  # nothing in it is required: an absent body is an empty one
    params = op.setdefault("parameters", [])
    has_query = any(p.get("in") == "query" for p in params)
    json_body = "application/json" in op.get("requestBody", {}).get("content", {})
    if has_query or "requestBody" in op:
        _add(codes, 422, "validation_failed")
    if any(p.get("name") in ("cursor", "since") for p in params):
        _add(codes, 400, "invalid_cursor")
    if json_body:
        _add(codes, 400, "malformed_json")
        _add(codes, 413, "payload_too_large")
    if method == "post" and (endpoint in ACTING or _wrapped_by(view, _IDEMPOTENT)):
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
        _add(codes, 400, "invalid_idempotency_key")
        _add(codes, 409, "idempotency_conflict", "idempotency_in_progress")
    for status, words in ROUTE_CODES.get(endpoint, {}).items():
        _add(codes, status, *words)
    if not public or blueprint != "ops":
        _add(codes, 503, "database_unavailable")

    ok = next((s for s in ("200", "201", "202", "204") if s in responses), None)
    conditional = method == "get" and (_wrapped_by(view, _ETAGGED) or _wrapped_by(view, _VERSIONED)
                                       or endpoint in FILES)
    if conditional:
        params.append({"$ref": "#/components/parameters/IfNoneMatch"})
        responses["304"] = {"description": DESCRIPTIONS[304],
                            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}}}
        responses[ok].setdefault("headers", {})["ETag"] = {"$ref": "#/components/headers/ETag"}
    for (name, status), content in RESPONSE_CONTENT.items():
        if name == endpoint and status in responses:
            responses[status]["content"] = copy.deepcopy(content)
    if endpoint in FILES:
        media = {"schema": {"type": "string", "format": "binary"}}
        responses[ok]["content"] = {kind: copy.deepcopy(media) for kind in FILES[endpoint]}
        params.append({"$ref": "#/components/parameters/Range"})
        responses["206"] = {"description": "The requested part of the file",
                            "headers": {"Content-Range": {"$ref": "#/components/headers/Content-Range"},
                                        "ETag": {"$ref": "#/components/headers/ETag"}},
                            "content": {kind: copy.deepcopy(media) for kind in FILES[endpoint]}}
        codes[416] = ["range_not_satisfiable"]
    if endpoint in LOCATED:
        responses[ok].setdefault("headers", {})["Location"] = {"$ref": "#/components/headers/Location"}
    if method == "post" and any(p.get("$ref", "").endswith("IdempotencyKey") for p in params):
        responses[ok].setdefault("headers", {})["Idempotent-Replayed"] = {
            "$ref": "#/components/headers/Idempotent-Replayed"}
    if ok and (links := LINKS.get((endpoint, int(ok)))):
        responses[ok]["links"] = links
    for status in sorted(codes):
        extra = {"Content-Range": {"$ref": "#/components/headers/Content-Range"}} if status == 416 else None
        responses[str(status)] = _problem_response(status, codes[status], extra)
    responses["default"] = {"$ref": "#/components/responses/Problem"}


def _response_schemas(spec: dict) -> tuple[set[str], set[str]]:
    """Names of component schemas reachable from responses and from requests."""
    schemas = spec["components"]["schemas"]

    def refs(node, out: set[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in out:
                    out.add(name)
                    refs(schemas.get(name), out)
            for value in node.values():
                refs(value, out)
        elif isinstance(node, list):
            for value in node:
                refs(value, out)

    out_names: set[str] = set()
    in_names: set[str] = set()
    for ops in spec["paths"].values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            refs(op.get("responses"), out_names)
            refs(op.get("requestBody"), in_names)
            refs(op.get("parameters"), in_names)
    return out_names - in_names, in_names


def document(app: Flask, apispec) -> dict:
    """The served OpenAPI document: flask-smorest's, made true in one pass."""
    from .approvals.schemas import SubjectOut
    from .schemas import DocumentMetadataIn

    for name, schema in (("DocumentMetadataIn", DocumentMetadataIn), ("SubjectOut", SubjectOut)):
        if name not in apispec.components.schemas:
            apispec.components.schema(name, schema=schema)
    spec = copy.deepcopy(apispec.to_dict())
    spec["info"]["description"] = (
        "The contract the phone and tablet apps are built against. Every operation but sign-in, refresh and "
        "the operators' probes needs `Authorization: Bearer <access_token>`. Errors are "
        "`application/problem+json` (RFC 9457) with a stable string `code`; each response lists the codes "
        "that operation answers. Times are RFC 3339 in UTC; ids are opaque strings of digits.")
    components = spec.setdefault("components", {})
    components.get("schemas", {}).pop("Error", None)
    components.get("schemas", {}).pop("PaginationMetadata", None)
    components["schemas"]["Problem"] = PROBLEM_SCHEMA
    components["schemas"].update(copy.deepcopy(EXTRA_SCHEMAS))
    for (schema, prop), value in PROPERTY_PATCHES.items():
        if prop in components["schemas"].get(schema, {}).get("properties", {}):
            components["schemas"][schema]["properties"][prop] = copy.deepcopy(value)
    components["schemas"].pop("SyncPart", None)
    components["responses"] = {"Problem": {
        "description": "Any other error, as problem+json",
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}}
    components["headers"] = copy.deepcopy(HEADERS)
    components["parameters"] = copy.deepcopy(PARAMETERS)
    spec["security"] = [{"bearerAuth": []}]

    bodies = _request_bodies(app)
    views = {}
    for rule in app.url_map.iter_rules():
        path = _RULE_ARG.sub(r"{\1}", rule.rule)
        for method in rule.methods or ():
            views[(path, method.lower())] = rule.endpoint
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters" or not isinstance(op, dict):
                continue
            endpoint = views.get((path, method))
            if endpoint is None:
                continue
            public = op.get("security") == []
            if endpoint in bodies:
                op["requestBody"] = bodies[endpoint]
            _finish_operation(op, endpoint, method, app.view_functions[endpoint], public, path,
                              components["schemas"])
        for param in ops.get("parameters", []):
            if param.get("in") == "path" and param["schema"].get("pattern") == "^[0-9]{1,19}$":
                param["schema"] = dict(ID_SCHEMA)
    required_out, _ = _response_schemas(spec)
    for name in required_out - {"Problem"}:
        schema = components["schemas"][name]
        if schema.get("type") == "object" and schema.get("properties"):
            schema["required"] = list(schema["properties"])
    return spec


def field_schema(converter, field, **kwargs) -> dict:
    """apispec attribute function: ids are strings of digits; user text says which characters it refuses."""
    from .approvals.schemas import Base64  # the schemas import the app's blueprints: not at import time

    if isinstance(field, Id):
        return dict(ID_SCHEMA)
    if isinstance(field, Text) and "pattern" not in field.metadata:
        return {"pattern": TEXT_PATTERN}
    if isinstance(field, UtcTime):
        return {"pattern": TIME_PATTERN, "example": "2026-11-25T09:30:00Z"}
    if isinstance(field, Deadline):
        return {"type": "string", "pattern": f"{TIME_PATTERN}|{DATE_PATTERN}", "example": "2026-12-10",
                "description": "an RFC 3339 time, or a date: the end of that day in the organization's time zone"}
    if isinstance(field, Base64):
        return {"format": "byte", "pattern": BASE64_PATTERN}
    return {}


_IDEMPOTENT = _code_of(idempotent)
_ETAGGED = _code_of(etagged)
_VERSIONED = _code_of(versioned(lambda: None))
