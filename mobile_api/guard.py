"""Refuse bad requests before any handler sees them: oversized, endlessly nested or NUL-carrying bodies.

Runs first on every request. Each check is cheap on the common path (a few C-level byte scans);
the full walk of a JSON document only happens when a cheap scan says it could be needed.

A refused request's body is read to its end after the answer is sent (`drain`): gunicorn drops
only 64 KB of an unread body before the next request on a kept-alive connection, then closes the
connection it has already announced as kept alive, and the phone's next request on it fails.
"""
import json
import time
from typing import NamedTuple

from flask import Flask, current_app, request

from .errors import ApiError

# Deeper than any body of the contract needs; also far below Python's recursion limit.
MAX_JSON_DEPTH = 32
_NUL_ESCAPE = b"\\u0000"
_JSON_TYPES = ("application/json",)


def _is_json() -> bool:
    mimetype = request.mimetype
    return mimetype in _JSON_TYPES or mimetype.endswith("+json")


def _nul_refused(where: str) -> ApiError:
    return ApiError(422, "validation_failed", "The request did not pass validation.",
                    {where: ["NUL characters are not allowed in text."]})


def _walk(document) -> bool:
    """Check depth and look for NUL in one pass without recursion; True when a NUL is found."""
    stack = [(document, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        value, depth = pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise ApiError(400, "json_too_deep", f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep.")
            if isinstance(value, dict):
                for key, item in value.items():
                    if "\x00" in key:
                        return True
                    push((item, depth + 1))
            else:
                for item in value:
                    push((item, depth + 1))
    return False


def _nul_path(value, path: str = "") -> str | None:
    """Where the NUL is, for the error message (only called once one was found; depth is bounded)."""
    if isinstance(value, str):
        return (path or "_schema") if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        name = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and "\x00" in key:
            return name.replace("\x00", "")
        found = _nul_path(item, name)
        if found:
            return found
    return None


def _check_json_body(limit: int) -> None:
    # A chunked body has no Content-Length: the limit is enforced while reading (413 past it),
    # so an endless or oversized body is never read whole into memory.
    # One byte more than the limit is let through the stream, because reading stops quietly at the
    # stream's limit: a body that reached limit + 1 is known to be over it.
    request.max_content_length = limit + 1
    body = request.get_data(cache=True)
    if len(body) > limit:
        raise ApiError(413, "payload_too_large", f"JSON bodies are limited to {limit} bytes.")
    if not body:
        return
    could_nest = body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    if not could_nest and _NUL_ESCAPE not in body:
        return
    try:
        document = json.loads(body)
    except RecursionError:
        raise ApiError(400, "json_too_deep", f"JSON may be nested at most {MAX_JSON_DEPTH} levels deep.") from None
    except ValueError:
        return  # malformed JSON: the argument parser answers 400 malformed_json
    if _walk(document):
        raise _nul_refused(_nul_path(document))


class Takes(NamedTuple):
    """What an API view declares it reads (flask-smorest's `arguments`, a declared multipart body): the
    checks of what it does not read are not made, so it answers only the codes its contract lists."""
    json: bool
    query: bool
    form: bool
    declared: bool = True  # False: a page of the console, not an API operation, and every check applies


_EVERYTHING = Takes(True, True, True, declared=False)


def takes(endpoint: str | None) -> Takes | None:
    """What the endpoint's view reads; None for no endpoint (the answer is 404 or 405)."""
    if endpoint is None:
        return None
    known = current_app.extensions.setdefault("guard_takes", {})
    found = known.get(endpoint)
    if found is None:
        doc = getattr(current_app.view_functions.get(endpoint), "_apidoc", None)
        if doc is None:
            found = _EVERYTHING
        else:
            locations = {p.get("in") for p in doc.get("arguments", {}).get("parameters", ())}
            body = doc.get("manual_doc", {}).get("requestBody", {}).get("content", {})
            found = Takes("json" in locations, "query" in locations, "multipart/form-data" in body)
        known[endpoint] = found
    return found


def _check_media_type() -> None:
    """A view that reads a JSON body refuses any other (a form, text, bytes without a type): read as JSON
    it would be an empty object, and a PATCH would answer 200 having changed nothing."""
    environ, view = request.environ, takes(request.endpoint)
    typed = "CONTENT_TYPE" in environ
    if view is not None and view.declared and view.json and (typed or _has_body(environ)) \
            and not (typed and _is_json()):
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")


def _check_form() -> None:
    if "CONTENT_TYPE" in request.environ and request.mimetype in ("multipart/form-data",
                                                                   "application/x-www-form-urlencoded") \
            and getattr(takes(request.endpoint), "form", False):
        for name, value in request.form.items(multi=True):
            if "\x00" in value or "\x00" in name:
                raise _nul_refused(name.replace("\x00", "") or "_form")


# How long a refused body may take to arrive after its answer, before the connection is given up.
DRAIN_S = 10.0
_DRAIN_CHUNK = 64 * 1024


def drain(environ: dict, limit: int, seconds: float = DRAIN_S) -> bool:
    """Read and drop what is left of the request's body, at most `limit` bytes and `seconds`; True
    when it ended. Only a server that ends the input stream itself (`wsgi.input_terminated`: gunicorn,
    werkzeug's chunked bodies) is drained; reading another's past its body would wait for ever."""
    if not environ.get("wsgi.input_terminated"):
        return False
    stream, sock = environ["wsgi.input"], environ.get("gunicorn.socket")
    deadline, read = time.monotonic() + seconds, 0
    before = sock.gettimeout() if sock is not None else None
    try:
        while read <= limit:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if sock is not None:
                sock.settimeout(left)  # a client that stops sending holds the thread no longer
            chunk = stream.read(_DRAIN_CHUNK)
            if not chunk:
                return True
            read += len(chunk)
        return False
    except (OSError, ValueError):  # timed out, reset, or a malformed chunk: the server closes
        return False
    finally:
        if sock is not None:
            try:
                sock.settimeout(before)
            except OSError:
                pass


def _has_body(environ: dict) -> bool:
    return environ.get("CONTENT_LENGTH", "0") not in ("", "0") or "HTTP_TRANSFER_ENCODING" in environ


def install(app: Flask) -> None:
    """Checks of the body and query, first on every request; refused bodies drained after the answer."""
    limit = app.config["MAX_CONTENT_LENGTH"]

    @app.after_request
    def _drain_refused(resp):
        # After the answer has gone out (the response's close), so the phone reads its refusal at once.
        # A body that says it is longer than any the API takes is not read, nor that of a client that
        # closes the connection after this request: the server closes it.
        environ = request.environ
        if resp.status_code >= 400 and _has_body(environ) and (request.content_length or 0) <= limit \
                and environ.get("HTTP_CONNECTION", "").lower() != "close":
            resp.call_on_close(lambda: drain(environ, limit))
        return resp

    @app.before_request
    def _guard_request():
        # A polled GET has neither a body nor, often, a query: its headers are not even parsed for them.
        environ = request.environ
        if "CONTENT_TYPE" in environ and _is_json() and getattr(takes(request.endpoint), "json", False):
            _check_json_body(app.config["MAX_JSON_BYTES"])
        if environ.get("QUERY_STRING") and getattr(takes(request.endpoint), "query", False):
            for name, value in request.args.items(multi=True):
                if "\x00" in value or "\x00" in name:
                    raise _nul_refused(name.replace("\x00", "") or "_query")


def install_form_check(app: Flask) -> None:
    """The body's type and form fields are checked after each blueprint's own checks (authentication):
    parsing a form reads the whole upload, which a caller who is not signed in must not be able to make
    us do."""
    for name in app.blueprints:
        app.before_request_funcs.setdefault(name, []).extend((_check_media_type, _check_form))
