"""Serving stored files: from a stream of whichever blob store is configured, with ETag and Range."""
from flask import request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import parse_range_header

from models.blobstore import BlobNotFound, blobs

from .errors import not_found


def send_blob(sha256: str, mimetype: str, download_name: str | None = None, what: str = "file"):
    """The blob's bytes; 304 on a matching If-None-Match, 206 for a Range, 416 for one past the end."""
    _ignore_unserved_range()
    try:
        stream = blobs().open(sha256)
    except BlobNotFound:
        raise not_found(what) from None
    resp = send_file(stream, mimetype=mimetype, download_name=download_name, etag=sha256, conditional=False,
                     max_age=0)
    resp.content_length = stream.size
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
