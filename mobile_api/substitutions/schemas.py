"""Substitutions: who acts for whom, when, and in what."""
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from models.substitutions import SCOPES

from ..fields import Id, UtcTime
from ..schemas import UserRef


class SubstitutionIn(Schema):
    principal = Id(metadata={"description": "whom the deputy acts for; default the caller (an admin names anyone "
                                            "of the organization)"})
    deputy = Id(required=True)
    starts_at = UtcTime(required=True, metadata={"description": "a time already past means now"})
    ends_at = UtcTime(required=True)
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True,
                         validate=validate.Length(1, len(SCOPES)))

    @validates_schema
    def _period(self, data, **_):
        if data["ends_at"] <= data["starts_at"]:
            raise ValidationError("The period must end after it starts.", "ends_at")


class SubstitutionSchema(Schema):
    id = Id()
    principal = fields.Nested(UserRef)
    deputy = fields.Nested(UserRef)
    starts_at = UtcTime()
    ends_at = UtcTime()
    scopes = fields.List(fields.String(metadata={"enum": list(SCOPES)}))
    created_by = Id(attribute="created_by_id")
    created_at = UtcTime()
    running = fields.Boolean(metadata={"description": "whether the deputy acts now"})


class SubstitutionList(Schema):
    items = fields.List(fields.Nested(SubstitutionSchema))
