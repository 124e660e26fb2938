"""Every error leaves as application/problem+json (RFC 9457) with a stable `code`."""
import logging

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from domain.errors import (  # noqa: F401  (re-exported for the routes)
    ApiError,
    not_found,
)
from models import db
from models.queue import DATABASE_DOWN

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
# The database answered but gave up on this transaction: its lock_timeout (lock_not_available) or
# statement_timeout (query_canceled) ran out, or it broke a deadlock or a serialization conflict.
BUSY = ("55P03", "57014", "40P01", "40001")
CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 410: "gone", 413: "payload_too_large", 415: "unsupported_media_type",
    416: "range_not_satisfiable", 422: "validation_failed", 429: "rate_limited", 500: "internal_error",
    503: "unavailable",
}
TITLES = {
    400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Payload too large", 415: "Unsupported media type",
    416: "Range not satisfiable", 422: "Validation failed", 429: "Too many requests", 500: "Internal error",
    503: "Service unavailable",
}


def problem(status: int, code: str | None = None, detail: str | None = None,
            errors: dict | None = None, headers: dict | None = None, extra: dict | None = None) -> Response:
    """Build a problem+json response; `extra` adds members (never replacing the standard ones)."""
    body = {
        **(extra or {}),
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail or TITLES.get(status, "Error"),
        "code": code or CODES.get(status, "error"),
    }
    if errors:
        body["errors"] = errors
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _flatten(messages) -> dict:
    """webargs nests messages by location ({"json": {...}}); clients want {field: [msg]}."""
    if isinstance(messages, dict) and len(messages) == 1:
        (loc, inner), = messages.items()
        if loc in ("json", "query", "form", "files", "headers", "view_args") and isinstance(inner, dict):
            return _flatten_fields(inner)
    return _flatten_fields(messages) if isinstance(messages, dict) else {"_schema": [str(messages)]}


def field_errors(messages) -> dict[str, list[str]]:
    """A schema's messages as the problem's `errors`: {"executors.0": ["Not a valid id."]}, never a
    nested structure printed as text."""
    return _flatten_fields(messages) if isinstance(messages, dict) else {"_schema": [str(m) for m in messages]}


def _flatten_fields(messages: dict, prefix: str = "") -> dict:
    out: dict[str, list[str]] = {}
    for field, value in messages.items():
        name = f"{prefix}{field}"
        if isinstance(value, dict):
            out.update(_flatten_fields(value, f"{name}."))
        else:
            out[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return out


def http_exception_response(exc: HTTPException) -> Response:
    """Render werkzeug and flask-smorest HTTP errors as problems."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if status == 416 and getattr(exc, "length", None) is not None:
        headers["Content-Range"] = f"{exc.units} */{exc.length}"  # RFC 9110: the size, so the client can retry
    if status == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    messages = data.get("messages")
    if status == 400 and "Invalid JSON body." in str(messages or exc.description):
        return problem(400, "malformed_json", "The body is not valid JSON.", headers=headers)
    if messages:  # marshmallow / webargs validation
        return problem(422 if status == 422 else status, "validation_failed",
                       "The request did not pass validation.", _flatten(messages), headers)
    detail = exc.description if status < 500 else None
    if status == 429:
        detail = "Too many attempts; try again later."
    return problem(status, CODES.get(status), detail, headers=headers)


def register(app: Flask) -> None:
    """Install the handlers on the app."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        db.session.rollback()
        return problem(exc.status, exc.code, exc.detail, exc.errors, exc.headers, exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        db.session.rollback()
        return http_exception_response(exc)

    def _database_unavailable(exc: Exception):
        # The pool's dead connections are dropped here; models.liveness checks the rest on checkout,
        # so the first request after the database is back simply works.
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection is already gone
            pass
        retry_after = str(app.config.get("DATABASE_RETRY_AFTER_S", 5))
        if getattr(getattr(exc, "orig", None), "sqlstate", None) in BUSY:
            # The same retry helps, and saying the database is unreachable would send operators the wrong way.
            log.warning("database busy: %s", str(exc.orig).splitlines()[0])
            return problem(503, "database_unavailable", "The database is busy at the moment. Try again shortly.",
                           headers={"Retry-After": "1"})
        log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return problem(503, "database_unavailable",
                       "The database cannot be reached at the moment. Try again shortly.",
                       headers={"Retry-After": retry_after})

    for error_class in DATABASE_DOWN:
        app.register_error_handler(error_class, _database_unavailable)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return problem(500, "internal_error", "Something went wrong on our side; it has been logged.")
