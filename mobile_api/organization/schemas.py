"""Request and response schemas of the organization's settings and templates."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from domain.organization import MAX_TEMPLATE_CHARS

from ..fields import Flag, Id, Text, TimeZone
from ..openapi import NONBLANK_TEXT_PATTERN


class OrganizationOut(Schema):
    id = Id()
    name = fields.String()
    short_name = fields.String()
    issue_requires_signature = fields.Boolean(metadata={
        "description": "authors with an enrolled key must sign the resolutions they issue"})
    push_shows_document = fields.Boolean(metadata={
        "description": "push messages may carry the registration number and a short title"})
    timezone = fields.String(metadata={"description": "deadlines said as dates are dates in this zone"})
    remind_days = fields.Function(lambda org: [int(d) for d in org.remind_days.split(",") if d.strip()],
                                  metadata={"type": "array", "items": {"type": "integer"}, "description":
                                            "a task's executor is reminded on the morning of each of these days "
                                            "before its deadline, besides the day itself and once it has passed"})
    quiet_from = fields.String(allow_none=True, metadata={
        "description": "HH:MM: the quiet hours of users who set none of their own, in each one's own zone"})
    quiet_to = fields.String(allow_none=True)
    default_term_months = fields.Integer(metadata={
        "description": "the term offered (`suggested_deadline`) to a resolution for control said without a deadline"})


CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHours(Schema):
    """Quiet hours, HH:MM to HH:MM in the zone of whoever they are for: both ends, or neither."""

    quiet_from = fields.String(allow_none=True, validate=validate.Regexp(CLOCK), metadata={
        "description": "HH:MM, with quiet_to; both null: none set here", "pattern": CLOCK})
    quiet_to = fields.String(allow_none=True, validate=validate.Regexp(CLOCK), metadata={"pattern": CLOCK})

    @validates_schema
    def _quiet_hours_together(self, data: dict, **kwargs) -> None:
        if ("quiet_from" in data) != ("quiet_to" in data) or \
                (data.get("quiet_from") is None) != (data.get("quiet_to") is None):
            raise ValidationError("Quiet hours are set (or cleared) with both ends.", "quiet_to")


class OrganizationPatch(QuietHours):
    """The settings to change: any of them (quiet hours: of the users who set none of their own)."""

    issue_requires_signature = Flag()
    remind_days = fields.List(fields.Integer(validate=validate.Range(1, 60)), validate=validate.Length(max=5),
                              metadata={"description": "days before a deadline to remind its executor, e.g. [3, 1]"})
    default_term_months = fields.Integer(validate=validate.Range(1, 12))


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


class NotificationSettingsIn(QuietHours):
    """A user's own: the time zone their quiet hours and reminders keep, and the quiet hours (both null:
    the organization's; equal ends: none at all)."""

    timezone = fields.String(required=True, validate=TimeZone(), metadata={"example": "Europe/Moscow"})
    quiet_from = fields.String(required=True, allow_none=True, validate=validate.Regexp(CLOCK), metadata={
        "description": "HH:MM, with quiet_to; both null: the organization's", "pattern": CLOCK, "example": "22:00"})
    quiet_to = fields.String(required=True, allow_none=True, validate=validate.Regexp(CLOCK),
                             metadata={"pattern": CLOCK, "example": "07:00"})


class NotificationSettings(Schema):
    timezone = fields.String()
    quiet_from = fields.String(allow_none=True, metadata={"description": "the user's own; null: the organization's"})
    quiet_to = fields.String(allow_none=True)
    organization_quiet_from = fields.String(allow_none=True)
    organization_quiet_to = fields.String(allow_none=True)
