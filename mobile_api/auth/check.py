"""The session check: whether a signed-in session still holds, for bearer tokens and console cookies alike.

One indexed lookup per request, so that signing out, revocation and disabling take effect at once. In a
request that reads outside a transaction (the polled lists, models.raw.begin_reads) it rides in the
request's first statement that reads a header row, one statement fewer, and is verified before anything
read with it is used; a request whose statements never carried it runs it alone before answering.
In a request that runs in a transaction (every write), it rides in the statement that loads the user
(`signed_in_user`), which nearly every such request asks for anyway.
"""
import sqlalchemy as sa

from models import User, db, raw

from ..errors import ApiError


def check_session(session_id: int, user_id: int) -> None:
    """Refuse with 401 unless the session is open and its user active (now, or before the answer)."""
    check = raw.Check(_SESSION_STATE, (session_id, user_id), _verify)
    if not raw.defer_check(check):
        raw.run_check(check)


def unauthorized(code: str, detail: str) -> ApiError:
    return ApiError(401, code, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


def signed_in_user(session_id: int, user_id: int) -> User:
    """The session's user, loaded by the statement that checks the session: 401 as `check_session`."""
    row = db.session.execute(_USER_AND_STATE, {"session": session_id, "user": user_id}).first()
    _verify(row[1] if row is not None else None)
    return row[0]


# What became of the session since it was signed in, in one SQL value (NULL: no such session); it runs
# on every request. Written once, with named parameters for a SQLAlchemy statement and `%s` ones for
# the plain reads (models.raw).
_STATE = ("(SELECT CASE WHEN NOT users.is_active THEN 2 WHEN auth_sessions.revoked_at IS NOT NULL THEN 1 "
          "ELSE 0 END FROM auth_sessions JOIN users ON users.id = auth_sessions.user_id "
          "WHERE auth_sessions.id = :session AND auth_sessions.user_id = :user)")
_SESSION_STATE = _STATE.replace(":session", "%s").replace(":user", "%s")
# Built once: the user, the organization joined as always, and the session's state.
_USER_AND_STATE = sa.select(User, sa.text(_STATE)).where(User.id == sa.bindparam("user"))


def _verify(state) -> None:
    if state == 2:
        raise unauthorized("account_disabled", "This account is disabled.")
    # Disabling a user ends its sessions for good (a database trigger), so enabling it again
    # does not bring them back: the user signs in anew.
    if state != 0:
        raise unauthorized("invalid_token", "The session has ended; sign in again.")
