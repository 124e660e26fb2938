"""One transaction per request: what a request changes commits once, after its answer is made.

Every view of the app, the API's and the console's alike, is wrapped here (`init_app`): a request
that may change something (POST, PUT, PATCH, DELETE) commits its session after the view has built a
successful answer; an answer that is an error, or a view that raises, leaves nothing written (the
error handlers roll back). Views and domain rules never commit. The only commits elsewhere are those
that must stand even when the request is refused: a counted failed sign-in (auth/limits.py) and a
session closed on a replayed refresh token (auth/tokens.py).

A decorator that has its own rows to write with the answer (`@idempotent` remembers it) adds them
with `before_commit`, and learns with `on_failure` that nothing was committed.
"""
from collections.abc import Callable
from functools import wraps

from flask import Flask, Response, current_app, request

from models import db

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# Kept in the request's environ: `g` can outlive a request (an app context pushed around several).
_BEFORE_COMMIT, _ON_FAILURE = "mobile_api.before_commit", "mobile_api.on_failure"


def before_commit(hook: Callable[[Response], None]) -> None:
    """Run `hook(answer)` in the request's transaction just before it commits."""
    request.environ.setdefault(_BEFORE_COMMIT, []).append(hook)


def on_failure(hook: Callable[[], None]) -> None:
    """Run `hook()` if the request ends without committing (an error answer, a raise, a failed commit)."""
    request.environ.setdefault(_ON_FAILURE, []).append(hook)


def _failed() -> None:
    db.session.rollback()
    for hook in request.environ.pop(_ON_FAILURE, ()):
        hook()


def unit_of_work(view: Callable) -> Callable:
    """The view, committing its request's work once its answer is a success."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method not in WRITES:
            return view(*args, **kwargs)
        try:
            answer = current_app.make_response(view(*args, **kwargs))
            if answer.status_code >= 400:
                _failed()
                return answer
            for hook in request.environ.pop(_BEFORE_COMMIT, ()):
                hook(answer)
            db.session.commit()
        except BaseException:
            _failed()
            raise
        return answer

    return wrapper


def init_app(app: Flask) -> None:
    """Wrap every view registered so far; call it after the last blueprint."""
    for endpoint, view in list(app.view_functions.items()):
        app.view_functions[endpoint] = unit_of_work(view)
