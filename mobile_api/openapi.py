"""The published contract (`GET /api/v1/openapi.json`): declared beside the views, finished by one plugin.

A view says what it takes and answers: flask-smorest's `arguments` and `response`, the error codes of
its rules (`errors`, names from `domain.errors.PROBLEMS`), and the decorators it wears document what
they do (`idempotent`, `etagged`, `versioned`, `serves_file`), each through `declare`. `ContractPlugin`
adds only what every operation shares: the bearer scheme, the problem answers with their codes, the
codes a declared body or query brings, 401 and 503, gunicorn's own refusals, and the links.
"""
from __future__ import annotations

import copy

from apispec import BasePlugin
from flask_smorest.utils import deepupdate

from domain.errors import PROBLEMS

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
BINARY = {"type": "string", "format": "binary"}

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
DESCRIPTIONS = {
    400: "Bad request", 401: "Missing, expired or revoked access token", 403: "Not allowed",
    404: "Not found, or not visible to this user (never 403 for that)", 409: "Conflict with the current state",
    410: "Gone", 413: "Payload too large", 415: "Unsupported media type", 416: "Range not satisfiable",
    422: "Validation failed", 429: "Too many requests", 503: "The database is unreachable; retry after a while",
}
HEADERS = {
    "Location": {"description": "where the created resource is read", "schema": {"type": "string"}},
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}},
    "WWW-Authenticate": {"description": "the bearer challenge", "schema": {"type": "string"}},
}
LOCATION = {"Location": "Location"}  # for `blp.response(..., headers=LOCATION)`

# What every operation shares, by what it declares.
AUTH_CODES = ("unauthorized", "invalid_token", "token_expired", "account_disabled")
JSON_BODY_CODES = ("malformed_json", "json_too_deep", "payload_too_large", "unsupported_media_type",
                   "validation_failed")
CURSOR_PARAMETERS = ("cursor", "since")


def declare(**fragment):
    """Decorator: merge an OpenAPI fragment into the view's operation, as flask-smorest's `Blueprint.doc`
    does, for the decorators of this app. Extensions it may carry, folded in by `ContractPlugin`:
    `x-codes` ({code: true}), `x-parameters` ({name: a parameter component's name}),
    `x-success-headers` ({name: header}) and `x-components` ({kind: {name: component}})."""

    def apply(view):
        view._apidoc = copy.deepcopy(getattr(view, "_apidoc", {}))
        view._apidoc["manual_doc"] = deepupdate(view._apidoc.get("manual_doc", {}), copy.deepcopy(fragment))
        return view

    return apply


def errors(*codes: str):
    """Decorator: the codes of the registry this view's rules may answer (beyond those every operation of
    its shape answers). An unknown code fails at import."""
    unknown = [code for code in codes if code not in PROBLEMS]
    if unknown:
        raise KeyError(f"codes missing from domain.errors.PROBLEMS: {', '.join(unknown)}")
    return declare(**{"x-codes": dict.fromkeys(codes, True)})


def binary_body(status: int, *media_types: str, **response):
    """Decorator: the answer at `status` is bytes of these media types (generators want concrete ones,
    so the usual types come before a catch-all)."""
    content = {kind: {"schema": dict(BINARY)} for kind in media_types}
    return declare(responses={status: {**response, "content": content}})


def _link(operation_id: str, **parameters: str) -> dict:
    return {"operationId": operation_id, "parameters": parameters}


# OpenAPI links: where the answer of one operation leads (schemathesis follows them statefully).
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
    ("approvals.waiting", 200): {"Decide": _link("approvals_decide", approval_id="$response.body#/items/0/id")},
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
    ("approvals.put_route", 200): {"Decide": _link("approvals_decide", approval_id="$response.body#/id")},
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
    ("voice.get_note", 200): {"GetAudio": _link("voice_audio", note_id="$response.body#/id")},
    ("devices.register", 201): {"DeleteDevice": _link("devices_unregister", device_id="$response.body#/id")},
    ("approvals.enrol", 201): {"RevokeKey": _link("approvals_revoke", key_id="$response.body#/id")},
    ("approvals.open_session", 201): {"Sign": _link("approvals_sign", session_id="$response.body#/id")},
    ("organization.create_template", 201): {
        "GetTemplate": _link("organization_get_template", template_id="$response.body#/id"),
        "UpdateTemplate": _link("organization_update_template", template_id="$response.body#/id"),
        "DeleteTemplate": _link("organization_delete_template", template_id="$response.body#/id"),
    },
}


