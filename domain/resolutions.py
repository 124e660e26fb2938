"""The life of a resolution: drafted (typed or dictated), reviewed, edited, issued as tasks."""
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm.attributes import set_committed_value

from models import (
    Document,
    Resolution,
    ResolutionRevision,
    Task,
    User,
    audit,
    db,
    resolution_executors,
    utcnow,
)
from models.base import lock as lock_row
from models.base import store_order
from models.changes import change_number

from . import access, assistant_rights, corrections, inbox, signatures, substitutions
from .errors import ApiError, conflict, not_found
from .notify import notify, notify_each
from .workdays import end_of_day

EDITABLE = {"draft", "awaiting_review", "reviewed"}
# What a list of resolutions shows beyond their rows (authors, how many edits), loaded with the list
# rather than by a query per resolution; executors come with every resolution already.
AS_LISTED = (orm.joinedload(Resolution.author), orm.selectinload(Resolution.revisions))
# Which state may follow which; every change of status goes through `move`.
TRANSITIONS = {
    "transcribing": {"awaiting_review", "failed"},
    "failed": {"transcribing"},
    "awaiting_review": {"reviewed", "issued", "rejected"},
    "reviewed": {"issued", "awaiting_review", "rejected"},
    "draft": {"issued", "rejected"},
    "issued": {"executed", "withdrawn"},
    "executed": set(),
    "withdrawn": set(),
    "rejected": set(),
}


def move(res: Resolution, status: str) -> None:
    """Change a resolution's status, or refuse with 409 (naming the status it has) if the contract
    forbids that step. Callers hold the resolution's row lock (`access.get_resolution(..., lock=True)`),
    so of simultaneous moves exactly one happens and the others see its result."""
    if status not in TRANSITIONS[res.status]:
        raise conflict("invalid_state", f"A resolution that is {res.status} cannot become {status}.", res.status)
    res.status = status


def _executors(author: User, ids: list[int]) -> list[User]:
    unique = list(dict.fromkeys(ids))
    users = db.session.scalars(_EXECUTORS, {"ids": unique, "organization_id": author.organization_id}).all()
    if len(users) != len(unique):
        raise ApiError(422, "validation_failed", "Unknown executor.",
                       {"executors": ["Executors must be active users of your organization."]})
    by_id = {u.id: u for u in users}
    return [by_id[i] for i in unique]


# Built once: every resolution written or edited with executors asks it. Their organization is the
# author's: not joined, as users are by default.
_EXECUTORS = sa.select(User).options(orm.lazyload(User.organization)).where(
    User.id.in_(sa.bindparam("ids", expanding=True)), User.organization_id == sa.bindparam("organization_id"),
    User.is_active.is_(True))


def resolver_task(user: User, doc: Document) -> int | None:
    """The id of the task a resolution by this user would delegate (None for an executive's own); 403 if
    they may not write one."""
    task_id = access.open_task_id(user.id, doc.id)
    if task_id is None and not user.has_role("executive"):
        raise ApiError(403, "forbidden", "Only an executive or an executor of a task here writes resolutions.")
    return task_id


def _deadline(author: User, value: datetime | date | None) -> datetime | None:
    """A deadline given as a date is due by the end of that day in the organization's time zone."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return end_of_day(author.organization, value)
    return value


def _controller(author: User, user_id: int | None) -> int | None:
    """The controller named for a resolution: an active user of the author's organization (422 else)."""
    if user_id is None:
        return None
    found = db.session.scalar(sa.select(User.id).where(
        User.id == user_id, User.organization_id == author.organization_id, User.is_active.is_(True)))
    if found is None:
        raise ApiError(422, "validation_failed", "Unknown controller.",
                       {"controller": ["The controller must be an active user of the author's organization."]})
    return found


