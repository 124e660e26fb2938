"""Idempotency-Key on creating POSTs: a retry replays the first answer and creates nothing new."""
import hashlib
import json
from functools import wraps

from flask import Response, g, make_response, request
from sqlalchemy.exc import IntegrityError

from models import IdempotentResponse, db

from .errors import ApiError


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


def _replay(saved: IdempotentResponse, fingerprint: str) -> Response:
    if saved.request_hash != fingerprint:
        raise ApiError(409, "idempotency_conflict",
                       "This Idempotency-Key was already used with a different request.")
    resp = Response(saved.body, status=saved.status, content_type=saved.content_type)
    if saved.location:
        resp.headers["Location"] = saved.location
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def idempotent(view):
    """Wrap a creating POST: commit its work together with the remembered response."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            resp = make_response(view(*args, **kwargs))
            db.session.commit()
            return resp
        if not 1 <= len(key) <= 255 or not key.isprintable():
            raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable characters.")
        fingerprint = _fingerprint()
        saved = db.session.get(IdempotentResponse, (g.user.id, key))
        if saved is not None:
            return _replay(saved, fingerprint)
        resp = make_response(view(*args, **kwargs))
        if 200 <= resp.status_code < 300:
            db.session.add(IdempotentResponse(
                user_id=g.user.id, key=key, request_hash=fingerprint, status=resp.status_code,
                body=resp.get_data(), content_type=resp.content_type, location=resp.headers.get("Location"),
            ))
        try:
            db.session.commit()
        except IntegrityError:
            # A concurrent twin committed first: drop our work and answer as it did.
            db.session.rollback()
            saved = db.session.get(IdempotentResponse, (g.user.id, key))
            if saved is None:
                raise
            return _replay(saved, fingerprint)
        return resp

    return wrapper
