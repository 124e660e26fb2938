"""ETag and If-None-Match for reads that phones poll: an unchanged answer costs a 304."""
from functools import wraps

from flask import make_response, request


def etagged(view):
    """Tag 200 answers with a strong ETag of their body; a matching If-None-Match gets 304."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        resp = make_response(view(*args, **kwargs))
        if resp.status_code == 200 and not resp.direct_passthrough:
            resp.add_etag()
            resp.headers["Cache-Control"] = "private, no-cache"
            resp.make_conditional(request)
        return resp

    return wrapper
