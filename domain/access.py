"""Who may see a document and what they may do with it. Anything not visible answers 404."""
from typing import NamedTuple

import sqlalchemy as sa

from models import (
    Attachment,
    Document,
    InboxItem,
    Resolution,
    Substitution,
    Task,
    User,
    assistants,
    db,
    document_addressees,
    resolution_executors,
    unit_members,
    utcnow,
)
from models.base import lock as lock_row
from models.raw import run
from models.resolutions import ISSUED_STATES

from . import approvals, signatures, substitutions
from .errors import not_found


def seen_by(user_id, document_id) -> sa.ColumnElement[bool]:
    """Who may see a document, as a clause (values or bind parameters): its owner, whoever has it in
    their inbox (or, as an assistant, in the inbox of an executive they serve), and the members of the
    units it is addressed to. Four existence checks, each one primary or unique key lookup: the cost
    does not grow with the user's inbox or their units' mail."""
    owned = sa.exists().where(Document.id == document_id, Document.owner_id == user_id)
    # A deputy's copy of a principal's line shows the document only while it is in the inbox, that is
    # while the deputy acts (domain.substitutions); the user's own lines show it for good.
    in_inbox = sa.exists().where(InboxItem.user_id == user_id, InboxItem.document_id == document_id,
                                 sa.or_(InboxItem.for_user_id.is_(None), InboxItem.removed == sa.false()))
    addressed = sa.exists().where(
        document_addressees.c.document_id == document_id,
        unit_members.c.unit_id == document_addressees.c.unit_id, unit_members.c.user_id == user_id)
    in_bosses_inbox = sa.exists().where(
        assistants.c.assistant_id == user_id, InboxItem.user_id == assistants.c.executive_id,
        InboxItem.document_id == document_id, InboxItem.for_user_id.is_(None))
    return sa.or_(owned, in_inbox, addressed, in_bosses_inbox)


def get_document(user: User, document_id: int | None) -> Document:
    """The document if this user may see it, else 404 (never 403: that would confirm it exists)."""
    if document_id is None:
        raise not_found("document")
    doc = db.session.scalar(_VISIBLE_DOCUMENT, {"user_id": user.id, "document_id": document_id})
    if doc is None:  # a deputy (inbox scope) opens what the principals they act for now may see
        for principal_id in substitutions.principals_of(user, "inbox"):
            doc = db.session.scalar(_VISIBLE_DOCUMENT, {"user_id": principal_id, "document_id": document_id})
            if doc is not None:
                return doc
        raise not_found("document")
    return doc


# The access rule's bind parameters, for statements built once (here and in domain.reading).
USER_ID, DOCUMENT_ID = sa.bindparam("user_id", type_=sa.BigInteger), sa.bindparam("document_id", type_=sa.BigInteger)
# Built once: every write on a document starts here, and building the clause cost more than the lookup.
_VISIBLE_DOCUMENT = sa.select(Document).where(Document.id == DOCUMENT_ID, seen_by(USER_ID, DOCUMENT_ID))


class File(NamedTuple):
    """What serving a document's file needs: its content's hash, type and name."""
    sha256: str
    mime: str
    name: str


def get_attachment(user_id: int, document_id: int, attachment_id: int) -> File:
    """A file of a document this user may see, else 404: one plain statement under the access rule
    (phones fetch the files of every document they open); the user's own row is not read."""
    rows = run(_VISIBLE_ATTACHMENT, user_id=user_id, document_id=document_id, attachment_id=attachment_id)
    if not rows:  # say which is missing, as get_document would: only a refusal asks twice
        raise not_found("attachment" if run(_SEEN, user_id=user_id, document_id=document_id)[0][0] else "document")
    return File(*rows[0])


_VISIBLE_ATTACHMENT = sa.select(Attachment.sha256, Attachment.mime, Attachment.name).where(
    Attachment.id == sa.bindparam("attachment_id", type_=sa.BigInteger), Attachment.document_id == DOCUMENT_ID,
    seen_by(USER_ID, DOCUMENT_ID))
_SEEN = sa.select(seen_by(USER_ID, DOCUMENT_ID))


def serves(assistant: User, executive_id: int) -> bool:
    return any(e.id == executive_id for e in assistant.executives)


def reviewers_of(author_id: int) -> list[int]:
    """Who reviews an author's dictated drafts: their active assistants, or the author when they have none."""
    ids = list(db.session.scalars(
        sa.select(assistants.c.assistant_id).join(User, User.id == assistants.c.assistant_id)
        .where(assistants.c.executive_id == author_id, User.is_active.is_(True))
        .order_by(assistants.c.assistant_id)))
    return ids or [author_id]


def may_edit_resolution(user: User, resolution: Resolution) -> bool:
    """The author or an assistant of the author may edit a draft."""
    return may_edit_drafts_of(user, resolution.author_id)


