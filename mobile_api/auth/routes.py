"""POST /auth/login, /auth/refresh, /auth/logout and GET /me."""
import sqlalchemy as sa
from flask import g, request
from werkzeug.security import check_password_hash

from models import User, db, utcnow

from ..blueprint import Blueprint
from ..errors import ApiError
from ..openapi import errors
from ..schemas import LoginIn, RefreshIn, TokenPair, UserSchema
from . import limits, tokens

blp = Blueprint("auth", __name__, description="Sign-in and sessions")
PUBLIC = {"auth.login", "auth.refresh"}
# Checked against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = "scrypt:32768:8:1$dummydummydummy$" + "0" * 128


@blp.before_request
def _authenticate():
    if request.endpoint not in PUBLIC:
        tokens.authenticate()


@blp.route("/auth/login", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(LoginIn())
@blp.response(200, TokenPair)
@errors("invalid_credentials", "rate_limited")
def login(body):
    """Exchange a username and password for an access and a refresh token.

    Failed sign-ins are limited per address and username, per username and per address, across all
    web processes (see auth/limits.py); while a limit holds even the right password gets 429.
    """
    attempt = limits.begin(body["username"])
    user = db.session.scalar(sa.select(User).where(User.username == body["username"].strip()))
    password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, body["password"])
    if user is None or not password_ok or not user.is_active:
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    session, refresh = tokens.start_session(user, body.get("device_name"))
    limits.succeeded(attempt)
    db.session.commit()
    return tokens.token_pair(session, refresh)


@blp.route("/auth/refresh", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(RefreshIn())
@blp.response(200, TokenPair)
@errors("invalid_token", "token_reused", "token_expired")
def refresh(body):
    """Spend the refresh token for a new pair. The same token again within REFRESH_GRACE_S (a retry)
    gets the same pair; a spent token otherwise closes the session."""
    pair = tokens.rotate(body["refresh_token"])
    db.session.commit()
    return pair


@blp.route("/auth/logout", methods=["POST"])
@blp.response(204)
def logout():
    """End this session: its access and refresh tokens stop working at once."""
    g.auth_session.revoked_at, g.auth_session.revoked_reason = utcnow(), "logout"
    db.session.commit()


@blp.route("/me", methods=["GET"])
@blp.response(200, UserSchema)
def me():
    """The signed-in user."""
    return g.user