def create(author: User, doc: Document, text: str, executor_ids: list[int], deadline: datetime | date | None,
           status: str = "draft", issue: bool = False, control: bool | None = None,
           controller_id: int | None = None, by: User | None = None, principal: User | None = None) -> Resolution:
    """A new resolution by `author` on a document they can see; with `issue`, issued at once (as
    `issue` does, the resolution and its tasks written together; never where the organization has
    issues signed, as a signature needs the resolution first). `control` and `controller_id` left
    None take their defaults at issue (`Resolution.controlled`, `Resolution.controller_user_id`).
    `by` is an assistant writing it for the author (domain.drafts), and issuing it in their name.

    A deputy writes in the name of `principal` (checked by `substitutions.acting_principal`): with the
    principal's rights (an executive's, or the delegation of the principal's task), recorded as
    `acting_for`, and controlled by the principal unless a controller is named."""
    parent_task_id = resolver_task(principal or author, doc)
    if issue:
        signatures.check_issue_signed(by or author, signed=False)
    executors = _executors(author, executor_ids) if executor_ids else []
    controller = _controller(author, controller_id)
    res = Resolution(document_id=doc.id, author_id=author.id, status=status, text=text,
                     deadline=_deadline(author, deadline), control=control,
                     controller_id=controller if controller is not None or principal is None else principal.id,
                     parent_task_id=parent_task_id, drafted_by_id=by and by.id,
                     issued_by_id=by.id if by and issue else None, acting_for_id=principal and principal.id)
    res.document, res.author = doc, author
    if issue:
        set_committed_value(res, "executors", executors)
        _mark_issued(res, executors)
    db.session.add(res)
    db.session.flush()
    # Its links go with their positions in one statement, rather than written by the flush and then
    # ordered by another; the collection is set as written, and a new resolution has no revisions.
    if executors:
        db.session.execute(sa.insert(resolution_executors), [
            {"resolution_id": res.id, "user_id": user.id, "position": i} for i, user in enumerate(executors)])
    set_committed_value(res, "executors", executors)
    set_committed_value(res, "revisions", [])
    audit.record(author.organization_id, (by or author).id, "resolution.created", "resolution", res.id, status=status,
                 **_acting_for(author, by, principal))
    if issue:
        _assign(author, res, by=by, principal=principal)
    return res


def keep_executor_order(res: Resolution) -> None:
    """Store the executors' order as given: the first is the responsible executor."""
    store_order(resolution_executors, "resolution_id", res.id, res.executors)


def _render(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list):
        return [str(u.id) for u in value]
    return value


def edit(user: User, resolution_id: int, changes: dict) -> Resolution:
    """Apply an edit by the author or their assistant, keeping it as a revision."""
    res = access.get_resolution(user, resolution_id, lock=True)
    if not access.may_edit_resolution(user, res):
        raise not_found("resolution")
    if res.status not in EDITABLE:
        raise conflict("invalid_state", f"A resolution that is {res.status} cannot be edited.", res.status)
    if "executors" in changes:
        changes = {**changes, "executors": _executors(res.author, changes["executors"])}
    if "deadline" in changes:
        changes = {**changes, "deadline": _deadline(res.author, changes["deadline"])}
    if "controller" in changes:
        controller = changes["controller"]
        changes = {key: value for key, value in changes.items() if key != "controller"}
        changes["controller_id"] = _controller(res.author, controller)
    diff = {}
    for field, new in changes.items():
        old = getattr(res, field)
        if _render(old) != _render(new):
            diff[field] = [_render(old), _render(new)]
            setattr(res, field, new)
    if "executors" in diff:
        keep_executor_order(res)
    if diff:
        res.revisions.append(ResolutionRevision(editor_id=user.id, changes=diff))
        audit.record(user.organization_id, user.id, "resolution.edited", "resolution", res.id, fields=sorted(diff))
    return res


def may_mark_reviewed(user: User, res: Resolution) -> bool:
    """Whether `mark_reviewed` would be allowed now (what a screen offers): never the author's own."""
    return res.author_id != user.id and res.status == "awaiting_review" and access.serves(user, res.author_id)


