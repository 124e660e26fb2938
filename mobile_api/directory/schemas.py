"""Schemas of the directory and of reading a resolution."""
from marshmallow import Schema, fields, validate

from ..fields import Flag, Id, Text, UtcTime
from ..schemas import PageArgs


class UnitRef(Schema):
    id = Id()
    short_name = fields.String()


class PersonRef(Schema):
    id = Id()
    short_name = fields.String()


class Away(Schema):
    until = UtcTime(metadata={"description": "when the period ends (it may be ended sooner)"})
    deputy = fields.Nested(PersonRef, metadata={"description": "who acts for them now"})


class PersonEntry(Schema):
    """A person as a phone lists them: trimmed."""

    id = Id()
    short_name = fields.String(metadata={"description": "«Хабибуллин М.А.»"})
    name = fields.String(metadata={"description": "surname, first name and patronymic"})
    position = fields.String(allow_none=True)
    unit = fields.Nested(UnitRef, allow_none=True)
    away = fields.Nested(Away, metadata={
        "description": "in people and frequent executors, only while someone acts for them (a running "
                       "substitution; absent otherwise); with several deputies, the one for resolutions. "
                       "Never in `sync`", "omit_null": True})


class FrequentEntry(PersonEntry):
    times = fields.Integer(metadata={"description": "resolutions naming them in the last 90 days"})


class PeopleArgs(PageArgs):
    q = Text(validate=validate.Length(max=100),
             metadata={"description": "start of a surname, first name or position; any case, ё = е"})
    unit = Id(metadata={"description": "only people of this unit and the units under it"})


class PeoplePage(Schema):
    items = fields.List(fields.Nested(PersonEntry))
    next_cursor = fields.String(allow_none=True)


class FrequentList(Schema):
    items = fields.List(fields.Nested(FrequentEntry))


class UnitNode(Schema):
    id = Id()
    name = fields.String()
    short_name = fields.String()
    children = fields.List(fields.Nested(lambda: UnitNode()))


class UnitTree(Schema):
    items = fields.List(fields.Nested(UnitNode))


class UnitEntry(Schema):
    id = Id()
    parent_id = Id(allow_none=True)
    name = fields.String()
    short_name = fields.String()


class DirectorySyncArgs(Schema):
    since = fields.String(validate=validate.Length(max=100))
    limit = fields.Integer(load_default=500, validate=validate.Range(1, 2000))


class PeopleChanges(Schema):
    upserted = fields.List(fields.Nested(PersonEntry))
    removed = fields.List(Id(), metadata={"description": "people who left (disabled): drop them"})


class UnitChanges(Schema):
    upserted = fields.List(fields.Nested(UnitEntry))
    removed = fields.List(Id())


class DirectorySync(Schema):
    people = fields.Nested(PeopleChanges)
    units = fields.Nested(UnitChanges)
    next = fields.String(metadata={"description": "pass as `since` next time"})
    has_more = fields.Boolean()


class ParseIn(Schema):
    text = Text(required=True, validate=validate.Length(1, 4000))
    language = fields.String(validate=validate.Regexp(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"),
                             metadata={"description": "default: the user's locale; only ru is read for now"})
    on = fields.Date(metadata={"description": "the day it was said (default: today in the organization's zone)"})
    control = Flag(allow_none=True, metadata={
        "description": "whether the resolution is for control; default: when it names executors and no words of "
                       "information («для сведения»). Decides whether a deadline is suggested when none is said"})


class SaidSpan(Schema):
    said = fields.String(metadata={"description": "the words as said"})
    start = fields.Integer(metadata={"description": "character offset in `text` as sent"})
    end = fields.Integer()


class ParsedExecutor(SaidSpan):
    id = Id()
    short_name = fields.String()


class Candidate(Schema):
    id = Id()
    short_name = fields.String()


class AmbiguousName(SaidSpan):
    candidates = fields.List(fields.Nested(Candidate))


class SuggestedDeadline(Schema):
    deadline = fields.String(metadata={"description": "YYYY-MM-DD in the organization's zone", "format": "date"})
    reason = fields.String(metadata={"enum": ["organization_default"], "description": "why: no deadline was "
                                     "said for a resolution for control, and the organization's default term applies"})
    months = fields.Integer(metadata={"description": "the organization's default term, in months"})
    explanation = fields.String(metadata={"description": "the reason in the user's language, to show beside it"})


class ParseOut(Schema):
    text = fields.String(metadata={"description": "the instruction alone, names and deadline taken out"})
    executors = fields.List(fields.Nested(ParsedExecutor), metadata={"description": "in the order said; "
                                                                                    "the first is responsible"})
    deadline = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD in the organization's zone"})
    deadline_said = fields.String(allow_none=True)
    deadline_span = fields.Nested(SaidSpan, allow_none=True)
    ambiguous = fields.List(fields.Nested(AmbiguousName), metadata={"description": "never guessed"})
    unmatched = fields.List(fields.String(), metadata={"description": "names of no one in the organization"})
    suggested_deadline = fields.Nested(SuggestedDeadline, allow_none=True, metadata={
        "description": "when no deadline is said for a resolution for control: the organization's default, "
                       "offered to the author to confirm or change, never set by itself"})
