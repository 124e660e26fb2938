"""What an executive lets the assistants who serve them do in their name.

An assistant always may draft for an executive they serve (and edit and review that executive's
drafts); issuing in the executive's name needs the executive's grant (`may_issue`). The grant is
checked under the lock of the act it allows (`may_issue_for(..., lock=True)`): a grant withdrawn
while an issue waits is seen by that issue, and a withdrawal waits for an issue holding it.
"""
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from models import AssistantRight, User, assistants, audit, db, utcnow
from models.base import write_lock

from .errors import ApiError


def serves(assistant: User, executive_id: int) -> bool:
    """Whether the user is an assistant of this (active) executive."""
    return any(e.id == executive_id and e.is_active for e in assistant.executives)


def author_for(user: User, author_id: int | None) -> User:
    """Whose a resolution being written is: the caller's own (no `author`, or the caller), or that of an
    executive the caller serves as an assistant; anyone else is refused with 403 not_your_executive."""
    if author_id is None or author_id == user.id:
        return user
    executive = next((e for e in user.executives if e.id == author_id and e.is_active), None)
    if executive is None:
        raise ApiError(403, "not_your_executive",
                       "You may write a draft only for an executive you serve as an assistant.")
    return executive


def may_issue_for(assistant: User, executive_id: int, lock: bool = False) -> bool:
    """Whether the executive lets this assistant, who must serve them, issue in their name. With
    `lock`, the grant's row is locked until commit (the database's write lock on SQLite), so the
    answer holds for the act that asked."""
    if not serves(assistant, executive_id):
        return False
    query = sa.select(AssistantRight.may_issue).where(AssistantRight.executive_id == executive_id,
                                                      AssistantRight.assistant_id == assistant.id)
    if lock:
        write_lock()
        query = query.with_for_update()
    return bool(db.session.scalar(query))


def set_right(executive: User, assistant_id: int, may_issue: bool) -> AssistantRight:
    """The executive allows (or stops allowing) an assistant who serves them to issue in their name;
    403 not_your_assistant for anyone who does not serve them."""
    assistant = db.session.get(User, assistant_id)
    if assistant is None or assistant.organization_id != executive.organization_id or not serves(
            assistant, executive.id):
        raise ApiError(403, "not_your_assistant", "Only an assistant who serves you can be given rights.")
    write_lock()
    # The pair's row exists (two first grants at once both succeed), then is locked and set.
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(AssistantRight).values(
        executive_id=executive.id, assistant_id=assistant_id, may_issue=False, set_by_id=executive.id,
        set_at=utcnow()).on_conflict_do_nothing(index_elements=["executive_id", "assistant_id"]))
    right = db.session.scalar(sa.select(AssistantRight).where(
        AssistantRight.executive_id == executive.id, AssistantRight.assistant_id == assistant_id)
        .with_for_update().execution_options(populate_existing=True))
    right.may_issue, right.set_by_id, right.set_at = may_issue, executive.id, utcnow()
    db.session.flush()
    audit.record(executive.organization_id, executive.id, "assistant_rights.set", "user", assistant_id,
                 may_issue=may_issue)
    return right


def rights_of(user: User) -> dict:
    """The rights the user gives as an executive (one entry per assistant serving them) and holds as
    an assistant (one per executive they serve)."""
    given = {r.assistant_id: r for r in db.session.scalars(
        sa.select(AssistantRight).where(AssistantRight.executive_id == user.id))}
    held = {r.executive_id: r for r in db.session.scalars(
        sa.select(AssistantRight).where(AssistantRight.assistant_id == user.id))}
    served_by = db.session.scalars(sa.select(User).join(assistants, assistants.c.assistant_id == User.id).where(
        assistants.c.executive_id == user.id, User.is_active.is_(True)).order_by(User.id)).all()
    return {
        "assistants": [{"assistant": a, "may_issue": bool(given.get(a.id) and given[a.id].may_issue),
                        "set_at": given[a.id].set_at if a.id in given else None} for a in served_by],
        "executives": [{"executive": e, "may_issue": bool(held.get(e.id) and held[e.id].may_issue)}
                       for e in sorted(user.executives, key=lambda e: e.id) if e.is_active],
    }
