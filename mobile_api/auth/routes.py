"""POST /auth/login, /auth/refresh, /auth/logout, GET /me and the user's notification settings."""
from flask import g, request

from domain import organization
from models import utcnow

from ..blueprint import Blueprint
from ..errors import ApiError
from ..openapi import errors
from ..organization.schemas import NotificationSettings, NotificationSettingsIn
from ..schemas import LoginIn, RefreshIn, TokenPair, UserSchema
from . import tokens
from .signin import sign_in

blp = Blueprint("auth", __name__, description="Sign-in and sessions")
PUBLIC = {"auth.login", "auth.refresh"}


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
    """Exchange a username and password for an access and a refresh token (429 while the failed
    sign-in limits hold, see auth/signin.py)."""
    signed_in = sign_in(body["username"], body["password"], body.get("device_name"))
    if signed_in is None:
        raise ApiError(401, "invalid_credentials", "Wrong username or password.")
    return tokens.token_pair(*signed_in)


@blp.route("/auth/refresh", methods=["POST"])
@blp.doc(security=[])
@blp.arguments(RefreshIn())
@blp.response(200, TokenPair)
@errors("invalid_token", "token_reused", "token_expired")
def refresh(body):
    """Spend the refresh token for a new pair. The same token again within REFRESH_GRACE_S (a retry)
    gets the same pair; a spent token otherwise closes the session."""
    pair = tokens.rotate(body["refresh_token"])
    return pair


@blp.route("/auth/logout", methods=["POST"])
@blp.response(204)
def logout():
    """End this session: its access and refresh tokens stop working at once."""
    g.auth_session.revoked_at, g.auth_session.revoked_reason = utcnow(), "logout"


@blp.route("/me", methods=["GET"])
@blp.response(200, UserSchema)
def me():
    """The signed-in user."""
    return g.user


@blp.route("/me/notification-settings", methods=["GET"])
@blp.response(200, NotificationSettings)
def get_notification_settings():
    """The time zone the caller's quiet hours and morning reminders keep, their own quiet hours (null:
    the organization's, given beside them)."""
    return organization.notification_settings(g.user)


@blp.route("/me/notification-settings", methods=["PUT"])
@blp.arguments(NotificationSettingsIn())
@blp.response(200, NotificationSettings)
@errors("validation_failed")
def put_notification_settings(body):
    """Set the caller's time zone and quiet hours (both null: the organization's; equal ends: none).
    Pushes that are not urgent wait for their end, in that zone, and so do deadline reminders."""
    return organization.set_notification_settings(g.user, body["timezone"], body["quiet_from"], body["quiet_to"])
