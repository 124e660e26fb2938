"""Execution control: a task's report accepted or returned, acknowledgements, extension requests and
their decision, a resolution withdrawn or executed.

Every transition takes its rows' locks first and checks its rules after (models.base.lock), always in
the same order, resolution, then task, then extension request: of simultaneous requests exactly one
takes effect, and the others find what it left and answer 409 with that `state`.
"""
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm
from werkzeug.datastructures import FileStorage

from models import (
    ExtensionRequest,
    InboxItem,
    ReportFile,
    Resolution,
    Task,
    TaskReport,
    User,
    VoiceNote,
    audit,
    db,
    resolution_executors,
    utcnow,
)
from models.base import lock
from models.changes import change_number

from . import access, inbox, substitutions
from .documents import MAX_FILES, store_upload
from .errors import ApiError, conflict, not_found
from .notify import notify, notify_each
from .resolutions import move
from .workdays import end_of_day


def responsible_executor(task: Task) -> int:
    """The responsible executor of the task's resolution: the first named. From the resolution's executors
    when they are loaded (a page of tasks), else by one indexed read rather than loading them all."""
    res = sa.inspect(task).attrs.resolution.loaded_value
    if res is not orm.attributes.NO_VALUE and "executors" not in sa.inspect(res).unloaded:
        return res.executors[0].id
    return db.session.scalar(_FIRST_EXECUTOR, {"resolution": task.resolution_id})


_FIRST_EXECUTOR = sa.select(resolution_executors.c.user_id).where(
    resolution_executors.c.resolution_id == sa.bindparam("resolution")).order_by(
    resolution_executors.c.position).limit(1)


def reviewer_of(task: Task) -> int:
    """Who accepts or returns the task's report: the controller for the responsible executor (or a sole
    one), the responsible executor for a co-executor."""
    return task.controller_id if task.responsible else responsible_executor(task)


def may_review(user: User, task: Task) -> bool:
    """The controller decides every report of the resolution; the responsible executor those of the
    co-executors."""
    return user.id == task.controller_id or (not task.responsible and user.id == responsible_executor(task))


def may_decide(user: User, request: ExtensionRequest) -> bool:
    """Only the decider the request names (the task's controller) decides an extension."""
    return user.id == request.decider_id


def _refuse(user: User, task: Task, what: str) -> ApiError:
    """403 for someone who sees the resolution but has no say here; 404 for anyone else."""
    res = task.resolution
    if task.removed:
        return not_found("task")
    try:
        access.get_resolution(user, res.id)
    except ApiError:
        return not_found("task")
    return ApiError(403, "forbidden", what)


def _reviewed_task(user: User, task_id: int | None) -> tuple[Resolution, Task, User | None]:
    """The task whose report `user` decides, locked after its resolution (an accept may execute it), and
    the principal a deputy decides it for (only the reviewer could: inferred, checked in the lock)."""
    # The resolution is found by the task's id in the statement that locks it; its executors are read
    # only if a rule asks for them (a co-executor's task).
    res = lock(Resolution, sa.select(Task.resolution_id).where(Task.id == task_id).scalar_subquery(),
               orm.lazyload(Resolution.executors)) if task_id else None
    task = lock(Task, task_id) if res is not None else None
    if task is None:
        raise not_found("task")
    reviews = not task.removed and may_review(user, task)
    principal = None
    if not task.removed and not reviews:
        principal = substitutions.acts_for(user, reviewer_of(task), "resolutions")
    if task.removed or not (principal is not None or reviews):
        raise _refuse(user, task, "Only the controller (or the responsible executor, for a co-executor's task) "
                                  "accepts or returns a report.")
    return res, task, principal


def _own_task(user: User, task_id: int | None) -> Task:
    return access.get_task(user, task_id, lock=True)


def _store(report: TaskReport, files: list[FileStorage], kept: list[dict] = ()) -> None:
    """The report's files: those kept since they came with its recording, then those sent with it."""
    if len(kept) + len(files) > MAX_FILES:
        raise ApiError(422, "validation_failed", "Too many files.", {"file": [f"At most {MAX_FILES} files."]})
    for stored in kept:
        report.files.append(ReportFile(**stored))
    for upload in files:
        report.files.append(ReportFile(**store_upload(upload)))


