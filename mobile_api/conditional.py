"""ETag and If-None-Match for reads that phones poll: an unchanged answer costs a 304; Range for files.

Two kinds of tag:
- `etagged`: a strong tag of the body. The page is built, then compared: it saves the network only.
- `versioned(version)` and `tag_page`: a weak tag made of a cheap per-user version (a couple of
  indexed lookups), checked *before* the view runs, so a 304 costs no page build at all; a page that
  is built reads the version in its own statement. When the version cannot vouch for the page (a
  change of the user's may still be committing), the body's own tag is used, as by `etagged`.
"""
import zlib
from functools import wraps
from typing import Callable

from flask import g, make_response, request

from .openapi import declare

# Bump when the representation of a versioned page changes, so old tags stop matching.
FORMAT = 1
NO_CACHE = "private, no-cache"

# What a conditional read adds to the contract: If-None-Match in, ETag out, 304 when it matches.
ETAG = {"$ref": "#/components/headers/ETag"}
conditional_doc = declare(**{
    "x-parameters": {"If-None-Match": "IfNoneMatch"},
    "x-success-headers": {"ETag": ETAG},
    "responses": {304: {"description": "Not modified: the ETag sent in If-None-Match still matches (no body)",
                          "headers": {"ETag": ETAG}}},
    "x-components": {
        "parameters": {"IfNoneMatch": {
            "in": "header", "name": "If-None-Match", "required": False,
            "description": "the ETag of the copy the app holds: an unchanged answer is `304` with no body",
            "schema": {"type": "string", "example": '"5d41402abc4b2a76b9719d911017c592"'}}},
        "headers": {"ETag": {"description": "strong validator of this answer; send it back in If-None-Match",
                             "schema": {"type": "string"}}},
    },
})


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

    return conditional_doc(wrapper)


def versioned(version: Callable[[], str | None]):
    """Answer 304 before building the page when If-None-Match names the user's current version.

    `version()` runs after authentication, only for a request that sends If-None-Match, and returns a
    string that changes whenever the page could, or None when it cannot say. A page that is built
    reads its own version with its rows and is tagged by `tag_page`."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if request.if_none_match:  # the phone holds a page: the version alone may answer
                current = version()
                if current is not None and request.if_none_match.contains_weak(_tag(current)):
                    return _tag_version(make_response("", 304), current)
            return view(*args, **kwargs)

        return conditional_doc(wrapper)

    return decorate


def tag_page(resp, version: str | None):
    """Tag a versioned view's page with the version read with it; by its body when there is none."""
    if version is None:
        return _tag_body(resp)
    if resp.status_code == 200:
        _tag_version(resp, version)
    return resp


def _tag(version: str) -> str:
    query = zlib.crc32(request.full_path.encode()) & 0xFFFFFFFF
    return f"{FORMAT}.{g.user_id}.{version}.{query:08x}"


def _tag_version(resp, version: str):
    # Written as they are (the tag is digits and dots): werkzeug's `set_etag` and `vary` parse and
    # quote first, and each header they find missing costs an exception.
    resp.headers["ETag"] = f'W/"{_tag(version)}"'
    resp.headers["Cache-Control"] = NO_CACHE
    resp.headers["Vary"] = "Authorization"  # a new answer: nothing else varies yet
    return resp
