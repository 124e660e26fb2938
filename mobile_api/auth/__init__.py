"""Sign-in, token refresh, sign-out and the current user."""
from .routes import blp  # noqa: F401