def mark_reviewed(user: User, resolution_id: int) -> Resolution:
    """An assistant hands the corrected draft back to its author."""
    res = access.get_resolution(user, resolution_id, lock=True)
    if res.author_id == user.id:  # a review is a second pair of eyes: never the author's own
        raise ApiError(403, "self_review", "The author of a draft cannot mark it reviewed; issue or edit it.")
    if not access.serves(user, res.author_id):
        raise not_found("resolution")
    move(res, "reviewed")
    corrections.learn(res)  # what the assistant changed in the transcript corrects the author's next ones
    for reviewer in access.reviewers_of(res.author_id):  # the draft leaves every reviewer's inbox
        inbox.withdraw(reviewer, res.document_id, "review")
    inbox.deliver([res.author_id], res.document, "resolution", user.short_name)
    notify("draft_reviewed", res.author_id, res.document_id, resolution_id=res.id)
    audit.record(user.organization_id, user.id, "resolution.reviewed", "resolution", res.id)
    return res


def issue(user: User, resolution_id: int, signing_session_id: int | None = None) -> Resolution:
    """The author issues the resolution: one task per executor, each told at once. Signed when
    `signing_session_id` names the author's signature of it, as the organization may require.

    Under the resolution's row lock: the tasks carry the text and executors as they are at that
    moment, and an edit or a second issue waiting for the lock finds the resolution issued.

    An assistant the author allowed to (domain.assistant_rights) issues in the author's name: the grant
    is read under the same lock, the issue is recorded as theirs on the author's behalf (`issued_by`,
    the audit entry's `acting_for`), and the organization's signing policy applies to the assistant,
    who signs with their own key.

    A deputy issues the author's draft in the author's name (only the author could: inferred), and a
    draft the deputy wrote in a principal's name only while still acting for them; both checked in the
    lock (`substitutions.acting_principal`) and recorded (`issued_by`, `acting_for`).
    """
    res, principal, by = _issuer(user, resolution_id)
    if signing_session_id:
        signatures.sign_resolution_issue(user, res, signing_session_id)
    _mark_issued(res, res.executors)
    if principal is not None and res.author_id != user.id:
        res.issued_by_id, res.acting_for_id = user.id, principal.id
    elif by is not None:
        res.issued_by_id = by.id
    _assign(res.author if by is not None else user, res, by=by, principal=principal)
    signatures.check_issue_signed(user, signed=bool(signing_session_id))
    return res


def _issuer(user: User, resolution_id: int | None) -> tuple[Resolution, User | None, User | None]:
    """The resolution the user may issue, locked; the principal a deputy issues it for, and the assistant
    issuing it in its author's name (both None for one's own)."""
    res = lock_row(Resolution, resolution_id) if resolution_id else None
    if res is not None and res.author_id == user.id:
        if res.acting_for_id is not None:  # written in a principal's name: issued only while acting
            return res, substitutions.acting_principal(user, res.acting_for_id, "resolutions"), None
        return res, None, None
    principal = substitutions.acts_for(user, res.author_id, "resolutions") if res is not None else None
    if principal is not None:
        return res, principal, None
    res = access.get_resolution(user, resolution_id, lock=True)
    if not access.may_edit_resolution(user, res):
        raise not_found("resolution")
    if not assistant_rights.may_issue_for(user, res.author_id, lock=True):
        raise ApiError(403, "forbidden", "Only the author issues a resolution, or an assistant they allowed to.")
    return res, None, user


def for_issue(user: User, resolution_id: int | None) -> Resolution:
    """A resolution the user would issue (their own, or their principal's), else as `access.get_resolution`."""
    res = db.session.get(Resolution, resolution_id) if resolution_id else None
    if res is not None and (res.author_id == user.id or substitutions.principals_of(user, "resolutions").count(
            res.author_id)):
        return res
    return access.get_resolution(user, resolution_id)


