"""Reading a resolution's words against the organization's people: who is to do what by when.

The text comes typed (POST /resolutions/parse) or dictated; for a dictation, the transcript fills the
draft and names to check become review marks (`fill_draft`), and the people an executive is likely to
name are given to the recogniser beforehand (`name_phrases`). The words themselves are read by the
parser of their language (domain/parsing), which sees the people only through `lookup_for`.
"""
import re
from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta

from models import Organization, Resolution, User, db, unit_members, utcnow

from . import parsing, resolutions
from .directory import frequent_executors
from .names import norm
from .workdays import end_of_day, off_day_shift

_PEOPLE_COLUMNS = (User.id, User.short_name, User.surname_key, User.name_key, User.patronymic)
# The organization is written into the SQL (literal_execute): PostgreSQL's generic plan for a
# prepared statement with it as a parameter could read a large organization whole.
_MINE = (User.organization_id == sa.bindparam("org", literal_execute=True), User.is_active.is_(True))
# Two index lookups joined, rather than an OR that may read the whole organization; one statement
# with expanding parameters, so it is compiled once.
_LOOKUP = sa.union(
    sa.select(*_PEOPLE_COLUMNS).where(*_MINE, User.surname_key.in_(sa.bindparam("surnames", expanding=True))),
    sa.select(*_PEOPLE_COLUMNS).where(*_MINE, User.name_key.in_(sa.bindparam("names", expanding=True))))


def lookup_for(organization_id: int) -> parsing.Lookup:
    """The parser's view of the organization's active people: by surname or first name, one query."""
    def lookup(surnames: Iterable[str], first_names: Iterable[str]) -> list[parsing.Person]:
        surnames, first_names = list(set(surnames))[:500], list(set(first_names))[:500]
        if not surnames and not first_names:
            return []
        rows = db.session.execute(_LOOKUP, {"org": organization_id, "surnames": surnames or [""],
                                            "names": first_names or [""]})
        return [parsing.Person(r.id, r.short_name, r.surname_key or "", r.name_key or "", norm(r.patronymic))
                for r in rows]
    return lookup


def today_in(org: Organization, at: datetime | None = None) -> date:
    """The date in the organization's time zone at `at` (default now)."""
    return (at or utcnow()).astimezone(ZoneInfo(org.timezone)).date()


def read(user: User, text: str, language: str | None, on: date | None = None) -> parsing.Parsed:
    """What a resolution by `user` says, as of the day `on` (default today in the organization's zone)."""
    org = user.organization
    return parsing.parse(text, language or user.locale or "ru", on or today_in(org),
                         lookup_for(org.id), org.deadline_day_off)


# Words that make a resolution one for information: it is acknowledged, and needs no deadline.
FOR_INFORMATION = re.compile(r"(?<![а-яё])(?:для\s+сведения|к\s+сведению|для\s+информации|ознаком[а-яё]*)",
                             re.IGNORECASE)
SUGGESTION_TEXT = {
    "ru": "Срок не назван. Для поручения на контроле предлагается срок организации по умолчанию: {months} мес.",
    "en": "No deadline was said. For a controlled resolution the organization's default term is suggested: "
          "{months} month(s).",
}


def suggested_deadline(user: User, parsed: parsing.Parsed, on: date, control: bool | None = None) -> dict | None:
    """A resolution for control said without a deadline: the organization's default term (a month unless it
    chose otherwise) from `on`, as a suggestion the author confirms, never set on its own. For control when
    `control` says so, else when it names executors and no words of information («для сведения»)."""
    if parsed.deadline is not None or control is False:
        return None
    if control is None and (not parsed.executors or FOR_INFORMATION.search(parsed.text or "")):
        return None
    org = user.organization
    months = org.default_term_months
    day = off_day_shift(on + relativedelta(months=months), org.deadline_day_off, not_before=on)
    language = "ru" if (user.locale or "ru").lower().startswith(("ru", "tt")) else "en"
    return {"deadline": day.isoformat(), "reason": "organization_default", "months": months,
            "explanation": SUGGESTION_TEXT[language].format(months=months)}


def answer(user: User, text: str, language: str | None, on: date | None = None, control: bool | None = None) -> dict:
    """The answer of POST /resolutions/parse: what the text says, and the deadline suggested when it says none."""
    on = on or today_in(user.organization)
    parsed = read(user, text, language, on)
    return parsed_json(parsed, suggested_deadline(user, parsed, on, control))


