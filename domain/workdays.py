"""Working days of Russia, from the maintained `holidays` calendar.

`holidays` carries the public holidays, the days off moved by government decree (e.g. 31 December
2026) and the Saturdays made working days in exchange (e.g. 1 November 2025). It knows the decrees
published up to its release; a year whose transfers were decreed later looks like plain weekends
and holidays until the package is updated.
"""
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from models.org import DAY_OFF_RULES, Organization


def end_of_day(org: Organization, day: date) -> datetime:
    """A deadline date as the last second of that day in the organization's time zone."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=ZoneInfo(org.timezone))


@lru_cache(maxsize=8)
def _calendar(country: str, first_year: int):
    return holidays.country_holidays(country, years=range(first_year, first_year + 4))


def _cal(day: date, country: str = "RU"):
    # A calendar of four years from the year before: any deadline said today falls inside it.
    return _calendar(country, day.year - 1)


def is_working_day(day: date, country: str = "RU") -> bool:
    return _cal(day, country).is_working_day(day)


def add_working_days(start: date, n: int, country: str = "RU") -> date:
    """The n-th working day after `start` (start itself not counted)."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if is_working_day(day, country):
            n -= 1
    return day


def off_day_shift(day: date, rule: str = "before", not_before: date | None = None, country: str = "RU") -> date:
    """A deadline on a day off moves to the working day before ("before", never earlier than `not_before`),
    the working day after ("after"), or stays ("keep")."""
    assert rule in DAY_OFF_RULES, rule
    if rule == "keep" or is_working_day(day, country):
        return day
    step = timedelta(days=-1 if rule == "before" else 1)
    moved = day
    while not is_working_day(moved, country):
        moved += step
    if rule == "before" and not_before is not None and moved < not_before:
        return off_day_shift(day, "after", country=country)
    return moved