def may_issue(user: User, res: Resolution) -> bool:
    """Whether `issue` without a signature would be allowed now (what a screen offers)."""
    return ((res.author_id == user.id or assistant_rights.may_issue_for(user, res.author_id)
             or res.author_id in substitutions.principals_of(user, "resolutions"))
            and res.status in EDITABLE and not signatures.issue_needs_signature(user))


def _acting_for(author: User, by: User | None, principal: User | None) -> dict:
    """What an audit entry of an act done in another's name adds: whom it was done for (the author, by an
    assistant; the principal, by a deputy)."""
    if by is not None:
        return {"acting_for": str(author.id)}
    return substitutions.audited(principal)


def _mark_issued(res: Resolution, executors: list[User]) -> None:
    """Mark `res` issued, or refuse with 422 if it lacks text or executors."""
    if not res.text.strip() or not executors:
        raise ApiError(422, "validation_failed", "A resolution needs text and executors before it is issued.",
                       {"text": [] if res.text.strip() else ["Required."],
                        "executors": [] if executors else ["At least one executor."]})
    res.control, res.controller_id = res.controlled, res.controller_user_id
    move(res, "issued")
    res.issued_at = utcnow()


def _assign(user: User, res: Resolution, by: User | None = None, principal: User | None = None) -> list[int]:
    """Give each executor of an issued resolution (its links written) a task, and tell them; take the
    resolution off the author's inbox (the principal's, for a deputy). The tasks' ids, in the executors'
    order. `user` is the author or the deputy; `by` an assistant issuing in the author's name (the author
    is told)."""
    # One statement whatever the number of executors, from the links as they stand in the transaction.
    by_executor = {executor_id: task_id for task_id, executor_id in db.session.execute(
        _TASKS, {"resolution_id": res.id, "document_id": res.document_id, "text": res.text,
                 "deadline": res.deadline, "created_at": utcnow(), "seq": change_number(db.session),
                 "control": res.control, "controller_id": res.controller_id,
                 "responsible_id": res.executors[0].id})}
    tasks = [(by_executor[e.id], e.id) for e in res.executors]
    doc = res.document
    inbox.deliver([executor_id for _, executor_id in tasks], doc, "task", user.short_name, due_at=res.deadline)
    notify_each("task_assigned", doc.id, [(executor_id, {"task_id": task_id, "resolution_id": res.id})
                                          for task_id, executor_id in tasks])
    inbox.withdraw((principal or user).id, doc.id, "resolution")
    if by is not None:
        notify("issued_for_you", user.id, doc.id, resolution_id=res.id)
    audit.record(user.organization_id, (by or user).id, "resolution.issued", "resolution", res.id,
                 executors=[str(e.id) for e in res.executors], **_acting_for(user, by, principal))
    return [task_id for task_id, _ in tasks]


_tasks, _links = Task.__table__.c, resolution_executors.c
# An issued resolution's tasks, one per executor link, in one statement however many executors.
_TASKS = sa.insert(Task.__table__).from_select(
    ["resolution_id", "document_id", "executor_id", "text", "deadline", "status", "created_at", "removed", "seq",
     "control", "controller_id", "responsible"],
    sa.select(_links.resolution_id, sa.bindparam("document_id", type_=_tasks.document_id.type), _links.user_id,
              sa.bindparam("text", type_=_tasks.text.type), sa.bindparam("deadline", type_=_tasks.deadline.type),
              sa.literal("open", _tasks.status.type), sa.bindparam("created_at", type_=_tasks.created_at.type),
              sa.false(), sa.bindparam("seq", type_=_tasks.seq.type),
              sa.bindparam("control", type_=_tasks.control.type),
              sa.bindparam("controller_id", type_=_tasks.controller_id.type),
              _links.user_id == sa.bindparam("responsible_id", type_=_links.user_id.type))
    .where(_links.resolution_id == sa.bindparam("resolution_id", type_=_links.resolution_id.type)),
).returning(_tasks.id, _tasks.executor_id)