def parsed_json(parsed: parsing.Parsed, suggestion: dict | None = None) -> dict:
    """The answer of POST /resolutions/parse, with character spans."""
    def ref(p: parsing.Person) -> dict:
        return {"id": p.id, "short_name": p.short_name}

    def span(s: parsing.Span) -> dict:
        return {"said": s.said, "start": s.start, "end": s.end}

    return {
        "text": parsed.text,
        "executors": [{**ref(p), **span(s)} for p, s in parsed.executors],
        "deadline": parsed.deadline.isoformat() if parsed.deadline else None,
        "deadline_said": parsed.deadline_span.said if parsed.deadline_span else None,
        "deadline_span": span(parsed.deadline_span) if parsed.deadline_span else None,
        "ambiguous": [{**span(s), "candidates": [ref(p) for p in people]} for s, people in parsed.ambiguous],
        "unmatched": [span(s)["said"] for s in parsed.unmatched],
        "suggested_deadline": suggestion,
    }


def _word_spans(text: str, words: list[dict]) -> list[tuple[int, int]]:
    """The character span of each recognised word in the transcript they were joined into."""
    spans, pos = [], 0
    for w in words:
        start = text.find(w["word"], pos)
        start = pos if start < 0 else start
        pos = start + len(w["word"])
        spans.append((start, pos))
    return spans


def fill_draft(res: Resolution, note) -> None:
    """A transcribed dictation: the draft gets the instruction, executors and deadline it states, the
    voice note keeps each suggestion with its word span, and names to check become review marks."""
    words = list(note.words or [])
    org = res.author.organization
    said_on = today_in(org, note.created_at)
    parsed = parsing.parse(note.transcript or "", note.language, said_on, lookup_for(org.id), org.deadline_day_off)
    spans = _word_spans(note.transcript or "", words)

    def at(s: parsing.Span) -> list[int]:
        hit = [i for i, (a, b) in enumerate(spans) if a < s.end and b > s.start]
        return [hit[0], hit[-1]] if hit else []

    # Offered, not set: the draft keeps no deadline until the author (or the assistant) takes it.
    found = parsed_json(parsed, suggested_deadline(res.author, parsed, said_on, res.control))
    for item, (_, s) in zip(found["executors"], parsed.executors):
        item["words"] = at(s)
    for item, (s, _) in zip(found["ambiguous"], parsed.ambiguous):
        item["words"] = at(s)
    found["unmatched"] = [{"said": s.said, "words": at(s)} for s in parsed.unmatched]
    found["deadline_words"] = at(parsed.deadline_span) if parsed.deadline_span else []
    note.suggestions = found
    for reason, items in (("ambiguous_name", found["ambiguous"]), ("unknown_name", found["unmatched"])):
        for item in items:
            for i in range(item["words"][0], item["words"][-1] + 1) if item["words"] else ():
                words[i] = {**words[i], "review": True, "reason": reason}
    note.words = words
    res.text = parsed.text or res.text
    ids = [p.id for p, _ in parsed.executors]
    by_id = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    res.executors = [by_id[i] for i in ids if i in by_id]
    resolutions.keep_executor_order(res)  # in the order said: the first is responsible
    res.deadline = end_of_day(org, parsed.deadline) if parsed.deadline else res.deadline


def name_phrases(user: User, limit: int = 200) -> list[str]:
    """Names for a recogniser's phrase list: the people this user names most, then their own units' people."""
    frequent = [e["id"] for e in frequent_executors(user)]
    mine = sa.select(unit_members.c.unit_id).where(unit_members.c.user_id == user.id)
    colleagues = sa.select(unit_members.c.user_id).where(unit_members.c.unit_id.in_(mine))
    rows = db.session.execute(
        sa.select(User.id, User.surname, User.first_name).where(
            User.organization_id == user.organization_id, User.is_active.is_(True), User.surname.is_not(None),
            sa.or_(User.id.in_(frequent), User.id.in_(colleagues))).limit(limit * 4)).all()
    rank = {uid: i for i, uid in enumerate(frequent)}
    rows.sort(key=lambda r: (rank.get(r.id, len(rank)), r.id))
    phrases = []
    for r in rows[:limit]:
        phrases += parsing.addressed_forms(user.locale or "ru", r.surname, r.first_name or "")
    return list(dict.fromkeys(phrases))
