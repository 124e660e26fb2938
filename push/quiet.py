"""Quiet hours: when a user's non-urgent notifications wait until the morning."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _zone(name: str | None) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("push: unknown time zone %r, quiet hours taken in UTC", name)
        return timezone.utc


def quiet_until(now: datetime, quiet_from: str | None, quiet_to: str | None, tz: str | None) -> datetime | None:
    """The UTC end of the quiet period `now` falls in, or None if the user may be disturbed now."""
    if not quiet_from or not quiet_to or quiet_from == quiet_to:
        return None
    zone = _zone(tz)
    local = now.astimezone(zone)
    start, end, clock = _clock(quiet_from), _clock(quiet_to), local.time()
    if start < end:  # e.g. 13:00-14:00 within one day
        quiet = start <= clock < end
    else:  # e.g. 22:00-07:00 across midnight
        quiet = clock >= start or clock < end
    if not quiet:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    # Built from the wall clock in the user's zone, so a DST change on the night moves it correctly.
    return datetime.combine(day, end, tzinfo=zone).astimezone(timezone.utc)