def may_edit_drafts_of(user: User, author_id: int) -> bool:
    return author_id == user.id or serves(user, author_id)


def resolution_seen_by(user_id) -> sa.ColumnElement[bool]:
    """Which resolutions of a document they may open a user sees, as a clause: the issued ones, and the
    drafts of those whose drafts they may edit (their own, and those of the executives they assist)."""
    assisted = sa.select(assistants.c.executive_id).where(assistants.c.assistant_id == user_id)
    issued = Resolution.status.in_([sa.literal_column(f"'{state}'") for state in ISSUED_STATES])  # constants
    return sa.or_(issued, Resolution.author_id == user_id,
                  Resolution.author_id.in_(assisted))


def resolution_read_by(user_id, now) -> sa.ColumnElement[bool]:
    """Who may read a resolution (the statement's `resolutions` row), as a clause (values or bind
    parameters; `now` judges which substitutions run): its author and the assistants of its author, a
    draft too; once issued, also its controller, its executors, whoever may see its document, and a deputy
    (resolutions scope) of its controller, author or an executor, those the deputy accepts reports on,
    decides extensions of and withdraws in their name. The rule's one home: `get_resolution` asks it, and
    the reads that check it in their own statement (the execution tree) compile it."""
    issued = Resolution.status.in_([sa.literal_column(f"'{state}'") for state in ISSUED_STATES])  # constants
    serves_author = sa.exists().where(assistants.c.assistant_id == user_id,
                                      assistants.c.executive_id == Resolution.author_id)
    executors = sa.select(resolution_executors.c.user_id).where(  # two levels down: correlated by name
        resolution_executors.c.resolution_id == Resolution.id).correlate(Resolution)
    executes = sa.exists().where(resolution_executors.c.resolution_id == Resolution.id,
                                 resolution_executors.c.user_id == user_id)
    acts_for_someone_concerned = sa.exists(substitutions.acted_for(user_id, "resolutions", now).where(sa.or_(
        Substitution.principal_id == sa.func.coalesce(Resolution.controller_id, Resolution.author_id),
        Substitution.principal_id == Resolution.author_id, Substitution.principal_id.in_(executors))))
    return sa.or_(Resolution.author_id == user_id, serves_author, sa.and_(issued, sa.or_(
        Resolution.controller_id == user_id, executes, seen_by(user_id, Resolution.document_id),
        acts_for_someone_concerned)))


# The moment a rule is judged at, for statements built once.
NOW = sa.bindparam("now", type_=Substitution.starts_at.type)
_READ_BY = sa.select(resolution_read_by(USER_ID, NOW)).where(
    Resolution.id == sa.bindparam("resolution_id", type_=sa.BigInteger))


def get_resolution(user: User, resolution_id: int | None, lock: bool = False) -> Resolution:
    """A resolution the user may read (`resolution_read_by`), else 404.

    `lock=True` for a change: the row is locked first and read after, so the rules then checked on
    it hold until commit (see models.base.lock).
    """
    if not resolution_id:
        raise not_found("resolution")
    res = lock_row(Resolution, resolution_id) if lock else db.session.get(Resolution, resolution_id)
    if res is None or not db.session.scalar(_READ_BY, {"user_id": user.id, "resolution_id": res.id, "now": utcnow()}):
        raise not_found("resolution")
    return res


def get_task(user: User, task_id: int | None, lock: bool = False) -> Task:
    """One of the user's own tasks, else 404; `lock=True` locks it first (as `get_resolution`)."""
    if not task_id:
        raise not_found("task")
    task = lock_row(Task, task_id) if lock else db.session.get(Task, task_id)
    if task is None or task.executor_id != user.id or task.removed:
        raise not_found("task")
    return task


def actions_for(user_id: int, roles: list[str], owner_id: int, has_open_task: bool, approval) -> list[str]:
    """What a user (their id and roles) may do with a document right now: given its owner, whether
    the user has an open task on it, and its current approval round (or None)."""
    actions = []
    if "executive" in roles or has_open_task:
        actions.append("resolve")
    if has_open_task:
        actions.append("complete")
    if owner_id == user_id:
        actions.append("route")
    if approval is not None and user_id in approvals.due(approval):
        actions.append("approve")
        if signatures.signature_required(user_id):
            actions.append("sign")
    return actions


def open_task_id(user_id: int, document_id: int) -> int | None:
    """The id of one of the user's open tasks on the document, if any (asked by every resolution written)."""
    found = run(_OPEN_TASK, user_id=user_id, document_id=document_id)
    return found[0][0] if found else None


_OPEN_TASK = sa.select(Task.id).where(Task.document_id == DOCUMENT_ID, Task.executor_id == USER_ID,
                                      Task.status == "open", Task.removed == sa.false()).limit(1)