# The name a dictated report's recording has among its files, by its type.
_RECORDING_SUFFIX = {"audio/mp4": ".m4a", "audio/ogg": ".ogg", "audio/webm": ".webm", "audio/mpeg": ".mp3",
                     "audio/wav": ".wav", "audio/aac": ".aac", "audio/flac": ".flac", "audio/amr": ".amr",
                     "audio/3gpp": ".3gp", "audio/x-matroska": ".mka", "audio/aiff": ".aiff", "audio/x-caf": ".caf"}


def _dictated(user: User, task: Task, voice_note_id: int) -> tuple[VoiceNote, list[dict]]:
    """The executor's recording of this task that the report is sent with, and the files it keeps for the
    report: the recording itself first (the controller checks the text against it), then those uploaded
    with it. A recording goes with one report only."""
    note = db.session.get(VoiceNote, voice_note_id)
    if note is None or note.task_id != task.id or note.author_id != user.id:
        raise ApiError(422, "validation_failed", "The report did not pass validation.",
                       {"voice_note_id": ["Not a recording of a report on this task by you."]})
    if db.session.scalar(sa.select(sa.exists().where(TaskReport.voice_note_id == note.id))):
        raise conflict("invalid_state", "This recording was sent with a report already; record a new one.", "sent")
    recording = {"name": f"report-{note.id}{_RECORDING_SUFFIX.get(note.mime, '')}", "mime": note.mime,
                 "size": note.size, "sha256": note.sha256}
    return note, [recording, *(note.files or [])]


def _decide_waiting(task_id: int, outcome: str, user: User, at: datetime, comment: str | None) -> int | None:
    """Decide the report waiting on the task (the latest undecided; the task is locked), in one
    statement: the decided report's id, or None if none was waiting."""
    return db.session.scalar(_DECIDE, {"task": task_id, "outcome": outcome, "by": user.id, "at": at,
                                       "comment": comment})


_reports = TaskReport.__table__.c
# Built once: every accept and return sends it.
_DECIDE = sa.update(TaskReport.__table__).where(_reports.id == sa.select(sa.func.max(_reports.id)).where(
    _reports.task_id == sa.bindparam("task"), _reports.outcome.is_(None)).scalar_subquery()).values(
    outcome=sa.bindparam("outcome"), decided_by_id=sa.bindparam("by"), decided_at=sa.bindparam("at"),
    comment=sa.bindparam("comment")).returning(_reports.id)


# --- lines in the inbox ----------------------------------------------------------------------------

def _settle_lines(document_id: int, user_ids: set[int]) -> None:
    """Take out of these users' inboxes the lines of the document that no longer ask anything of them:
    a task line without an open task, a report line without a report waiting for them, an extension
    line without a request waiting for their decision. Their deputies' copies of those lines go too.

    One UPDATE per user, every user's in one round trip (psycopg pipelines an executemany): every
    transition settles lines, and asking first and withdrawing after cost nine statements a user."""
    change = change_number(db.session)
    db.session.execute(_SETTLE, [{"user": user_id, "document": document_id, "change": change}
                                 for user_id in sorted(user_ids)])


_lines, _USER, _DOCUMENT = InboxItem.__table__.c, sa.bindparam("user"), sa.bindparam("document")
# A line of the user's (or their deputies' copy of one), taken out when nothing of its kind waits for
# them on the document; built once.
_SETTLE = sa.update(InboxItem.__table__).where(
    _lines.document_id == _DOCUMENT, _lines.removed == sa.false(),
    sa.or_(_lines.user_id == _USER, _lines.for_user_id == _USER),
    sa.or_(
        sa.and_(_lines.kind == "task", ~sa.exists().where(
            Task.document_id == _DOCUMENT, Task.executor_id == _USER, Task.status == "open", Task.removed.is_(False))),
        sa.and_(_lines.kind == "report", ~sa.exists().where(
            Task.document_id == _DOCUMENT, Task.reviewer_id == _USER, Task.status == "reported",
            Task.removed.is_(False))),
        sa.and_(_lines.kind == "extension", ~sa.exists().where(
            ExtensionRequest.decider_id == _USER, ExtensionRequest.status == "pending",
            ExtensionRequest.task_id == Task.id, Task.document_id == _DOCUMENT)),
    ),
).values(removed=True, seq=sa.bindparam("change", type_=sa.BigInteger))


def _executor_line(task: Task, sender: str) -> None:
    """The executor's task line comes back unread, due when the task now is."""
    inbox.deliver([task.executor_id], task.document, "task", sender, due_at=task.deadline)


# --- the executor ----------------------------------------------------------------------------------

