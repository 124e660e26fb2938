"""What an opened document shows: its addressees, files and resolutions, in plain SQL (models.raw).

Opening a document is the most frequent read after the lists. Built from ORM objects it cost a
dozen statements, most of its CPU going to SQLAlchemy; these reads are one statement each, and the
resolutions come a page at a time, however many the document has gathered. Who may see the document,
and which drafts, stays in domain.access: the document's own row and its resolutions are read under
those rules, compiled once into plain SQL (models.raw.run).
Its approval round is read into plain objects shaped like the ORM's (`round_of`), so the rules of
domain.approvals (who is due, each stage's status) judge it as they judge a loaded Approval.
"""
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from models import Document, Resolution, ResolutionRevision, Task, User, resolution_executors
from models.raw import as_utc, fetch, run
from models.signing import Approval

from .access import DOCUMENT_ID, USER_ID, resolution_seen_by, seen_by

# The document as opened by one user: its own fields, its owner, whether it ever had an approval
# route (most never do), whether the user has an open task on it and the user's roles.
HEAD = ("id", "reg_number", "reg_date", "title", "summary", "correspondent", "urgent", "due_at", "owner_id",
        "ever_routed", "has_open_task", "roles")
_OPENED = sa.select(
    Document.id, Document.reg_number, Document.reg_date, Document.title, Document.summary, Document.correspondent,
    Document.urgent, Document.due_at, Document.owner_id,
    sa.exists().where(Approval.document_id == DOCUMENT_ID),
    sa.exists().where(Task.document_id == DOCUMENT_ID, Task.executor_id == USER_ID, Task.status == "open",
                      Task.removed.is_(False)),
    sa.select(User.role_list).where(User.id == USER_ID).scalar_subquery(),
).where(Document.id == DOCUMENT_ID, seen_by(USER_ID, DOCUMENT_ID))


def opened(user_id: int, document_id: int) -> tuple | None:
    """The HEAD row of a document this user may see, in one statement; None if there is none to see."""
    rows = run(_OPENED, user_id=user_id, document_id=document_id)
    return rows[0] if rows else None

ADDRESSEE = ("id", "short_name")
ATTACHMENT = ("id", "name", "mime", "size", "sha256")
EXECUTOR = ("id", "short_name")
# `executors` holds the EXECUTOR rows of each resolution, in their order; `revisions` how many edits were kept.
RESOLUTION = ("id", "document_id", "author_id", "author_short_name", "status", "text", "executors", "deadline",
              "voice_note_id", "parent_task_id", "revisions", "created_at", "issued_at", "controlled",
              "controller_user_id", "drafted_by_id", "issued_by_id", "reject_comment", "acting_for_id")
_EXECUTORS_AT = RESOLUTION.index("executors")


def addressees(document_id: int) -> list[tuple]:
    return fetch("SELECT units.id, units.short_name FROM document_addressees JOIN units "
                 "ON units.id = document_addressees.unit_id WHERE document_addressees.document_id = %s "
                 "ORDER BY units.id", (document_id,))


def attachments(document_id: int) -> list[tuple]:
    return fetch("SELECT id, name, mime, size, sha256 FROM attachments WHERE document_id = %s ORDER BY id",
                 (document_id,))


# How many resolutions an opened document shows; a document that gathered more (a circular every
# ministry delegates down its tree) pages through the rest.
DETAIL_RESOLUTIONS = 50

# A page of the resolutions a reader sees on a document, oldest first after a resolution id: one walk
# of the (document_id, id) index, however long the document's history.
_RESOLUTIONS = sa.select(
    Resolution.id, Resolution.document_id, Resolution.author_id, User.short_name, Resolution.status,
    Resolution.text, Resolution.deadline, Resolution.voice_note_id, Resolution.parent_task_id,
    sa.select(sa.func.count()).where(ResolutionRevision.resolution_id == Resolution.id).scalar_subquery(),
    Resolution.created_at, Resolution.issued_at,
    # As Resolution.controlled and controller_user_id say: a draft's defaults.
    sa.func.coalesce(Resolution.control, sa.and_(Resolution.deadline.is_not(None), sa.exists().where(
        resolution_executors.c.resolution_id == Resolution.id))),
    sa.func.coalesce(Resolution.controller_id, Resolution.author_id),
    Resolution.drafted_by_id, Resolution.issued_by_id, Resolution.reject_comment, Resolution.acting_for_id,
).join(User, User.id == Resolution.author_id).where(
    Resolution.document_id == DOCUMENT_ID, Resolution.id > sa.bindparam("after", type_=sa.BigInteger),
    resolution_seen_by(USER_ID),
).order_by(Resolution.id).limit(sa.bindparam("limit", type_=sa.Integer))