def problem_response(status: int, codes: list[str]) -> dict:
    """A problem+json answer at `status` whose `code` is one of `codes`."""
    schema = {"allOf": [{"$ref": "#/components/schemas/Problem"},
                        {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}}]}
    title = DESCRIPTIONS.get(status, "Error")
    response = {"description": f"{title}: " + ", ".join(f"`{c}`" for c in codes),
                "content": {PROBLEM_TYPE: {"schema": schema, "example": {
                    "type": "about:blank", "title": title, "status": status, "detail": PROBLEMS[codes[0]].title,
                    "code": codes[0]}}}}
    headers = {}
    if status in (429, 503):
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if status == 401:
        headers["WWW-Authenticate"] = {"$ref": "#/components/headers/WWW-Authenticate"}
    if status == 416:
        headers["Content-Range"] = {"$ref": "#/components/headers/Content-Range"}
    if headers:
        response["headers"] = headers
    return response


class ContractPlugin(BasePlugin):
    """What every operation shares, added as flask-smorest registers each view's operations."""

    def init_spec(self, spec):
        super().init_spec(spec)
        self.spec = spec
        spec.components.schema("Problem", PROBLEM_SCHEMA)
        spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        spec.components.response("Problem", {"description": "Any other error, as problem+json",
                                             "content": {PROBLEM_TYPE: {"schema": "Problem"}}})
        spec.components.response("ServerLimit", {
            "description": "Refused by the HTTP server before the app (gunicorn's own page, not problem+json): "
                           "414 for a request line over 4094 bytes, 431 for a header over 8190 bytes or more "
                           "than 100 headers",
            "content": {"text/html": {"schema": {"type": "string"}}}})
        for name, header in HEADERS.items():
            spec.components.header(name, header)

    def _register(self, kind: str, name: str, component: dict) -> None:
        """A component a decorator's fragment brings (`x-components`), registered once."""
        components = self.spec.components
        if kind == "parameters" and name not in components.parameters:
            components.parameter(name, component.pop("in"), component)
        elif kind == "headers" and name not in components.headers:
            components.header(name, component)

    def operation_helper(self, path=None, operations=None, **kwargs):
        rule = kwargs.get("rule")
        if rule is None:
            return
        for op in operations.values():
            self._finish(op, rule.endpoint, "{" in (path or ""))

    def _finish(self, op: dict, endpoint: str, has_path_ids: bool) -> None:
        for kind, named in op.pop("x-components", {}).items():
            for name, component in named.items():
                self._register(kind, name, copy.deepcopy(component))
        op["operationId"] = endpoint.replace(".", "_")
        responses: dict[str, dict] = {}
        for status, response in op.get("responses", {}).items():  # flask-smorest's keys are numbers
            merged = responses.get(str(status))
            responses[str(status)] = deepupdate(merged, response) if isinstance(merged, dict) else response
        op["responses"] = responses
        responses.pop("default", None)
        responses.pop("422", None)  # flask-smorest's, with its own error shape
        codes = list(op.pop("x-codes", {}))
        public = op.get("security") == []
        op["security"] = [] if public else [{"bearerAuth": []}]
        if not public:
            codes += AUTH_CODES
        if has_path_ids:
            codes.append("not_found")
        params = op.setdefault("parameters", [])
        params += op.pop("x-parameters", {}).values()
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            codes += JSON_BODY_CODES
            if not self._required(body.get("schema", {})):
                op["requestBody"]["required"] = False  # nothing in it is required: an absent body is an empty one
        declared = [p for p in params if isinstance(p, dict)]  # the others name components
        if any(p.get("in") == "query" for p in declared):
            codes.append("validation_failed")
        if any(p.get("name") in CURSOR_PARAMETERS for p in declared):
            codes.append("invalid_cursor")
        if not (public and endpoint.startswith("ops.")):
            codes.append("database_unavailable")
        if not params:
            del op["parameters"]

        ok = next((s for s in ("200", "201", "202", "204") if s in responses), None)
        headers = op.pop("x-success-headers", {})
        if ok and headers:
            responses[ok].setdefault("headers", {}).update(headers)
        if ok and (links := LINKS.get((endpoint, int(ok)))):
            responses[ok]["links"] = copy.deepcopy(links)
        by_status: dict[int, list[str]] = {}
        for code in codes:
            bucket = by_status.setdefault(PROBLEMS[code].status, [])
            if code not in bucket:
                bucket.append(code)
        for status in sorted(by_status):
            responses[str(status)] = problem_response(status, by_status[status])
        responses["414"] = responses["431"] = {"$ref": "#/components/responses/ServerLimit"}
        responses["default"] = {"$ref": "#/components/responses/Problem"}

    def _required(self, schema: dict) -> list[str]:
        ref = schema.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            schema = self.spec.components.schemas.get(ref.rsplit("/", 1)[1], {})
        return schema.get("required", [])


