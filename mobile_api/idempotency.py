"""Idempotency-Key on POSTs that create or act: a retry replays the first answer and does nothing again.

A key is claimed in a short transaction of its own before the request runs (the primary key of
`idempotent_responses` makes the claim race-free on every database); the request's work and its
remembered answer then commit together. A twin arriving while the first still runs waits for that
answer and replays it, or, if it takes too long, gets `409 idempotency_in_progress` with
`Retry-After`. A request that fails (4xx, 5xx, a crash) releases its claim, so the retry runs.
"""
import hashlib
import json
import logging
import secrets
import time
from datetime import timedelta
from functools import wraps

import sqlalchemy as sa
from flask import Response, current_app, g, make_response, request
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from models import IdempotentResponse, db, utcnow

from .errors import ApiError

log = logging.getLogger(__name__)

POLL_S = 0.05
# A claim older than this was left by a process that died mid-request (gunicorn kills a request
# after 60 s): the next retry takes it over.
ABANDONED_AFTER = timedelta(seconds=120)


def _fingerprint() -> str:
    """What makes two requests 'the same body'; multipart boundaries differ between retries, so
    uploads are compared by their fields and the SHA-256 of each file instead of raw bytes."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.mimetype == "multipart/form-data":
        parts = sorted((k, v) for k, v in request.form.items(multi=True))
        digest.update(json.dumps(parts, ensure_ascii=False).encode())
        for name, upload in sorted(request.files.items(multi=True), key=lambda kv: kv[0]):
            file_hash = hashlib.sha256()
            while chunk := upload.stream.read(1024 * 1024):
                file_hash.update(chunk)
            upload.stream.seek(0)
            digest.update(f"{name}:{upload.filename}:{file_hash.hexdigest()}\n".encode())
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(saved: IdempotentResponse) -> Response:
    resp = Response(saved.body, status=saved.status, content_type=saved.content_type)
    if saved.location:
        resp.headers["Location"] = saved.location
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def _in_progress() -> ApiError:
    return ApiError(409, "idempotency_in_progress",
                    "A request with this Idempotency-Key is still being processed; retry shortly.",
                    headers={"Retry-After": "1"})


def _where(key: str):
    return sa.and_(IdempotentResponse.user_id == g.user_id, IdempotentResponse.key == key)


def _claim(key: str, fingerprint: str) -> str | Response:
    """Claim the key for this request (returns the claim token), or the first request's answer."""
    deadline = time.monotonic() + current_app.config["IDEMPOTENCY_WAIT_S"]
    while True:
        saved = db.session.get(IdempotentResponse, (g.user_id, key), populate_existing=True)
        if saved is None:
            token = secrets.token_hex(16)
            db.session.add(IdempotentResponse(user_id=g.user_id, key=key, request_hash=fingerprint, claim=token))
            try:
                db.session.commit()
                return token
            except IntegrityError:  # a twin claimed it between our read and our insert
                db.session.rollback()
                continue
        if saved.request_hash != fingerprint:
            raise ApiError(409, "idempotency_conflict",
                           "This Idempotency-Key was already used with a different request.")
        if saved.status is not None:
            return _replay(saved)
        if saved.created_at < utcnow() - ABANDONED_AFTER:
            token = secrets.token_hex(16)
            taken = db.session.execute(sa.update(IdempotentResponse).where(
                _where(key), IdempotentResponse.claim == saved.claim).values(claim=token, created_at=utcnow()))
            db.session.commit()
            if taken.rowcount == 1:
                return token
            continue
        db.session.rollback()  # hand the connection back while we wait
        if time.monotonic() >= deadline:
            raise _in_progress()
        time.sleep(POLL_S)


def _release(key: str, token: str) -> None:
    """Forget a claim whose request failed, so that a retry runs it afresh."""
    try:
        db.session.rollback()
        db.session.execute(sa.delete(IdempotentResponse).where(_where(key), IdempotentResponse.claim == token))
        db.session.commit()
    except SQLAlchemyError:
        # The database itself failed; the claim is taken over once it counts as abandoned.
        db.session.rollback()
        log.warning("could not release Idempotency-Key claim of user %s", g.user_id, exc_info=True)


def idempotent(view):
    """Wrap a POST that creates or acts: commit its work together with the remembered response."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            resp = make_response(view(*args, **kwargs))
            db.session.commit()
            return resp
        if not 1 <= len(key) <= 255 or not key.isprintable():
            raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable characters.")
        claimed = _claim(key, _fingerprint())
        if isinstance(claimed, Response):
            return claimed
        try:
            resp = make_response(view(*args, **kwargs))
        except BaseException:
            _release(key, claimed)
            raise
        if not 200 <= resp.status_code < 300:
            db.session.commit()
            _release(key, claimed)
            return resp
        recorded = db.session.execute(sa.update(IdempotentResponse).where(
            _where(key), IdempotentResponse.claim == claimed).values(
            status=resp.status_code, body=resp.get_data(), content_type=resp.content_type,
            location=resp.headers.get("Location"), claim=None))
        if recorded.rowcount != 1:
            # We ran so long that a retry took the key over: it is the one that counts.
            db.session.rollback()
            raise _in_progress()
        db.session.commit()
        return resp

    return wrapper
