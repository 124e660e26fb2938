"""Drafts an assistant writes or dictates for an executive they serve, and the executive's answer.

The draft is the executive's (its `author`), marked as drafted by the assistant; it reaches the
executive's inbox as a "resolution" line, with a push, to issue, edit or reject. An assistant the
executive allowed to (domain.assistant_rights) may also issue it in the executive's name
(domain.resolutions.issue). A rejected draft stays, with the executive's comment, where the
assistant sees it, and the assistant is told.
"""
from datetime import date, datetime

import sqlalchemy as sa

from models import Document, Resolution, User, audit, utcnow

from . import access, assistant_rights, inbox, paging
from . import resolutions as rules
from .errors import ApiError, not_found
from .notify import notify


def create(user: User, doc: Document, author_id: int | None, text: str, executor_ids: list[int],
           deadline: datetime | date | None, issue: bool = False, control: bool | None = None,
           controller_id: int | None = None) -> Resolution:
    """A resolution written by the caller: their own (no `author_id`), or a draft for an executive they
    serve (403 not_your_executive for anyone else), which goes to that executive; issued at once only
    where the executive allowed this assistant to issue in their name (403 forbidden otherwise)."""
    author = assistant_rights.author_for(user, author_id)
    if author is user:
        return rules.create(user, doc, text, executor_ids, deadline, issue=issue, control=control,
                            controller_id=controller_id)
    if issue and not assistant_rights.may_issue_for(user, author.id, lock=True):
        raise ApiError(403, "forbidden", "Your executive has not allowed you to issue resolutions in their name.")
    res = rules.create(author, doc, text, executor_ids, deadline, issue=issue, control=control,
                       controller_id=controller_id, by=user)
    if not issue:
        prepared(res, user)
    return res


def prepared(res: Resolution, assistant: User) -> None:
    """Hand a draft an assistant wrote for its author to the author: a "resolution" line and a push."""
    inbox.deliver([res.author_id], res.document, "resolution", assistant.short_name)
    notify("draft_prepared", res.author_id, res.document_id, resolution_id=res.id)


def reject(user: User, resolution_id: int, comment: str | None) -> Resolution:
    """The author turns a draft down (`rejected`), saying why if they like; whoever drafted it is told.

    Under the resolution's row lock, as an issue: of a reject and an issue at once exactly one
    happens, and the other answers 409 naming the state it left."""
    res = access.get_resolution(user, resolution_id, lock=True)
    if res.author_id != user.id:
        if access.may_edit_resolution(user, res):
            raise ApiError(403, "forbidden", "Only the author rejects a draft.")
        raise not_found("resolution")
    was = res.status
    rules.move(res, "rejected")
    res.reject_comment, res.closed_at = (comment or None), utcnow()
    inbox.withdraw(user.id, res.document_id, "resolution")
    if was == "awaiting_review":  # the draft leaves its reviewers' inboxes too
        for reviewer in access.reviewers_of(res.author_id):
            inbox.withdraw(reviewer, res.document_id, "review")
    if res.drafted_by_id is not None and res.drafted_by_id != user.id:
        notify("draft_rejected", res.drafted_by_id, res.document_id, resolution_id=res.id)
    audit.record(user.organization_id, user.id, "resolution.rejected", "resolution", res.id,
                 **({"comment": comment} if comment else {}))
    return res


def prepared_for(user: User, limit: int, cursor: str | None = None) -> dict:
    """Drafts the executive's assistants wrote for them that wait for the executive, newest first."""
    query = sa.select(Resolution).where(Resolution.author_id == user.id, Resolution.drafted_by_id.is_not(None),
                                        Resolution.status == "draft").options(*rules.AS_LISTED)
    rows, next_cursor = paging.newest_first(query, Resolution.created_at, Resolution.id, limit, cursor)
    return {"items": rows, "next_cursor": next_cursor}


def not_issued(author: User, limit: int, cursor: str | None = None) -> dict:
    """Every draft of the author not yet issued (their own, dictated, or an assistant's), newest first:
    what a deputy acting for them issues in their name."""
    query = sa.select(Resolution).where(Resolution.author_id == author.id,
                                        Resolution.status.in_(sorted(rules.EDITABLE))).options(*rules.AS_LISTED)
    rows, next_cursor = paging.newest_first(query, Resolution.created_at, Resolution.id, limit, cursor)
    return {"items": rows, "next_cursor": next_cursor}


def written_by(user: User, limit: int, cursor: str | None = None) -> dict:
    """The drafts this assistant wrote for executives, whatever became of them (issued, rejected...), newest
    first: where the assistant sees the executive's answer."""
    query = sa.select(Resolution).where(Resolution.drafted_by_id == user.id).options(*rules.AS_LISTED)
    rows, next_cursor = paging.newest_first(query, Resolution.created_at, Resolution.id, limit, cursor)
    return {"items": rows, "next_cursor": next_cursor}
