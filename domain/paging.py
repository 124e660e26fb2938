"""Opaque keyset cursors: the position after the last item a client saw."""
import base64
import json
from datetime import datetime

import orjson
import sqlalchemy as sa

from models import db

from .errors import ApiError


def encode(*key) -> str:
    """The cursor of a position: its key, as compact JSON (orjson: every polled page ends with one), in
    URL-safe base64."""
    raw = orjson.dumps([k.isoformat() if isinstance(k, datetime) else k for k in key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, *types) -> tuple:
    """Parse a cursor into values of the given types, or refuse with 400 invalid_cursor."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(types):
            raise ValueError
        values = []
        for value, kind in zip(raw, types):
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError
                values.append(parsed)
            elif kind is int:
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
                    raise ValueError
                values.append(value)
            else:
                values.append(kind(value))
        return tuple(values)
    except (ValueError, TypeError, UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "invalid_cursor", "The cursor is not valid; start from the first page.") from None


def newest_first(query, at, key, limit: int, cursor: str | None, fetch=None) -> tuple[list, str | None]:
    """One keyset page of `query`, newest first by (at, key): the rows and the cursor of the next page.

    `fetch` runs the statement (default: ORM objects; pass `db.session.execute` for plain rows).
    New rows arriving at the top never shift a page, so a phone scrolling down sees each row once.
    """
    if cursor:
        query = query.where(sa.tuple_(at, key) < decode(cursor, datetime, int))
    run = fetch or db.session.scalars
    rows = run(query.order_by(at.desc(), key.desc()).limit(limit + 1)).all()
    return page_of(rows, limit, lambda last: (getattr(last, at.key), getattr(last, key.key)))


def page_of(rows: list, limit: int, position) -> tuple[list, str | None]:
    """A page from the `limit + 1` rows fetched for it: the first `limit`, and the cursor after the
    last of them (`position(row)` gives its sort key) when there were more; None at the end."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode(*position(rows[-1]))