def reportable(task: Task) -> None:
    """A report is made on an open controlled task only (409 with its state otherwise)."""
    if not task.control:
        raise conflict("invalid_state", "A task for information is acknowledged, not reported.", task.status)
    if task.status != "open":
        raise conflict("invalid_state", f"A task that is {task.status} cannot be reported on.", task.status)


def report(user: User, task_id: int, text: str, files: list[FileStorage], voice_note_id: int | None = None) -> Task:
    """The executor reports on a controlled task: it waits for the controller (or, for a co-executor,
    the responsible executor), who finds it in their inbox. A dictated report names its recording
    (domain.voice_reports): the recording and the files uploaded with it become the report's files.
    Every refusal comes before anything is written."""
    task = _own_task(user, task_id)
    reportable(task)
    note, kept = _dictated(user, task, voice_note_id) if voice_note_id is not None else (None, [])
    entry = TaskReport(task_id=task.id, author_id=user.id, text=text, voice_note_id=note and note.id)
    _store(entry, files, kept)
    stored = [f.sha256 for f in entry.files]  # read before the flush, which would leave them to be loaded again
    db.session.add(entry)
    reviewer = reviewer_of(task)
    task.status, task.report, task.reported_at, task.returned, task.reviewer_id = \
        "reported", text, utcnow(), False, reviewer
    db.session.flush()
    inbox.deliver([reviewer], task.document, "report", user.short_name, due_at=task.deadline)
    _settle_lines(task.document_id, {user.id})
    # Reports, accepts and returns, the busiest writes, queue their notification by notify_each: the same
    # row, one Core insert rather than an ORM object to flush.
    notify_each("report_submitted", task.document_id,
                [(reviewer, {"task_id": task.id, "resolution_id": task.resolution_id, "report_id": entry.id})])
    audit.record(user.organization_id, user.id, "task.reported", "task", task.id, report_id=str(entry.id),
                 files=stored, **({"voice_note_id": str(note.id)} if note else {}))
    return task


def acknowledge(user: User, task_id: int, text: str | None = None) -> Task:
    """The executor of a task for information acknowledges it: done."""
    task = _own_task(user, task_id)
    if task.control:
        raise conflict("invalid_state", "A controlled task is reported and accepted, not acknowledged.", task.status)
    if task.status != "open":
        raise conflict("invalid_state", f"A task that is {task.status} cannot be acknowledged.", task.status)
    task.status, task.completed_at = "done", utcnow()
    if text is not None:
        task.report = text
    db.session.flush()
    _settle_lines(task.document_id, {user.id})
    notify("task_completed", task.controller_id or task.resolution.author_id, task.document_id, task_id=task.id,
           resolution_id=task.resolution_id)
    audit.record(user.organization_id, user.id, "task.acknowledged", "task", task.id)
    return task


def complete(user: User, task_id: int, text: str) -> Task:
    """What `complete` meant before execution control, kept for the apps that send it: on a controlled
    task the executor's report, on a task for information its acknowledgement."""
    task = access.get_task(user, task_id)
    return report(user, task_id, text, []) if task.control else acknowledge(user, task_id, text)


# --- the controller --------------------------------------------------------------------------------

def accept(user: User, task_id: int, comment: str | None = None) -> Task:
    """The report is accepted: the task is done, and its resolution executed when it was the last."""
    res, task, principal = _reviewed_task(user, task_id)
    if task.status != "reported":
        raise conflict("invalid_state", f"A task that is {task.status} has no report to accept.", task.status)
    now = utcnow()
    decided = _decide_waiting(task.id, "accepted", user, now, comment)
    task.status, task.completed_at = "done", now
    db.session.flush()
    _settle_lines(task.document_id, {task.reviewer_id or user.id})
    notify_each("report_accepted", task.document_id,
                [(task.executor_id, {"task_id": task.id, "resolution_id": res.id})])
    audit.record(user.organization_id, user.id, "task.accepted", "task", task.id,
                 report_id=str(decided) if decided else None, **substitutions.audited(principal))
    _execute_if_done(user, res, principal)
    return task


def _execute_if_done(user: User, res: Resolution, principal: User | None = None) -> None:
    """A controlled resolution whose every task is done is executed (its row is locked by the caller)."""
    if res.status != "issued" or not res.control:
        return
    if db.session.scalar(_UNDONE, {"resolution": res.id}):
        return
    move(res, "executed")
    res.closed_at = utcnow()
    audit.record(user.organization_id, user.id, "resolution.executed", "resolution", res.id,
                 **substitutions.audited(principal))


