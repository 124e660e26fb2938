"""Signing in with a username and password: one rule for the apps' tokens and the console's cookie."""
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from models import AuthSession, User, db

from . import limits, tokens

# Checked against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = "scrypt:32768:8:1$dummydummydummy$" + "0" * 128


def sign_in(username: str, password: str, device_name: str | None) -> tuple[AuthSession, str] | None:
    """A new session and its refresh token for the right password of an active user, or None.

    Failed sign-ins are limited per address and username, per username and per address, across all
    web processes (auth/limits.py); while a limit holds even the right password gets 429.
    """
    username = username.strip()
    attempt = limits.begin(username)
    user = db.session.scalar(sa.select(User).where(User.username == username)) if username else None
    password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not password_ok or not user.is_active:
        return None
    session, refresh = tokens.start_session(user, device_name)
    limits.succeeded(attempt)
    return session, refresh