def resolutions(user_id: int, document_id: int, limit: int, after: int = 0) -> list[tuple]:
    """Up to `limit` RESOLUTION rows of the document that the user sees (domain.access.resolution_seen_by),
    oldest first, after the resolution id `after`."""
    rows = run(_RESOLUTIONS, user_id=user_id, document_id=document_id, after=after, limit=limit)
    if not rows:
        return []
    executors: dict[int, list[tuple]] = {}
    for resolution_id, *executor in fetch(
            "SELECT resolution_executors.resolution_id, users.id, users.short_name FROM resolution_executors "
            "JOIN resolutions ON resolutions.id = resolution_executors.resolution_id "
            "JOIN users ON users.id = resolution_executors.user_id WHERE resolutions.document_id = %s "
            "AND resolution_executors.resolution_id BETWEEN %s AND %s "
            "ORDER BY resolution_executors.resolution_id, resolution_executors.position",
            (document_id, rows[0][0], rows[-1][0])):
        executors.setdefault(resolution_id, []).append(tuple(executor))
    return [(*row[:_EXECUTORS_AT], executors.get(row[0], []), *row[_EXECUTORS_AT:]) for row in rows]


# An approval round as domain.approvals reads it: the attributes of models.signing's Approval, its
# stages (approvers in order) and decisions, without the ORM (four statements and most of a routed
# document's CPU).
@dataclass(frozen=True)
class Person:
    id: int
    short_name: str


@dataclass(frozen=True)
class DocumentRef:
    id: int
    reg_number: str
    title: str


@dataclass(frozen=True)
class Stage:
    id: int
    position: int
    mode: str
    approvers: list[Person]


@dataclass(frozen=True)
class Decision:
    id: int
    stage_id: int
    approver_id: int
    approver: Person
    decision: str
    comment: str | None
    signature_id: int | None
    decided_at: datetime
    cancelled: bool
    acting_deputy_id: int | None  # decided by a deputy in the approver's name


@dataclass(frozen=True)
class Round:
    id: int
    document_id: int
    round: int
    status: str
    created_at: datetime
    finished_at: datetime | None
    document: DocumentRef
    stages: list[Stage]
    decisions: list[Decision]


def round_of(document_id: int) -> Round | None:
    """The document's latest approval round, if it ever had a route, in three statements."""
    rows = fetch("SELECT approvals.id, approvals.round, approvals.status, approvals.created_at, approvals.finished_at, "
                 "documents.reg_number, documents.title FROM approvals JOIN documents "
                 "ON documents.id = approvals.document_id WHERE approvals.document_id = %s "
                 "ORDER BY approvals.round DESC LIMIT 1", (document_id,))
    if not rows:
        return None
    approval_id, number, status, created_at, finished_at, reg_number, title = rows[0]
    stages: dict[int, Stage] = {}
    for stage_id, position, mode, user_id, short_name in fetch(
            "SELECT approval_stages.id, approval_stages.position, approval_stages.mode, users.id, users.short_name "
            "FROM approval_stages JOIN approval_stage_approvers ON approval_stage_approvers.stage_id = "
            "approval_stages.id JOIN users ON users.id = approval_stage_approvers.user_id "
            "WHERE approval_stages.approval_id = %s "
            "ORDER BY approval_stages.position, approval_stages.id, approval_stage_approvers.position", (approval_id,)):
        if stage_id not in stages:
            stages[stage_id] = Stage(stage_id, position, mode, [])
        stages[stage_id].approvers.append(Person(user_id, short_name))
    decisions = [Decision(id_, stage_id, approver_id, Person(approver_id, short_name), decision, comment,
                          signature_id, as_utc(decided_at), bool(cancelled), deputy_id)
                 for id_, stage_id, approver_id, short_name, decision, comment, signature_id, decided_at, cancelled,
                 deputy_id
                 in fetch("SELECT approval_decisions.id, approval_decisions.stage_id, approval_decisions.approver_id, "
                          "users.short_name, approval_decisions.decision, approval_decisions.comment, "
                          "approval_decisions.signature_id, approval_decisions.decided_at, "
                          "approval_decisions.cancelled, approval_decisions.acting_deputy_id FROM approval_decisions "
                          "JOIN users "
                          "ON users.id = approval_decisions.approver_id WHERE approval_decisions.approval_id = %s "
                          "ORDER BY approval_decisions.id", (approval_id,))]
    return Round(approval_id, document_id, number, status, as_utc(created_at), as_utc(finished_at),
                 DocumentRef(document_id, reg_number, title), list(stages.values()), decisions)
