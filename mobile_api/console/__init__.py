"""The assistants' review console: server-rendered pages under /console/ with a cookie session.

The browser signs in with the same accounts as the apps but never holds a bearer token: Flask's
signed session cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS) names a server-side session row
(models.AuthSession), so signing out or disabling the user ends it at once, as for the apps.

CSRF: a synchronizer token kept in the signed session, sent back in every form (`csrf_token`) and
every fetch that changes something (`X-CSRF-Token`), checked here for every non-GET request of the
blueprint, plus an Origin check when the browser sends one. Flask-WTF's CSRFProtect does the same
job but app-wide, so every bearer-token blueprint of the API would have to be exempted one by one;
this check is a dozen lines and cannot reach them.
"""
import hmac
import secrets

from flask import Blueprint, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException

from domain.errors import ApiError
from models import User, db

from ..auth.check import check_session
from ..errors import problem
from .i18n import DEFAULT, LANGUAGES, translate

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
PUBLIC = {"console.login", "console.static", "console.language"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class CookieSessionOnDemand(SecureCookieSessionInterface):
    """Flask's signed cookie session, opened only for a request that carries the cookie: the API's
    calls never do, and building the signing serializer for each was a few percent of a polled read."""

    def open_session(self, app, request):
        # No Cookie header at all (every app call): not even parsed.
        if "HTTP_COOKIE" not in request.environ or self.get_cookie_name(app) not in request.cookies:
            return self.session_class()  # empty; save_session signs it if the request fills it
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if session or session.modified or session.accessed:  # else there is nothing to write or vary on
            super().save_session(app, session, response)


def init_app(app) -> None:
    """Cookie settings for the console's session, then the blueprint."""
    app.session_interface = CookieSessionOnDemand()
    # Lax rather than Strict, so that a link to a draft (from mail, from the inbox) opens signed in;
    # nothing changes state on a GET, and every write carries the CSRF token.
    app.config.update(SESSION_COOKIE_NAME="console_session", SESSION_COOKIE_PATH="/console",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=app.config["CONSOLE_SECURE_COOKIE"],
                      PERMANENT_SESSION_LIFETIME=app.config["CONSOLE_SESSION_TTL"])
    from . import control, drafting, views  # noqa: F401  (routes register on bp)
    app.register_blueprint(bp)


def lang() -> str:
    return session.get("lang") if session.get("lang") in LANGUAGES else DEFAULT


def t(key: str) -> str:
    return translate(key, lang())


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def wants_json() -> bool:
    return request.path.startswith("/console/api/") or request.accept_mimetypes.best == "application/json"


@bp.app_template_global("t")
@bp.app_template_filter("t")
def _t(key: str) -> str:
    return t(key)


@bp.context_processor
def _globals():
    return {"csrf_token": csrf_token, "lang": lang(), "me": g.user if "user_id" in g else None}


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin == request.host_url.rstrip("/")


@bp.before_request
def _guard():
    """Refuse a changing request without the session's CSRF token; load the signed-in user."""
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        expected = session.get("csrf")
        if not expected or not hmac.compare_digest(sent, expected) or not _same_origin():
            raise ApiError(403, "csrf_failed", t("csrf"))
    if request.endpoint in PUBLIC:
        return None
    sid, uid = session.get("sid"), session.get("uid")
    try:
        if not (isinstance(sid, int) and isinstance(uid, int)):
            raise ApiError(401, "unauthorized", "Not signed in.")
        check_session(sid, uid)  # the apps' own check: signing out or disabling ends it at once
    except ApiError:
        session.pop("sid", None)
        session.pop("uid", None)
        if wants_json():
            raise ApiError(401, "unauthorized", "Sign in to the console again.")
        return redirect(url_for("console.login", next=request.full_path if request.method == "GET" else None))
    g.sign_in(uid, sid)
    return None


@bp.after_request
def _headers(resp):
    resp.headers.setdefault("Content-Security-Policy", CSP)  # a file's own (files.FILE_CSP) is stricter
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static" and "Cache-Control" not in resp.headers:
        resp.headers["Cache-Control"] = "no-store"
    return resp


def _error_page(status: int, code: str, detail: str, headers: dict | None = None, errors: dict | None = None,
                extra: dict | None = None):
    from flask import render_template

    db.session.rollback()
    if wants_json():
        return problem(status, code, detail, errors, headers, extra)
    return render_template("console/error.html", status=status, detail=detail), status, headers or {}


# Refusals whose words the console has in the reader's language (others show the rule's own detail).
_SAID = {404: "not_found", 429: "too_many"}
_SAID_BY_CODE = {"signature_required": "signature_required", "self_review": "self_review",
                 "invalid_cursor": "bad_cursor"}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    said = _SAID_BY_CODE.get(exc.code) or _SAID.get(exc.status)
    return _error_page(exc.status, exc.code, t(said) if said else exc.detail, exc.headers, exc.errors, exc.extra)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    status = exc.code or 500
    if status == 429:
        return _error_page(429, "rate_limited", t("too_many"))
    return _error_page(status, "error", exc.description if status < 500 else t("error"))


def current_user() -> User:
    return g.user


def safe_next(target: str | None) -> str:
    """Only a path of the console itself: never an open redirect."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.queue")


__all__ = ["bp", "current_app", "init_app", "t"]
