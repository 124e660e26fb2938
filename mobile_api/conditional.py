"""ETag and If-None-Match for reads that phones poll: an unchanged answer costs a 304; Range for files.

Two kinds of tag:
- `etagged`: a strong tag of the body. The page is built, then compared: it saves the network only.
- `versioned(version)`: a weak tag made of a cheap per-user version (a couple of indexed lookups),
  checked *before* the view runs, so a 304 costs no page build at all. When the version cannot
  vouch for the page (a change of the user's may still be committing), it falls back to `etagged`.
"""
import zlib
from functools import wraps
from typing import Callable

from flask import g, make_response, request

# Bump when the representation of a versioned page changes, so old tags stop matching.
FORMAT = 1
NO_CACHE = "private, no-cache"


def _tag_body(resp):
    if resp.status_code == 200 and not resp.direct_passthrough:
        resp.add_etag()
        resp.headers["Cache-Control"] = NO_CACHE
        resp.make_conditional(request)
    return resp


def etagged(view):
    """Tag 200 answers with a strong ETag of their body; a matching If-None-Match gets 304."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        return _tag_body(make_response(view(*args, **kwargs)))

    return wrapper


def versioned(version: Callable[[], str | None]):
    """Answer 304 before building the page when the user's version and the query are unchanged.

    `version()` runs after authentication and returns a string that changes whenever the page could,
    or None when it cannot say (then the body's own tag is used)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            current = version()
            if current is None:
                return _tag_body(make_response(view(*args, **kwargs)))
            query = zlib.crc32(request.full_path.encode()) & 0xFFFFFFFF
            tag = f"{FORMAT}.{g.user_id}.{current}.{query:08x}"
            if request.if_none_match.contains_weak(tag):
                resp = make_response("", 304)
            else:
                resp = make_response(view(*args, **kwargs))
                if resp.status_code != 200:
                    return resp
            resp.set_etag(tag, weak=True)
            resp.headers["Cache-Control"] = NO_CACHE
            resp.vary.add("Authorization")
            return resp

        return wrapper

    return decorate