_UNDONE = sa.select(sa.exists().where(Task.resolution_id == sa.bindparam("resolution"), Task.removed.is_(False),
                                     Task.status != "done"))  # built once: every accept asks it


def return_report(user: User, task_id: int, comment: str) -> Task:
    """The report goes back for rework with the reviewer's comment: the task is open again, and its
    line comes back to the executor unread."""
    _, task, principal = _reviewed_task(user, task_id)
    if task.status != "reported":
        raise conflict("invalid_state", f"A task that is {task.status} has no report to return.", task.status)
    decided = _decide_waiting(task.id, "returned", user, utcnow(), comment)
    reviewer = task.reviewer_id
    task.status, task.returned = "open", True
    db.session.flush()
    _executor_line(task, user.short_name)
    _settle_lines(task.document_id, {reviewer or user.id})
    notify_each("report_returned", task.document_id,
                [(task.executor_id, {"task_id": task.id, "resolution_id": task.resolution_id})])
    audit.record(user.organization_id, user.id, "task.returned", "task", task.id,
                 report_id=str(decided) if decided else None, **substitutions.audited(principal))
    return task


# --- deadlines -------------------------------------------------------------------------------------

def _deadline(user: User, value: datetime | date) -> datetime:
    if isinstance(value, date) and not isinstance(value, datetime):
        value = end_of_day(user.organization, value)
    if value <= utcnow():
        raise ApiError(422, "validation_failed", "The deadline has passed.", {"deadline": ["Must be in the future."]})
    return value


def request_extension(user: User, task_id: int, deadline: datetime | date, reason: str) -> ExtensionRequest:
    """The executor asks the controller for a later deadline: one request pending per task."""
    task = _own_task(user, task_id)
    if task.status == "done":
        raise conflict("invalid_state", "A task that is done needs no extension.", task.status)
    wanted = _deadline(user, deadline)
    if task.deadline is not None and wanted <= task.deadline:
        raise ApiError(422, "validation_failed", "An extension asks for a later deadline.",
                       {"deadline": ["Must be later than the task's deadline."]})
    if db.session.scalar(sa.select(sa.exists().where(ExtensionRequest.task_id == task.id,
                                                     ExtensionRequest.status == "pending"))):
        raise conflict("extension_pending", "The task already has a request waiting for a decision.", "pending")
    decider = task.controller_id or task.resolution.author_id
    request = ExtensionRequest(task_id=task.id, requester_id=user.id, decider_id=decider, reason=reason,
                               old_deadline=task.deadline, deadline=wanted, status="pending")
    db.session.add(request)
    db.session.flush()
    inbox.deliver([decider], task.document, "extension", user.short_name, due_at=task.deadline)
    notify("extension_requested", decider, task.document_id, task_id=task.id, extension_request_id=request.id)
    audit.record(user.organization_id, user.id, "task.extension_requested", "task", task.id,
                 extension_request_id=str(request.id), deadline=wanted.isoformat())
    return request


def decide_extension(user: User, request_id: int | None, decision: str, comment: str | None,
                     deadline: datetime | date | None) -> ExtensionRequest:
    """The controller approves (the task's deadline moves, to `deadline` if given) or rejects a request."""
    found = db.session.get(ExtensionRequest, request_id) if request_id else None
    if found is None:
        raise not_found("extension request")
    task = lock(Task, found.task_id)
    request = lock(ExtensionRequest, found.id)
    principal = None
    if not task.removed and not may_decide(user, request):  # a deputy of the controller decides for them
        principal = substitutions.acts_for(user, request.decider_id, "resolutions")
    if task.removed or (not may_decide(user, request) and principal is None):
        if user.id in (request.requester_id, task.executor_id):
            raise ApiError(403, "forbidden", "Only the controller decides an extension.")
        raise _refuse(user, task, "Only the controller decides an extension.")
    if request.status != "pending":
        raise conflict("invalid_state", f"The request is {request.status} already.", request.status)
    now = utcnow()
    request.comment, request.decided_at = comment, now
    if decision == "approve":
        request.status = "approved"
        request.new_deadline = _deadline(user, deadline) if deadline is not None else request.deadline
        task.deadline = request.new_deadline
    else:
        request.status = "rejected"
    db.session.flush()
    if request.status == "approved" and task.status == "open":
        _executor_line(task, user.short_name)  # the line comes back unread, due at the new deadline
    _settle_lines(task.document_id, {request.decider_id})
    notify("extension_decided", request.requester_id, task.document_id, task_id=task.id,
           extension_request_id=request.id)
    audit.record(user.organization_id, user.id, f"task.extension_{request.status}", "task", task.id,
                 extension_request_id=str(request.id),
                 deadline=request.new_deadline.isoformat() if request.new_deadline else None,
                 **substitutions.audited(principal))
    return request


