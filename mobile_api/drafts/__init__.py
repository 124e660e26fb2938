"""Assistants acting for executives: rejecting a draft, and the rights an executive gives."""
from flask import g
from marshmallow import Schema, fields, validate

from domain import assistant_rights, drafts

from ..auth.tokens import authenticate
from ..blueprint import Blueprint
from ..fields import Flag, Id, Text, UtcTime
from ..idempotency import idempotent
from ..openapi import errors
from ..schemas import PageArgs, ResolutionPage, ResolutionSchema, UserRef

blp = Blueprint("drafts", __name__, description="Drafts for executives")
blp.before_request(authenticate)


class RejectIn(Schema):
    comment = Text(allow_none=True, validate=validate.Length(max=4000),
                   metadata={"example": "Не нужно, вопрос решён на совещании."})


class AssistantRightIn(Schema):
    assistant = Id(required=True, metadata={"description": "an assistant who serves the caller"})
    may_issue = Flag(required=True, metadata={
        "description": "the assistant may issue the caller's resolutions in the caller's name"})


class AssistantRightOut(Schema):
    assistant = Id(attribute="assistant_id")
    may_issue = fields.Boolean()
    set_at = UtcTime()


class GivenRight(Schema):
    assistant = fields.Nested(UserRef)
    may_issue = fields.Boolean()
    set_at = UtcTime(allow_none=True)


class HeldRight(Schema):
    executive = fields.Nested(UserRef)
    may_issue = fields.Boolean()


class AssistantRights(Schema):
    assistants = fields.List(fields.Nested(GivenRight), metadata={
        "description": "as an executive: each assistant who serves the caller, and what they may do"})
    executives = fields.List(fields.Nested(HeldRight), metadata={
        "description": "as an assistant: each executive the caller serves, and what the caller may do for them"})


@blp.route("/resolutions/<id:resolution_id>/reject", methods=["POST"])
@idempotent
@blp.arguments(RejectIn())
@blp.response(200, ResolutionSchema)
@errors("forbidden", "invalid_state")
def reject(body, resolution_id):
    """The author turns a draft down (`rejected`), with an optional comment; whoever drafted it is told."""
    return drafts.reject(g.user, resolution_id, body.get("comment"))


@blp.route("/me/drafts", methods=["GET"])
@blp.arguments(PageArgs(), location="query")
@blp.response(200, ResolutionPage)
def my_drafts(args):
    """An assistant's drafts written for executives, newest first, whatever became of them: draft,
    issued (`issued_by` says by whom), or rejected with the executive's `reject_comment`."""
    return drafts.written_by(g.user, args["limit"], args.get("cursor"))


@blp.route("/me/assistant-rights", methods=["GET"])
@blp.response(200, AssistantRights)
def get_rights():
    """What the caller lets each of their assistants do, and what the caller may do for each executive."""
    return assistant_rights.rights_of(g.user)


@blp.route("/me/assistant-rights", methods=["PUT"])
@blp.arguments(AssistantRightIn())
@blp.response(200, AssistantRightOut)
@errors("not_your_assistant")
def put_right(body):
    """An executive allows (or stops allowing) an assistant who serves them to issue in their name."""
    return assistant_rights.set_right(g.user, body["assistant"], body["may_issue"])