def finish(spec: dict) -> dict:
    """The whole document's last touch: every property of an answer is always present (`required`), as
    the schemas dump them, but those left out where null (`omit_null`); flask-smorest's own error schemas
    go, problem+json replaces them."""
    spec["info"]["description"] = (
        "The contract the phone and tablet apps are built against. Every operation but sign-in, refresh and "
        "the operators' probes needs `Authorization: Bearer <access_token>`. Errors are "
        "`application/problem+json` (RFC 9457) with a stable string `code`; each response lists the codes "
        "that operation answers. Times are RFC 3339 in UTC; ids are opaque strings of digits.")
    schemas = spec["components"]["schemas"]
    schemas.pop("Error", None)
    schemas.pop("PaginationMetadata", None)
    spec["security"] = [{"bearerAuth": []}]
    for name in _answer_schemas(spec) - {"Problem"}:
        schema = schemas[name]
        if schema.get("type") == "object" and schema.get("properties"):
            schema["required"] = [key for key, prop in schema["properties"].items() if not prop.get("x-omit-null")]
    return spec


def _answer_schemas(spec: dict) -> set[str]:
    """Names of component schemas reachable from answers and never from requests."""
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
            if isinstance(op, dict):
                refs(op.get("responses"), out_names)
                refs(op.get("requestBody"), in_names)
                refs(op.get("parameters"), in_names)
    return out_names - in_names


def field_schema(converter, field, ret: dict, **kwargs) -> dict:
    """apispec attribute function: ids are strings of digits; user text says which characters it refuses; a
    nested schema that may be null is `allOf` its schema and `nullable` (what generators read as optional);
    an enum that may be null lists null; a field marked `omit_null` (left out of a dump where null) says
    so, and `finish` does not require it."""
    found = _field_schema(converter, field, ret)
    if field.allow_none and None not in ret.get("enum", [None]):
        found["enum"] = [*ret["enum"], None]  # OpenAPI 3.0: a nullable enum lists null, or generators refuse it
    return {**found, "x-omit-null": True} if field.metadata.get("omit_null") else found


def _field_schema(converter, field, ret: dict) -> dict:
    from .approvals.schemas import Base64  # the schemas import the app's blueprints: not at import time
    from .fields import Deadline, Id, Text, UtcTime
    from .voice.schemas import Language

    nested = ret.get("anyOf", [])
    if len(nested) == 2 and "$ref" in nested[0] and nested[1].get("nullable"):
        del ret["anyOf"]
        return {"allOf": nested[:1], "nullable": True}
    if isinstance(field, Language):
        return {"enum": converter.languages}
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
