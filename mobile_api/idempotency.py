"""Idempotency-Key on POSTs that create or act: a retry replays the first answer and does nothing again.

A key is claimed in a short transaction of its own before the request runs (the primary key of
`idempotent_responses` makes the claim race-free on every database); the request's work and its
remembered answer then commit together. A twin arriving while the first still runs waits for that
answer and replays it, or, if it takes too long, gets `409 idempotency_in_progress` with
`Retry-After`. A request that fails (4xx, 5xx, a crash) releases its claim, so the retry runs.

Whether the first request still runs: on PostgreSQL it holds an advisory lock on its key for its
whole transaction, taken before its claim can be seen. PostgreSQL lets the lock go however the
transaction ends (commit, rollback, a killed process, a lost connection or a database restart), so a
retry that gets the lock and finds the claim unanswered takes it over at once. On SQLite (one machine,
for development) a claim counts as abandoned after ABANDONED_AFTER.
"""
import hashlib
import json
import logging
import secrets
import time
from contextlib import contextmanager
from datetime import timedelta
from functools import wraps

import sqlalchemy as sa
from flask import Response, current_app, g, request
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from models import IdempotentResponse, db, utcnow
from models.base import compiled_once

from . import transaction
from .errors import ApiError
from .openapi import declare

log = logging.getLogger(__name__)

POLL_S = 0.05
# SQLite: a claim older than this was left by a process that died mid-request (gunicorn kills a
# request after 60 s): the next retry takes it over.
ABANDONED_AFTER = timedelta(seconds=120)


def lock_id(user_id: int, key: str) -> int:
    """The PostgreSQL advisory lock (a signed 64-bit number) of a user's Idempotency-Key."""
    return int.from_bytes(hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).digest()[:8], "big", signed=True)


def _lock(key: str) -> bool:
    """PostgreSQL: take the key's lock for this request's transaction, if no running request holds it."""
    return bool(db.session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(lock_id(g.user_id, key)))).scalar())


def _fingerprint() -> str:
    """What makes two requests 'the same body'; multipart boundaries differ between retries, so
    uploads are compared by their fields and the SHA-256 of each file instead of raw bytes. A plain
    form is compared by its fields too: once parsed (the console's CSRF check reads it) its raw body
    is gone."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
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


def _replay(saved) -> Response:
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


@contextmanager
def _no_disk_wait(conn):
    """Commit the claim without waiting for the disk (a third of a keyed request's cost on a slow disk).

    Safe: a claim lost in a crash is a retry that runs, which is what a crash mid-request means
    anyway; and the request's own commit, which waits, is later in the same log and so makes the
    claim durable with it. On SQLite (WAL) the setting is the connection's, so it is put back.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")  # this transaction only
        yield
        return
    level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    conn.exec_driver_sql("PRAGMA synchronous = NORMAL")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA synchronous = {int(level)}")


def _claiming(dialect) -> sa.Insert:
    table = IdempotentResponse.__table__
    insert = dialect.insert(table).values({c: sa.bindparam(c, type_=table.c[c].type) for c in (
        "user_id", "key", "request_hash", "claim", "created_at")})
    return compiled_once(insert.on_conflict_do_nothing().returning(table.c.claim),
                         f"idempotency claim ({dialect.__name__})")


# Every request that sends a key claims it: the upsert built and compiled once, not on each of them.
_CLAIM = {"postgresql": _claiming(postgresql), "sqlite": _claiming(sqlite)}


def _claim(key: str, fingerprint: str) -> str | Response:
    """Claim the key for this request (returns the claim token), or the first request's answer.

    On a connection of its own, committed at once: the request's session (and what it loaded) is
    left as it was, and no row stays locked while the request runs; only the key's advisory lock,
    taken first, in the request's own transaction (PostgreSQL).
    """
    table = IdempotentResponse.__table__
    deadline = time.monotonic() + current_app.config["IDEMPOTENCY_WAIT_S"]
    locking = db.session.get_bind().dialect.name == "postgresql"  # SQLite: the age of a claim tells
    while locking and not _lock(key):  # the first request is running: wait for its answer
        if time.monotonic() >= deadline:
            raise _in_progress()
        time.sleep(POLL_S)
    while True:
        token = secrets.token_hex(16)
        with db.engine.connect() as conn:
            with _no_disk_wait(conn):
                claimed = conn.execute(_CLAIM[conn.dialect.name], {
                    "user_id": g.user_id, "key": key, "request_hash": fingerprint, "claim": token,
                    "created_at": utcnow()}).first()
                conn.commit()
            if claimed is not None:
                return token
            saved = conn.execute(sa.select(table).where(_where(key))).first()
            if saved is None:  # answered with a failure and released meanwhile: claim it afresh
                continue
            if saved.request_hash != fingerprint:
                raise ApiError(409, "idempotency_conflict",
                               "This Idempotency-Key was already used with a different request.")
            if saved.status is not None:
                return _replay(saved)
            # Holding the key's lock, an unanswered claim is one whose request has ended without
            # answering (PostgreSQL); on SQLite, one old enough.
            if locking or saved.created_at < utcnow() - ABANDONED_AFTER:
                taken = conn.execute(sa.update(table).where(_where(key), table.c.claim == saved.claim)
                                     .values(claim=token, created_at=utcnow()))
                conn.commit()
                if taken.rowcount == 1:
                    return token
                continue
            conn.rollback()
        if time.monotonic() >= deadline:
            raise _in_progress()
        time.sleep(POLL_S)


def _release(key: str, token: str) -> None:
    """Forget a claim whose request failed, so that a retry runs it afresh."""
    db.session.rollback()
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.delete(IdempotentResponse.__table__).where(
                _where(key), IdempotentResponse.claim == token))
    except SQLAlchemyError:
        # The database itself failed; the claim is taken over once it counts as abandoned.
        log.warning("could not release Idempotency-Key claim of user %s", g.user_id, exc_info=True)


