"""The served document describes every route as the server answers it (what a generator relies on)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from domain.errors import PROBLEMS
from mobile_api import create_app
from mobile_api.openapi import errors
from mobile_api.voice.upload import _STATUS as AUDIO_STATUS
from signing.cms import Reason

ROOT = Path(__file__).resolve().parents[2]

PUBLIC = {"auth_login", "auth_refresh", "ops_healthz", "ops_readyz", "ops_metrics", "ca_crl"}
ACTING = {"resolutions_reviewed", "resolutions_issue", "tasks_complete", "approvals_decide", "approvals_sign",
          "voice_retry"}


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    resp = app.test_client().get("/api/v1/openapi.json")
    assert resp.status_code == 200
    return app, resp.get_json()


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def _deref(spec, node):
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = spec["components"][kind][name]
    return node


def test_every_route_of_the_app_is_documented(document):
    app, spec = document
    documented = {(path, method) for path, method, _ in _operations(spec)}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "api-docs.openapi_json") or rule.endpoint.startswith("console."):
            continue  # the review console's pages are for browsers, not generated clients
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)


def test_protected_operations_need_the_bearer_token_and_public_ones_do_not(document):
    _, spec = document
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer",
                                                                   "bearerFormat": "JWT"}
    for path, method, op in _operations(spec):
        if op["operationId"] in PUBLIC:
            assert op["security"] == [], op["operationId"]
        else:
            assert op["security"] == [{"bearerAuth": []}], op["operationId"]
            codes = _deref(spec, op["responses"]["401"])["content"]["application/problem+json"]["schema"]
            assert "invalid_token" in codes["allOf"][1]["properties"]["code"]["enum"]


def test_every_error_is_the_problem_the_server_sends_with_its_codes(document):
    _, spec = document
    problem = spec["components"]["schemas"]["Problem"]
    assert problem["properties"]["code"]["type"] == "string" and "Error" not in spec["components"]["schemas"]
    for path, method, op in _operations(spec):
        for status, response in op["responses"].items():
            if status == "default" or int(status) < 400 or status in ("414", "431"):
                continue  # 414 and 431 are gunicorn's own refusals, before the app
            schema = _deref(spec, response)["content"]["application/problem+json"]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}, (op["operationId"], status)
            assert schema["allOf"][1]["properties"]["code"]["enum"], (op["operationId"], status)
    issue = next(op for _, _, op in _operations(spec) if op["operationId"] == "resolutions_issue")
    conflict = issue["responses"]["409"]["content"]["application/problem+json"]["schema"]["allOf"][1]
    wanted = {"invalid_state", "idempotency_conflict", "signature_mismatch"}
    assert wanted <= set(conflict["properties"]["code"]["enum"])


def test_the_headers_the_contract_relies_on_are_declared(document):
    _, spec = document
    ops = {op["operationId"]: op for _, _, op in _operations(spec)}

    def params(op):
        return {_deref(spec, p)["name"] for p in op.get("parameters", [])}

    for name, op in ops.items():
        if name.split("_")[0] != "ops" and any(s in op["responses"] for s in ("201", "202")) or name in ACTING:
            assert "Idempotency-Key" in params(op), name
            assert "idempotency_conflict" in str(op["responses"]["409"]), name
    for name in ("inbox_list_inbox", "tasks_list_tasks", "documents_get_document", "voice_get_note"):
        assert "If-None-Match" in params(ops[name]) and "304" in ops[name]["responses"], name
        assert "ETag" in ops[name]["responses"]["200"]["headers"], name
    for name in ("documents_download", "voice_audio"):
        op = ops[name]
        assert {"Range", "If-None-Match"} <= params(op)
        assert {"200", "206", "304", "416"} <= set(op["responses"])
        assert "Content-Range" in op["responses"]["206"]["headers"]
        assert "Content-Range" in op["responses"]["416"]["headers"]
        assert all(schema["schema"]["format"] == "binary" for schema in op["responses"]["200"]["content"].values())
    assert "Retry-After" in ops["auth_login"]["responses"]["429"]["headers"]
    assert "Retry-After" in ops["inbox_list_inbox"]["responses"]["503"]["headers"]
    assert "Location" in ops["voice_upload"]["responses"]["202"]["headers"]
    assert ops["approvals_evidence"]["responses"]["200"]["content"].keys() == {"application/zip"}


def test_request_schemas_ids_and_enums_are_spelt_out(document):
    _, spec = document
    ops = {op["operationId"]: op for _, _, op in _operations(spec)}
    register = ops["documents_register"]["requestBody"]["content"]["multipart/form-data"]
    assert _deref(spec, register["schema"])["properties"]["metadata"] == {
        "$ref": "#/components/schemas/DocumentMetadataIn"}
    assert register["encoding"]["metadata"]["contentType"] == "application/json"
    schemas = spec["components"]["schemas"]
    assert schemas["DocumentMetadataIn"]["required"] == ["addressees", "correspondent", "title"]
    assert re.fullmatch(schemas["Resolution"]["properties"]["id"]["pattern"], "9007199254740993")
    assert schemas["Resolution"]["properties"]["status"]["enum"][:2] == ["transcribing", "awaiting_review"]
    assert schemas["InboxItem"]["properties"]["kind"]["enum"] == ["review", "resolution", "approval", "task", "info",
                                                                  "report", "extension"]
    assert set(schemas["Resolution"]["required"]) >= {"id", "status", "text", "executors", "voice_note_id"}
    path_ids = [p for item in spec["paths"].values() for p in item.get("parameters", []) if p["in"] == "path"]
    assert path_ids and all(p["schema"]["pattern"].startswith("^([1-9]") for p in path_ids)


def _raised_codes():
    """(status, code, where) of every ApiError(status, "code", ...) and conflict("code", ...) written in the code."""
    for folder in ("domain", "mobile_api", "signing", "transcription", "models"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                    continue
                args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if node.func.id == "ApiError" and len(args) >= 2 and isinstance(args[1], str):
                    yield args[0], args[1], where
                elif node.func.id == "conflict" and args and isinstance(args[0], str):
                    yield 409, args[0], where
                elif node.func.id == "_unauthorized" and args and isinstance(args[0], str):
                    yield 401, args[0], where


def test_every_code_raised_is_in_the_registry_with_its_status():
    raised = list(_raised_codes())
    assert len(raised) > 60  # the rules' refusals were found: a scan that found none would pass as vacuously
    for status, code, where in raised:
        assert code in PROBLEMS and status in (None, PROBLEMS[code].status), (code, status, where)
    # Codes passed on from other layers: the signature checker's reasons and the audio checks.
    for reason in Reason:
        assert reason is Reason.OK or PROBLEMS[reason.value].status == 422, reason
    for code, status in AUDIO_STATUS.items():
        assert PROBLEMS[code].status == status, code


def test_a_view_cannot_declare_a_code_the_registry_lacks():
    with pytest.raises(KeyError, match="no_such_code"):
        errors("invalid_state", "no_such_code")
