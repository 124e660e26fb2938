"""Response and request schemas of the core contract; trimmed mobile views live here."""
from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from domain.documents import MAX_FILES
from domain.execution import CONTROL_VIEWS
from domain.reading import DETAIL_RESOLUTIONS
from models import AuthSession, Device, Document, User
from models.documents import INBOX_KINDS
from models.org import ROLES
from models.resolutions import EXTENSION_STATES, RESOLUTION_STATES, TASK_STATES
from models.views import INBOX_VIEWS, TASK_VIEWS

from .fastdump import omit_nulls
from .fields import Deadline, Flag, Id, Text, UtcTime, fits

# Push tokens (FCM registration tokens, APNs and web-push ids) are printable ASCII, so the column's
# length in characters is also its length in bytes and the unique index never meets an oversized key.
PUSH_TOKEN = r"^[\x21-\x7e]+$"

# A file part of a multipart body, for the contract.
BINARY_PART = {"type": "string", "format": "binary"}

ACTIONS = ["resolve", "complete", "route", "approve", "sign"]


class OrganizationRef(Schema):
    id = Id()
    short_name = fields.String()


class UserRef(Schema):
    id = Id()
    short_name = fields.String()


class UserSchema(Schema):
    id = Id()
    name = fields.String()
    short_name = fields.String()
    roles = fields.List(fields.String(metadata={"enum": list(ROLES)}))
    organization = fields.Nested(OrganizationRef)


class LoginIn(Schema):
    username = Text(required=True, validate=fits(User.username, min=1), metadata={"example": "exec1"})
    password = fields.String(required=True, validate=validate.Length(1, 256), metadata={"example": "demo"})
    device_name = Text(validate=fits(AuthSession.device_name), metadata={"example": "Galaxy Tab S9"})


class RefreshIn(Schema):
    refresh_token = fields.String(required=True, validate=[
        validate.Length(1, 200), validate.Regexp(r"^[0-9]{1,19}\.[0-9]{1,19}\.[A-Za-z0-9_-]{1,100}$",
                                                 error="Not a refresh token.")])


