"""Serving stored files: from a stream of whichever blob store is configured, with ETag and Range."""
from flask import request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from models.blobstore import BlobNotFound, blobs

from .errors import not_found


def send_blob(sha256: str, mimetype: str, download_name: str | None = None, what: str = "file"):
    """The blob's bytes; 304 on a matching If-None-Match, 206 for a Range, 416 for one past the end."""
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
