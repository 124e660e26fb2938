"""Request and response schemas of the organization's settings and templates."""
from marshmallow import Schema, fields, validate

from domain.organization import MAX_TEMPLATE_CHARS

from ..fields import Id, Text
from ..openapi import NONBLANK_TEXT_PATTERN


class OrganizationOut(Schema):
    id = Id()
    name = fields.String()
    short_name = fields.String()
    issue_requires_signature = fields.Boolean(metadata={
        "description": "authors with an enrolled key must sign the resolutions they issue"})
    push_shows_document = fields.Boolean(metadata={
        "description": "push messages may carry the registration number and a short title"})


class OrganizationPatch(Schema):
    issue_requires_signature = fields.Boolean(required=True)


class TemplateIn(Schema):
    text = Text(required=True, validate=[validate.Length(1, MAX_TEMPLATE_CHARS),
                                         validate.Regexp(r"\s*\S", error="Say something.")],
                metadata={"example": "검토 후 보고 하세요", "pattern": NONBLANK_TEXT_PATTERN})
    position = fields.Integer(validate=validate.Range(0, 100000), metadata={"description": "order; default last"})


class TemplatePatch(Schema):
    text = Text(validate=[validate.Length(1, MAX_TEMPLATE_CHARS), validate.Regexp(r"\s*\S", error="Say something.")],
                metadata={"pattern": NONBLANK_TEXT_PATTERN})
    position = fields.Integer(validate=validate.Range(0, 100000))


class TemplateOut(Schema):
    id = Id()
    text = fields.String()
    position = fields.Integer()


class TemplatePage(Schema):
    items = fields.List(fields.Nested(TemplateOut))
