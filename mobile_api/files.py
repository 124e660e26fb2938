"""Serving stored files: from a stream of whichever blob store is configured, with ETag and Range.

Files come from people (a clerk's upload, a phone's recording) and are served on the product's own
origin, so they are never active content there: only types a browser shows without running anything
keep the type their uploader declared (anything else, HTML, SVG or a script among them, is served as
bytes), the browser is told not to guess another (`nosniff`, which also stops a `<script>` or a
stylesheet from loading one), attachments come as downloads, and every file answer carries a
sandboxing CSP, so even a file opened on its own runs in an origin of its own with no script.
"""
from flask import request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

from models.blobstore import BlobNotFound, blobs

from .conditional import conditional_doc
from .errors import not_found
from .openapi import BINARY, declare


def serves_file(*media_types: str):
    """Decorator of a view answering with `send_blob`: documents its bytes (these media types; generators
    want concrete ones, so the usual types come before a catch-all), ETag and 304, Range, 206 and 416."""
    content = {kind: {"schema": dict(BINARY)} for kind in media_types}
    content_range = {"$ref": "#/components/headers/Content-Range"}
    ranged = declare(**{
        "x-parameters": {"Range": "Range"},
        "x-codes": {"range_not_satisfiable": True},
        "responses": {
            200: {"content": content},
            206: {"description": "The requested part of the file", "content": content,
                    "headers": {"Content-Range": content_range, "ETag": {"$ref": "#/components/headers/ETag"}}}},
        "x-components": {
            "parameters": {"Range": {
                "in": "header", "name": "Range", "required": False,
                "description": "`bytes=first-last`: `206` with that part; outside the file `416` with "
                               "`Content-Range: bytes */size`; a malformed value is ignored (`200`, the whole file)",
                "schema": {"type": "string", "example": "bytes=0-1023"}}},
            "headers": {"Content-Range": {"description": "`bytes first-last/size` (206) or `bytes */size` (416)",
                                          "schema": {"type": "string"}}},
        },
    })
    return lambda view: conditional_doc(ranged(view))

FILE_CSP = "sandbox; default-src 'none'"
# What a browser displays but never runs, beside audio/* and video/*.
PASSIVE_TYPES = frozenset({
    "application/pdf", "text/plain", "text/csv", "image/jpeg", "image/png", "image/gif", "image/tiff", "image/webp",
    "image/bmp", "application/zip", "application/rtf", "application/msword", "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
})


def served_type(declared: str) -> str:
    """The Content-Type a stored file is served with: its declared one if passive, else plain bytes."""
    base = declared.split(";", 1)[0].strip().lower()
    if base in PASSIVE_TYPES or base.startswith(("audio/", "video/")):
        return declared
    return "application/octet-stream"


def send_blob(sha256: str, mimetype: str, download_name: str | None = None, what: str = "file"):
    """The blob's bytes (a download when it has a name); 304 on a matching If-None-Match, 206 for a
    Range, 416 for one past the end."""
    _ignore_unserved_range()
    try:
        stream = blobs().open(sha256)
    except BlobNotFound:
        raise not_found(what) from None
    resp = send_file(stream, mimetype=served_type(mimetype), download_name=download_name,
                     as_attachment=download_name is not None, etag=sha256, conditional=False, max_age=0)
    resp.content_length = stream.size
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = FILE_CSP
    try:
        return resp.make_conditional(request.environ, accept_ranges=True, complete_length=stream.size)
    except RequestedRangeNotSatisfiable:
        stream.close()
        raise


def _ignore_unserved_range() -> None:
    """One byte range is served; a malformed Range, another unit or several ranges are ignored and the
    whole file is sent (RFC 9110 §14.2 lets a server ignore what it does not serve; werkzeug would 416)."""
    raw = request.environ.get("HTTP_RANGE")
    if raw is not None:
        parsed = parse_range_header(raw)
        if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
            del request.environ["HTTP_RANGE"]