class TokenPair(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String(metadata={"enum": ["Bearer"]})
    expires_in = fields.Integer(metadata={"description": "seconds the access token lives", "example": 900})
    user = fields.Nested(UserSchema)


class DeviceIn(Schema):
    token = fields.String(required=True, validate=[
        fits(Device.token, min=1), validate.Regexp(PUSH_TOKEN, error="Not a push token.")])
    platform = fields.String(required=True, validate=validate.OneOf(["android", "ios", "web"]))
    locale = fields.String(validate=[
        fits(Device.locale), validate.Regexp(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", error="Not a locale.")])
    app_version = Text(validate=fits(Device.app_version))


class DeviceOut(Schema):
    id = Id()
    platform = fields.String(metadata={"enum": ["android", "ios", "web"]})
    locale = fields.String(allow_none=True)
    app_version = fields.String(allow_none=True)
    created_at = UtcTime()
    updated_at = UtcTime()


class PageArgs(Schema):
    limit = fields.Integer(load_default=25, validate=validate.Range(1, 100))
    cursor = fields.String(validate=validate.Length(max=200))


class InboxArgs(PageArgs):
    view = fields.String(load_default="all", validate=validate.OneOf(list(INBOX_VIEWS)))


class TaskArgs(PageArgs):
    view = fields.String(load_default="open", validate=validate.OneOf(list(TASK_VIEWS)))


class SyncArgs(Schema):
    since = fields.String(validate=validate.Length(max=100))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class InboxItemSchema(Schema):
    """One line on a phone screen, and nothing more (under 400 bytes of JSON)."""

    id = Id()
    document_id = Id()
    kind = fields.String(metadata={"enum": list(INBOX_KINDS)})
    reg_number = fields.String()
    title = fields.String(metadata={"maxLength": 120})
    sender = fields.String(data_key="from")
    received_at = UtcTime()
    due_at = UtcTime(allow_none=True)
    unread = fields.Boolean()
    urgent = fields.Boolean()
    for_user = fields.Nested(UserRef, data_key="for", allow_none=True, metadata={
        "description": "a deputy's line: the principal whose line it is (absent from the user's own lines)",
        "omit_null": True})

    @post_dump
    def _without_nulls_omitted(self, data, **_):
        """A field marked `omit_null` is left out rather than null (mobile_api.fastdump does the same)."""
        return omit_nulls(self, data)


class InboxPage(Schema):
    items = fields.List(fields.Nested(InboxItemSchema))
    next_cursor = fields.String(allow_none=True)


class ReportFileSchema(Schema):
    id = Id()
    name = fields.String()
    mime = fields.String()
    size = fields.Integer()


class TaskReportSchema(Schema):
    """One report of the task's executor and how it was received."""

    id = Id()
    text = fields.String()
    created_at = UtcTime()
    outcome = fields.String(allow_none=True, metadata={
        "enum": ["accepted", "returned", "withdrawn"],
        "description": "null while it waits for the controller (or the responsible executor)"})
    comment = fields.String(allow_none=True, metadata={"description": "the reviewer's comment"})
    decided_at = UtcTime(allow_none=True)
    files = fields.List(fields.Nested(ReportFileSchema), metadata={
        "description": "GET /tasks/{id}/reports/{report_id}/files/{file_id} for each file's bytes"})
    voice_note_id = Id(allow_none=True, metadata={
        "description": "a dictated report: its recording (GET /voice-notes/{id} for the words and their timings)"})
    transcript = fields.String(allow_none=True, metadata={
        "description": "a dictated report: what the recogniser heard, never edited (`text` is what was sent)"})
    recording = Id(attribute="recording_file_id", allow_none=True, metadata={
        "description": "a dictated report: the id of its file that is the recording (audio), to check the text by"})


class TaskSchema(Schema):
    id = Id()
    document_id = Id()
    resolution_id = Id()
    reg_number = fields.String(attribute="document.reg_number")
    text = fields.String()
    author = fields.Nested(UserRef, attribute="resolution.author")
    deadline = UtcTime(allow_none=True)
    status = fields.String(metadata={"enum": list(TASK_STATES)})
    report = fields.String(allow_none=True, metadata={"description": "the text of the last report"})
    created_at = UtcTime()
    completed_at = UtcTime(allow_none=True)
    returned = fields.Boolean(metadata={"description": "open again: the last report was returned for rework"})
    responsible = fields.Boolean(metadata={"description": "the executor is the responsible one (named first); "
                                                          "a co-executor reports to them"})
    control = fields.Boolean(metadata={"description": "reported and accepted (else for information: acknowledged)"})
    withdrawn = fields.Boolean(metadata={"description": "ended by its resolution's withdrawal"})
    reported_at = UtcTime(allow_none=True)
    reports = fields.List(fields.Nested(TaskReportSchema), metadata={"description": "oldest first"})


class TaskPage(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    next_cursor = fields.String(allow_none=True)


class TaskCompleteIn(Schema):
    report = Text(required=True, validate=validate.Length(1, 4000), metadata={"example": "Исполнено, отчёт направлен."})


_DICTATED = {"description": "a dictated report (POST /tasks/{id}/voice-report): its recording, sent with the "
                            "corrected `text`; the recording and the files uploaded with it become the report's files"}


class TaskReportIn(Schema):
    text = Text(required=True, validate=validate.Length(1, 4000), metadata={"example": "Ответ направлен заявителю."})
    voice_note_id = Id(metadata=_DICTATED)


class TaskReportForm(Schema):
    text = Text(required=True, validate=validate.Length(1, 4000))
    voice_note_id = Id(metadata=_DICTATED)
    file = fields.List(fields.Raw(metadata=BINARY_PART), validate=validate.Length(max=MAX_FILES),
                       metadata={"description": "the report's files; one part per file"})


class AcceptIn(Schema):
    comment = Text(validate=validate.Length(max=4000))


class ReturnIn(Schema):
    comment = Text(required=True, validate=validate.Length(1, 4000), metadata={"example": "Дополнить расчётами."})


class ExtensionRequestIn(Schema):
    deadline = Deadline(required=True)
    reason = Text(required=True, validate=validate.Length(1, 4000), metadata={"example": "Ждём ответа ведомства."})


class ExtensionDecisionIn(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    comment = Text(validate=validate.Length(max=4000))
    deadline = Deadline(metadata={"description": "approve to this deadline rather than the one asked"})


class ExtensionRequestSchema(Schema):
    id = Id()
    task_id = Id()
    requester = Id(attribute="requester_id")
    decider = Id(attribute="decider_id")
    reason = fields.String()
    old_deadline = UtcTime(allow_none=True)
    deadline = UtcTime(metadata={"description": "as asked"})
    status = fields.String(metadata={"enum": list(EXTENSION_STATES)})
    new_deadline = UtcTime(allow_none=True, metadata={"description": "as approved"})
    comment = fields.String(allow_none=True)
    created_at = UtcTime()
    decided_at = UtcTime(allow_none=True)


class ExecutionTaskBrief(Schema):
    id = Id()
    status = fields.String(metadata={"enum": list(TASK_STATES)})
    responsible = fields.Boolean()
    control = fields.Boolean()
    returned = fields.Boolean()
    withdrawn = fields.Boolean()
    deadline = UtcTime(allow_none=True)
    reported_at = UtcTime(allow_none=True)
    completed_at = UtcTime(allow_none=True)


class ExecutionResolutionBrief(Schema):
    id = Id()
    document_id = Id()
    status = fields.String(metadata={"enum": list(RESOLUTION_STATES)})
    text = fields.String()
    deadline = UtcTime(allow_none=True)
    control = fields.Boolean(attribute="controlled")
    issued_at = UtcTime(allow_none=True)
    closed_at = UtcTime(allow_none=True, metadata={"description": "when it was executed or withdrawn"})
    withdraw_reason = fields.String(allow_none=True)


class ExecutionTask(Schema):
    task = fields.Nested(ExecutionTaskBrief)
    executor = fields.Nested(UserRef)
    reports = fields.List(fields.Nested(TaskReportSchema), metadata={
        "description": "oldest first; a returned one carries the comment it was returned with"})
    extension_requests = fields.List(fields.Nested(ExtensionRequestSchema), metadata={
        "description": "the task's deadline history, oldest first"})
    resolutions = fields.List(fields.Nested(lambda: ExecutionSchema()), metadata={
        "description": "the sub-resolutions the executor issued on the task, each a tree like this one"})


class ExecutionSchema(Schema):
    resolution = fields.Nested(ExecutionResolutionBrief)
    author = fields.Nested(UserRef)
    controller = fields.Nested(UserRef)
    tasks = fields.List(fields.Nested(ExecutionTask))


class ControlArgs(PageArgs):
    view = fields.String(load_default="reports", validate=validate.OneOf(list(CONTROL_VIEWS)))
    principal = Id(data_key="for", metadata={"description": (
        "a deputy's view of a principal they act for now in the `resolutions` scope: what the principal controls "
        "(`403 not_acting_for` when they do not act for them, also once the substitution ended)")})


class ControlTaskBrief(ExecutionTaskBrief):
    document_id = Id()
    resolution_id = Id()
    text = fields.String()
    report = fields.String(allow_none=True, metadata={"description": "the text of the last report"})


class ControlItem(Schema):
    task = fields.Nested(ControlTaskBrief)
    reg_number = fields.String()
    executor = fields.Nested(UserRef)
    extension_request = fields.Nested(ExtensionRequestSchema, allow_none=True, metadata={
        "description": "in the extensions view: the request waiting for the caller's decision"})


class ControlPage(Schema):
    items = fields.List(fields.Nested(ControlItem))
    next_cursor = fields.String(allow_none=True)
    principal = fields.Nested(UserRef, data_key="for", allow_none=True, metadata={
        "description": "whose view this is when the caller asked with `for` as a deputy; else null"})


class SummaryArgs(Schema):
    unit = Id(metadata={"description": "default: the caller's unit (an executive's: the organization's top)"})
    start = Deadline(data_key="from", metadata={"description": "a time, or a date (from its start); "
                                                               "default a year before `to`"})
    end = Deadline(data_key="to", metadata={"description": "a time, or a date (to its end); default now"})
    principal = Id(data_key="for", metadata={"description": (
        "a deputy's view of a principal they act for now in the `resolutions` scope: what the principal reads "
        "(their units' subtree, an executive's organization) "
        "(`403 not_acting_for` when they do not act for them, also once the substitution ended)")})


class Counts(Schema):
    open = fields.Integer(metadata={"description": "not done, due later than soon (or without a deadline)"})
    due_soon = fields.Integer(metadata={"description": "not done, due within 3 days"})
    overdue = fields.Integer(metadata={"description": "not done, past its deadline"})
    done_on_time = fields.Integer(metadata={"description": "reported by the deadline and accepted"})
    done_late = fields.Integer()
    discipline = fields.Float(allow_none=True, metadata={"description": "done on time / done; null before any"})


class SummaryUnit(Schema):
    id = Id()
    short_name = fields.String()


class UnitCounts(Counts):
    unit = fields.Nested(SummaryUnit)
    parent_id = Id(allow_none=True)


class ExecutorCounts(Counts):
    executor = fields.Nested(UserRef)
    unit_id = Id(metadata={"description": "the unit the executor's tasks count in"})


class SummarySchema(Schema):
    unit = fields.Nested(SummaryUnit)
    start = UtcTime(data_key="from")
    end = UtcTime(data_key="to")
    total = fields.Nested(Counts)
    units = fields.List(fields.Nested(UnitCounts), metadata={"description": "each unit of the subtree"})
    executors = fields.List(fields.Nested(ExecutorCounts))
    principal = fields.Nested(UserRef, data_key="for", allow_none=True, metadata={
        "description": "whose summary this is when the caller asked with `for` as a deputy; else null"})


class WithdrawIn(Schema):
    reason = Text(required=True, validate=validate.Length(1, 4000), metadata={"example": "Вопрос снят заявителем."})


class SyncInbox(Schema):
    upserted = fields.List(fields.Nested(InboxItemSchema))
    removed = fields.List(fields.String(), metadata={"description": "ids of lines to drop"})


class SyncTasks(Schema):
    upserted = fields.List(fields.Nested(TaskSchema))
    removed = fields.List(fields.String(), metadata={"description": "ids of tasks to drop"})


class SyncOut(Schema):
    inbox = fields.Nested(SyncInbox)
    tasks = fields.Nested(SyncTasks)
    next = fields.String()
    has_more = fields.Boolean()


class AttachmentSchema(Schema):
    id = Id()
    name = fields.String()
    mime = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class PageSchema(Schema):
    n = fields.Integer(metadata={"description": "the page's number, from 1"})
    width = fields.Integer(metadata={"description": "pixels of the widest prepared image"})
    height = fields.Integer(metadata={"description": "its height in pixels (the page's proportions)"})
    widths = fields.List(fields.Integer(), metadata={"description": "the widths prepared; `?width=` picks the nearest"})


class PagesSchema(Schema):
    status = fields.String(metadata={"enum": ["processing", "ready", "failed"]})
    count = fields.Integer()
    items = fields.List(fields.Nested(PageSchema))
    reason = fields.String(allow_none=True, metadata={
        "description": "why a failed file has no pages, for people (Russian, or English by Accept-Language); "
                       "absent unless failed", "omit_null": True})
    reason_code = fields.String(allow_none=True, metadata={
        "omit_null": True,
        "enum": ["unsupported", "too_large", "too_many_pages", "too_many_pixels", "zip_bomb", "encrypted",
                 "type_mismatch", "unreadable", "too_slow", "missing", "gave_up"]})


class PageImageArgs(Schema):
    width = fields.Integer(validate=validate.Range(1, 10000), metadata={
        "description": "the width the phone wants, in pixels; the nearest prepared one is sent (default: the widest)"})


class ResolutionSchema(Schema):
    id = Id()
    document_id = Id()
    author = fields.Nested(UserRef)
    status = fields.String(metadata={"enum": list(RESOLUTION_STATES)})
    text = fields.String()
    executors = fields.List(fields.Nested(UserRef))
    deadline = UtcTime(allow_none=True)
    voice_note_id = Id(allow_none=True)
    parent_task_id = Id(allow_none=True)
    control = fields.Boolean(attribute="controlled", metadata={
        "description": "for control (reports accepted by the controller) or for information"})
    controller = Id(attribute="controller_user_id", metadata={"description": "who accepts reports and decides "
                                                                            "extensions (default: the author)"})
    revisions = fields.Function(lambda r: len(r.revisions), metadata={"type": "integer",
                                                                      "description": "how many edits were kept"})
    created_at = UtcTime()
    issued_at = UtcTime(allow_none=True)
    drafted_by = Id(attribute="drafted_by_id", allow_none=True, metadata={
        "description": "the assistant who wrote or dictated this draft for its author"})
    issued_by = Id(attribute="issued_by_id", allow_none=True, metadata={
        "description": "who issued it in its author's name: an assistant the author allowed to, or the "
                       "author's deputy (null: the author did)"})
    reject_comment = fields.String(allow_none=True, metadata={"description": "why the author rejected the draft"})
    acting_for = Id(attribute="acting_for_id", allow_none=True, metadata={
        "description": "written or issued by a deputy: the principal in whose name"})


class ResolutionPage(Schema):
    items = fields.List(fields.Nested(ResolutionSchema))
    next_cursor = fields.String(allow_none=True)


class ResolutionIn(Schema):
    text = Text(required=True, validate=validate.Length(1, 4000),
                metadata={"example": "Подготовить предложения к совещанию."})
    executors = fields.List(Id(), required=True, validate=validate.Length(1, 1000))
    deadline = Deadline(allow_none=True)
    issue = Flag(load_default=False, metadata={"description": "issue at once instead of a draft"})
    control = Flag(allow_none=True, metadata={
        "description": "for control; default: when it has executors and a deadline"})
    controller = Id(allow_none=True, metadata={
        "description": "a user of the author's organization; default the author"})
    author = Id(allow_none=True, metadata={
        "description": "an assistant writes a draft for an executive they serve (default: the caller); "
                       "the draft goes to that executive to issue, edit or reject"})
    acting_for = Id(allow_none=True, metadata={
        "description": "a deputy writing in a principal's name names the principal (the controller defaults to "
                       "the principal)"})

    @validates_schema
    def _one_name(self, data, **kwargs):
        # An assistant's draft is the executive's own; a deputy's act is the deputy's in a principal's name.
        if data.get("author") is not None and data.get("acting_for") is not None:
            raise ValidationError("Name either `author` (an assistant's draft) or `acting_for` (a deputy), not both.",
                                  "acting_for")


class ResolutionPatch(Schema):
    text = Text(validate=validate.Length(1, 4000))
    executors = fields.List(Id(), validate=validate.Length(1, 1000))
    deadline = Deadline(allow_none=True)
    control = Flag(allow_none=True)
    controller = Id(allow_none=True)


class DocumentDetailSchema(Schema):
    id = Id()
    reg_number = fields.String()
    reg_date = fields.Date()
    title = fields.String()
    summary = fields.String()
    sender = fields.String(data_key="from", attribute="correspondent")
    urgent = fields.Boolean()
    due_at = UtcTime(allow_none=True)
    addressees = fields.List(fields.Nested(UserRef))
    attachments = fields.List(fields.Nested(AttachmentSchema))
    resolutions = fields.List(fields.Nested(ResolutionSchema), metadata={
        "description": f"the first {DETAIL_RESOLUTIONS} resolutions this user sees, oldest first"})
    resolutions_next_cursor = fields.String(allow_none=True, metadata={
        "description": "when the document has more: GET /documents/{id}/resolutions?cursor= for the next page"})
    approval = fields.Nested("ApprovalSchema", allow_none=True,
                             metadata={"description": "the current approval round, if the document has one"})
    actions = fields.List(fields.String(metadata={"enum": ACTIONS}),
                          metadata={"description": "what this user may do with the document now"})


class DocumentMetadataIn(Schema):
    title = Text(required=True, validate=fits(Document.title, min=1))
    summary = Text(load_default="", validate=validate.Length(max=20000))
    correspondent = Text(required=True, validate=fits(Document.correspondent, min=1))
    addressees = fields.List(Id(), required=True, validate=validate.Length(1, 100))
    for_information = fields.List(Id(), load_default=list, validate=validate.Length(max=500))
    reg_date = fields.Date()
    due_at = UtcTime(allow_none=True)
    urgent = Flag(load_default=False)


# Multipart bodies: their parts, for the contract (the views read the parts themselves).


class DocumentForm(Schema):
    metadata = fields.Nested(DocumentMetadataIn, required=True)
    file = fields.List(fields.Raw(metadata=BINARY_PART), required=True, validate=validate.Length(1, MAX_FILES),
                       metadata={"description": "the letter's files; one part per file"})


class AttachmentForm(Schema):
    file = fields.Raw(required=True, metadata=BINARY_PART)


class SearchArgs(PageArgs):
    q = fields.String(validate=validate.Length(1, 200), metadata={
        "description": "words, any form; all must be found. A registration number finds that document",
        "example": "договоров поставки"})
    reg_number = fields.String(validate=validate.Length(1, 40), metadata={"example": "МЦР-12/26"})
    correspondent = fields.String(validate=validate.Length(1, 300), metadata={
        "description": "part of the correspondent's name, any case"})
    start = fields.Date(data_key="from", metadata={"description": "registered on or after this date"})
    end = fields.Date(data_key="to", metadata={"description": "registered on or before this date"})


class SearchItem(Schema):
    document_id = Id()
    reg_number = fields.String()
    reg_date = fields.Date()
    title = fields.String()
    from_ = fields.String(data_key="from", attribute="from", metadata={"description": "the correspondent"})
    snippet = fields.String(metadata={
        "description": "a passage of the document, HTML-escaped, the words found marked <mark>…</mark>"})


class SearchPage(Schema):
    items = fields.List(fields.Nested(SearchItem))
    next_cursor = fields.String(allow_none=True)
