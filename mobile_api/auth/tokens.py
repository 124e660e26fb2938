"""Short-lived access tokens (JWT) and rotating refresh tokens with reuse detection."""
import base64
import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from flask import current_app, g, request

from models import AuthSession, User, db, raw, utcnow
from models.base import lock as lock_row

from ..fields import parse_id
from .check import check_session, signed_in_user, unauthorized


def _mac(session: AuthSession, generation: int) -> str:
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), session.salt.encode(), hashlib.sha256).digest()
    mac = hmac.new(key, f"{session.id}.{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _refresh_token(session: AuthSession) -> str:
    return f"{session.id}.{session.generation}.{_mac(session, session.generation)}"


def start_session(user: User, device_name: str | None) -> tuple[AuthSession, str]:
    """Open a session for a user who just proved their password; returns it and its refresh token."""
    session = AuthSession(user_id=user.id, device_name=device_name, salt=secrets.token_hex(32), generation=1)
    db.session.add(session)
    db.session.flush()
    return session, _refresh_token(session)


def token_pair(session: AuthSession, refresh: str, issued_at: datetime | None = None) -> dict:
    """The body of a login or refresh answer; the same `issued_at` mints the same access token."""
    ttl = current_app.config["ACCESS_TOKEN_TTL"]
    now = issued_at or utcnow()
    claims = {"sub": str(session.user_id), "sid": str(session.id), "iat": now, "exp": now + timedelta(seconds=ttl)}
    access = jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl,
            "user": session.user}


def rotate(refresh: str) -> dict:
    """Spend the current refresh token for the next pair (the answer's body).

    The session row is locked, so simultaneous refreshes take turns. The token spent last, sent again
    within REFRESH_GRACE_S of that refresh, is a phone retrying a refresh whose answer it lost: it gets
    the same pair again. Any other spent token, or that one later, is a copy someone kept: the
    session is closed.
    """
    invalid = unauthorized("invalid_token", "The refresh token is not valid.")
    parts = refresh.split(".")
    if len(parts) != 3:
        raise invalid
    session_id, generation = parse_id(parts[0]), parse_id(parts[1])
    if session_id is None or generation is None:
        raise invalid
    session = lock_row(AuthSession, session_id)
    # A token we never issued proves nothing and must not let a stranger close someone's session.
    if session is None or generation > session.generation or not hmac.compare_digest(
            _mac(session, generation), parts[2]):
        raise invalid
    if session.revoked_at is not None or not session.user.is_active:
        raise invalid
    now = utcnow()
    if generation < session.generation:
        grace = timedelta(seconds=current_app.config["REFRESH_GRACE_S"])
        if generation == session.generation - 1 and session.rotated_at and now - session.rotated_at <= grace:
            return token_pair(session, _refresh_token(session), issued_at=session.rotated_at)
        # A genuine but spent token: someone kept a copy. Assume theft and end the session.
        session.revoked_at, session.revoked_reason = now, "refresh_reuse"
        db.session.commit()
        raise unauthorized("token_reused", "This refresh token was already used; the session is closed.")
    expires = session.last_used_at + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"])
    if expires < now:
        raise unauthorized("token_expired", "The session has expired; sign in again.")
    # Whole seconds: the access token's iat has no fraction, and a retry must mint the same token.
    session.generation, session.last_used_at, session.rotated_at = session.generation + 1, now, now.replace(
        microsecond=0)
    return token_pair(session, _refresh_token(session), issued_at=session.rotated_at)


@lru_cache(maxsize=8192)
def _verified(token: str, key: str) -> tuple[int | None, int | None, int]:
    """The session, user and expiry an access token names, its signature checked once per worker
    process: a phone sends the same token with every request of its lifetime. Expiry is checked by
    the caller on every use; a token that fails is not remembered."""
    claims = jwt.decode(token, key, algorithms=["HS256"],
                        options={"require": ["exp", "sub", "sid"], "verify_exp": False})
    if not isinstance(claims["exp"], int):
        raise jwt.InvalidTokenError("exp is not a whole number")
    return parse_id(str(claims["sid"])), parse_id(str(claims["sub"])), claims["exp"]


def authenticate() -> None:
    """Resolve the bearer token to a live session and an active user, or refuse with 401.

    The session is checked on every request (mobile_api.auth.check). Reading outside a transaction, the
    check rides in the first statement read and the User is loaded only if the handler asks for
    `g.user`; in a transaction, the User is loaded by the statement that checks the session.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("unauthorized", "Send an access token: Authorization: Bearer <token>.")
    try:
        session_id, user_id, expires = _verified(token, current_app.config["SECRET_KEY"])
    except jwt.InvalidTokenError:
        raise unauthorized("invalid_token", "The access token is not valid.") from None
    if expires <= time.time():
        raise unauthorized("token_expired", "The access token has expired; refresh it.")
    if not session_id or not user_id:
        raise unauthorized("invalid_token", "The session has ended; sign in again.")
    if raw.in_reads():  # the check rides in the reads' first statement; the user is loaded if asked for
        check_session(session_id, user_id)
        g.sign_in(user_id, session_id)
    else:
        g.sign_in(user_id, session_id, signed_in_user(session_id, user_id))
