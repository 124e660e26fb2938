"""Short-lived access tokens (JWT) and rotating refresh tokens with reuse detection."""
import hashlib
import secrets
from datetime import timedelta

import jwt
import sqlalchemy as sa
from flask import current_app, g, request

from models import AuthSession, User, db, utcnow

from ..errors import ApiError


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unauthorized(code: str, detail: str) -> ApiError:
    return ApiError(401, code, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


def start_session(user: User, device_name: str | None) -> tuple[AuthSession, str]:
    """Open a session for a user who just proved their password; returns it and its refresh token."""
    session = AuthSession(user_id=user.id, device_name=device_name, refresh_hash="")
    db.session.add(session)
    db.session.flush()
    refresh = f"{session.id}.{secrets.token_urlsafe(32)}"
    session.refresh_hash = _digest(refresh)
    return session, refresh


def token_pair(session: AuthSession, refresh: str) -> dict:
    """The body of a login or refresh answer."""
    ttl = current_app.config["ACCESS_TOKEN_TTL"]
    now = utcnow()
    claims = {"sub": str(session.user_id), "sid": str(session.id), "iat": now, "exp": now + timedelta(seconds=ttl)}
    access = jwt.encode(claims, current_app.config["SECRET_KEY"], algorithm="HS256")
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl,
            "user": session.user}


def rotate(refresh: str) -> tuple[AuthSession, str]:
    """Spend a refresh token and hand out the next one; a spent token revokes the whole session."""
    sid, _, secret = refresh.partition(".")
    if not sid.isdigit() or not secret:
        raise _unauthorized("invalid_token", "The refresh token is not valid.")
    session = db.session.scalar(sa.select(AuthSession).where(AuthSession.id == int(sid)).with_for_update())
    if session is None or session.revoked_at is not None or not session.user.is_active:
        raise _unauthorized("invalid_token", "The refresh token is not valid.")
    expires = session.last_used_at + timedelta(seconds=current_app.config["REFRESH_TOKEN_TTL"])
    if expires < utcnow():
        raise _unauthorized("token_expired", "The session has expired; sign in again.")
    if not secrets.compare_digest(session.refresh_hash, _digest(refresh)):
        # Someone holds a token that was already spent: assume theft and end the session.
        session.revoked_at, session.revoked_reason = utcnow(), "refresh_reuse"
        db.session.commit()
        raise _unauthorized("token_reused", "This refresh token was already used; the session is closed.")
    new = f"{session.id}.{secrets.token_urlsafe(32)}"
    session.refresh_hash, session.generation, session.last_used_at = _digest(new), session.generation + 1, utcnow()
    return session, new


def authenticate() -> None:
    """Resolve the bearer token to a live session and an active user, or refuse with 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("unauthorized", "Send an access token: Authorization: Bearer <token>.")
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"],
                            options={"require": ["exp", "sub", "sid"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token_expired", "The access token has expired; refresh it.") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid_token", "The access token is not valid.") from None
    session = db.session.get(AuthSession, int(claims["sid"])) if claims["sid"].isdigit() else None
    # Revocation and disabling take effect at once because every request checks the session row.
    if session is None or session.revoked_at is not None or str(session.user_id) != claims["sub"]:
        raise _unauthorized("invalid_token", "The session has ended; sign in again.")
    if not session.user.is_active:
        raise _unauthorized("account_disabled", "This account is disabled.")
    g.user, g.auth_session = session.user, session