# What `idempotent` adds to the contract of the operation it wraps.
_DOCUMENTED = declare(**{
    "x-parameters": {"Idempotency-Key": "IdempotencyKey"},
    "x-success-headers": {"Idempotent-Replayed": {"$ref": "#/components/headers/Idempotent-Replayed"}},
    "x-codes": dict.fromkeys(("invalid_idempotency_key", "idempotency_conflict", "idempotency_in_progress"), True),
    "x-components": {
        "parameters": {"IdempotencyKey": {
            "in": "header", "name": "Idempotency-Key", "required": False,
            "description": "Any string of 1-255 printable characters. The same key from the same user with the "
                           "same body replays the first answer and changes nothing; with another body it is "
                           "`409 idempotency_conflict`.",
            "schema": {"type": "string", "pattern": "^[!-~]([ -~]{0,253}[!-~])?$", "example": "8b1f0c4e-retry-1"},
        }},
        "headers": {"Idempotent-Replayed": {
            "description": "`true` when this is the remembered answer to a retried request",
            "schema": {"type": "string"}}},
    },
})


def idempotent(view):
    """Wrap a POST that creates or acts: its remembered answer commits with its work (mobile_api.transaction)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        return once(request.headers.get("Idempotency-Key"), view, *args, **kwargs)

    return _DOCUMENTED(wrapper)


def once(key: str | None, view, *args, **kwargs):
    """Run `view` once for this user's `key` (none: every time); a repeat replays the first answer. The
    console's forms carry their key in a field rather than the header."""
    if key is None:
        return view(*args, **kwargs)
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable characters.")
    claimed = _claim(key, _fingerprint())
    if isinstance(claimed, Response):
        return claimed
    # Refused, crashed or not committed: nothing of it stands, so the retry must run.
    transaction.on_failure(lambda: _release(key, claimed))
    transaction.before_commit(lambda answer: _remember(key, claimed, answer))
    return view(*args, **kwargs)


def _remember(key: str, claimed: str, answer: Response) -> None:
    recorded = db.session.execute(sa.update(IdempotentResponse).where(
        _where(key), IdempotentResponse.claim == claimed).values(
        status=answer.status_code, body=answer.get_data(), content_type=answer.content_type,
        location=answer.headers.get("Location"), claim=None))
    if recorded.rowcount != 1:
        # We ran so long that a retry took the key over: it is the one that counts.
        raise _in_progress()