# --- the resolution --------------------------------------------------------------------------------

def withdraw(user: User, resolution_id: int, reason: str) -> Resolution:
    """The controller (or their deputy, in their name: checked in the resolution's lock) takes the
    resolution off control: its tasks not done end (as withdrawn, never late), their pending extension
    requests are cancelled, and the executors are told."""
    res = access.get_resolution(user, resolution_id, lock=True)
    principal = None
    if user.id != res.controller_user_id:  # a deputy of the controller withdraws it in their name
        principal = substitutions.acts_for(user, res.controller_user_id, "resolutions")
        if principal is None:
            raise ApiError(403, "forbidden", "Only the controller withdraws a resolution.")
    if res.status != "issued":
        raise conflict("invalid_state", f"A resolution that is {res.status} cannot be withdrawn.", res.status)
    now = utcnow()
    move(res, "withdrawn")
    res.withdraw_reason, res.closed_at = reason, now
    ending = db.session.scalars(sa.select(Task).where(Task.resolution_id == res.id, Task.removed.is_(False),
                                                      Task.status != "done").order_by(Task.id)
                                .with_for_update()).all()
    concerned = {(principal or user).id}
    for task in ending:
        concerned |= {task.executor_id, *([task.reviewer_id] if task.reviewer_id else [])}
        task.status, task.withdrawn, task.completed_at = "done", True, now
    if ending:
        db.session.execute(sa.update(ExtensionRequest).where(
            ExtensionRequest.task_id.in_([t.id for t in ending]), ExtensionRequest.status == "pending")
            .values(status="cancelled", decided_at=now, comment=reason))
        for waiting in db.session.scalars(sa.select(TaskReport).where(
                TaskReport.task_id.in_([t.id for t in ending]), TaskReport.outcome.is_(None))):
            waiting.outcome, waiting.decided_at = "withdrawn", now
    db.session.flush()
    _settle_lines(res.document_id, concerned)
    notify_each("resolution_withdrawn", res.document_id,
                [(t.executor_id, {"task_id": t.id, "resolution_id": res.id}) for t in ending])
    audit.record(user.organization_id, user.id, "resolution.withdrawn", "resolution", res.id, reason=reason,
                 tasks=[str(t.id) for t in ending], **substitutions.audited(principal))
    return res


# --- reads -----------------------------------------------------------------------------------------

def _visible_task(user: User, task_id: int | None) -> Task:
    """A task its executor, its reviewer and whoever sees its resolution may read; else 404."""
    task = db.session.get(Task, task_id) if task_id else None
    if task is None or task.removed:
        raise not_found("task")
    if user.id not in (task.executor_id, task.reviewer_id, task.controller_id):
        access.get_resolution(user, task.resolution_id)  # 404 when they do not see it
    return task


def may_read_task(user: User, task_id: int) -> bool:
    """Whether the user may read the task (its reports and their files): see `_visible_task`."""
    try:
        _visible_task(user, task_id)
    except ApiError:
        return False
    return True


def waiting_reports(task_ids: list[int]) -> dict[int, TaskReport]:
    """The report waiting for a decision on each of these tasks (with its files), in one query."""
    if not task_ids:
        return {}
    found = db.session.scalars(sa.select(TaskReport).where(TaskReport.task_id.in_(task_ids),
                                                          TaskReport.outcome.is_(None))
                               .options(orm.selectinload(TaskReport.files)).order_by(TaskReport.id)).all()
    return {entry.task_id: entry for entry in found}  # the latest, as _decide_waiting decides it


def get_extension_request(user: User, request_id: int | None) -> ExtensionRequest:
    found = db.session.get(ExtensionRequest, request_id) if request_id else None
    if found is None:
        raise not_found("extension request")
    _visible_task(user, found.task_id)
    return found


def report_file(user: User, task_id: int, report_id: int, file_id: int) -> ReportFile:
    """A file of a report on a task the user may read; else 404."""
    _visible_task(user, task_id)
    found = db.session.scalar(sa.select(ReportFile).join(TaskReport, TaskReport.id == ReportFile.report_id).where(
        ReportFile.id == file_id, ReportFile.report_id == report_id, TaskReport.task_id == task_id))
    if found is None:
        raise not_found("file")
    return found
