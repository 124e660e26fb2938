"""Marshmallow fields for the contract's conventions: string ids, UTC times, clean text."""
import re
import unicodedata
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import ValidationError, fields, validate

MAX_ID = 2**63 - 1


class Id(fields.Field):
    """Ids are opaque strings to clients and integers to us."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
            raise ValidationError("Not a valid id.")
        return int(text)


def parse_id(raw: str) -> int | None:
    """An id from a URL or cursor, or None when it cannot name anything."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= MAX_ID:
        return int(raw)
    return None


class UtcTime(fields.DateTime):
    """RFC 3339 in UTC out (`2026-11-25T09:30:00Z`); any offset in, but never a naive time."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid time.")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationError("Not a valid RFC 3339 time.") from None
        if parsed.tzinfo is None:
            raise ValidationError("The time needs a UTC offset, e.g. 2026-11-25T09:30:00Z.")
        if not 2000 <= parsed.year <= 2200:
            raise ValidationError("The time is out of range.")
        return parsed.astimezone(timezone.utc)


_PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Deadline(fields.Field):
    """A deadline: an RFC 3339 time, or a plain date (`2026-12-10`), which the rules read as the end of
    that day in the organization's time zone (as `/resolutions/parse` and the console give it)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return UtcTime()._serialize(value, attr, obj)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and _PLAIN_DATE.fullmatch(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ValidationError("Not a valid date.") from None
            if not 2000 <= day.year <= 2200:
                raise ValidationError("The date is out of range.")
            return day
        return UtcTime()._deserialize(value, attr, data)


_ALLOWED_CONTROLS = {"\n", "\t"}


class Text(fields.String):
    """User text: NFC-normalised; control characters, NUL and lone surrogates refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        text = text.replace("\r\n", "\n")
        for ch in text:
            if (unicodedata.category(ch) in ("Cc", "Cs") and ch not in _ALLOWED_CONTROLS) or ch in "\u2028\u2029":
                raise ValidationError("Contains characters that are not allowed (control or broken Unicode).")
        return unicodedata.normalize("NFC", text)


def fits(column, min: int | None = None) -> validate.Length:
    """A length validator taken from a model column, so that the limit lives in one place: the schema.

    `fits(Device.locale)` refuses what the column cannot hold with a 422 instead of letting the
    database refuse it with a 500 (PostgreSQL) or silently keep it whole (SQLite).
    """
    length = column.property.columns[0].type.length if hasattr(column, "property") else column.type.length
    if length is None:
        raise TypeError(f"{column} has no length to derive a limit from")
    return validate.Length(min=min, max=length)


class Flag(fields.Boolean):
    """A JSON boolean, as the schema says: not 0, 1 or the strings marshmallow would take for one."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):  # 0 == False and 1 == True: a set of them would take the numbers
            raise self.make_error("invalid")
        return value


class TimeZone(validate.Validator):
    """An IANA time zone this machine knows (Europe/Moscow, Asia/Yekaterinburg, UTC...)."""

    def __call__(self, value: str) -> str:
        try:
            if len(value) > 64:
                raise ValueError(value)
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):  # a path, an empty or unknown name
            raise ValidationError("Not a known time zone (e.g. Europe/Moscow).") from None
        return value
