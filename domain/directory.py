"""The organization's directory: people (name parts, position, unit) and the tree of units.

Search keys are normalised once, when a person is written (lower case, ё as е), into indexed columns
compared byte by byte, so a prefix search is an index range on SQLite and PostgreSQL alike.
"""
import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from models import Organization, Resolution, Unit, User, assistants, db, resolution_executors, unit_members, utcnow
from models.changes import ChangeCounter, _take
from models.org import ROLES

from . import paging, parsing, resolutions
from .errors import ApiError
from .workdays import end_of_day

COLUMNS = ["organization", "unit", "username", "surname", "first_name", "patronymic", "position", "roles",
           "assistant_of"]
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,80}$")
TOP = "\U0010ffff"  # above every character: "петр" <= key < "петр" + TOP is a prefix range
FREQUENT_DAYS, FREQUENT_MAX = 90, 20


def norm(text: str | None) -> str:
    """The search form of a name or position: lower case, ё as е, single spaces."""
    return " ".join((text or "").lower().replace("ё", "е").split())


def full_name(surname: str, first: str, patronymic: str) -> str:
    return " ".join(p for p in (surname, first, patronymic) if p)


def short_name(surname: str, first: str, patronymic: str) -> str:
    """«Хабибуллин М.А.»"""
    initials = "".join(f"{p[0].upper()}." for p in (first, patronymic) if p)
    return f"{surname} {initials}".strip()[:80]


def name_fields(surname: str, first: str, patronymic: str | None, position: str | None) -> dict:
    """Every column derived from a person's name parts and position."""
    surname, first, patronymic = surname.strip(), first.strip(), (patronymic or "").strip()
    return {
        "surname": surname, "first_name": first, "patronymic": patronymic or None,
        "position": (position or "").strip() or None,
        "name": full_name(surname, first, patronymic)[:200], "short_name": short_name(surname, first, patronymic),
        "search": norm(full_name(surname, first, patronymic))[:300], "surname_key": norm(surname)[:300],
        "name_key": norm(first)[:300], "position_key": norm(position)[:300] or None,
    }


def set_name(user: User, surname: str, first: str, patronymic: str | None, position: str | None = None) -> None:
    for key, value in name_fields(surname, first, patronymic, position).items():
        setattr(user, key, value)


# Search, units, sync

def _unit_of(user_ids: list[int]) -> dict[int, Unit]:
    """Each person's unit (the first they belong to)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(unit_members.c.user_id, Unit).join(Unit, Unit.id == unit_members.c.unit_id)
        .where(unit_members.c.user_id.in_(user_ids)).order_by(unit_members.c.user_id, Unit.id))
    out: dict[int, Unit] = {}
    for user_id, unit in rows:
        out.setdefault(user_id, unit)
    return out


def entries(users: list[User]) -> list[dict]:
    """The trimmed directory entry of each person."""
    units = _unit_of([u.id for u in users])
    return [{"id": u.id, "short_name": u.short_name, "name": u.name, "position": u.position,
             "unit": units.get(u.id)} for u in users]


def subtree(organization_id: int, unit_id: int) -> list[int]:
    """A unit of the organization and every unit under it (404 for another organization's)."""
    rows = db.session.execute(sa.select(Unit.id, Unit.parent_id).where(Unit.organization_id == organization_id)).all()
    if unit_id not in {r.id for r in rows}:
        raise ApiError(404, "not_found", "No such unit.")
    children: dict[int | None, list[int]] = {}
    for r in rows:
        children.setdefault(r.parent_id, []).append(r.id)
    out, todo = [], [unit_id]
    while todo:
        u = todo.pop()
        out.append(u)
        todo.extend(children.get(u, []))
    return out


def _prefix(column, q: str):
    return sa.and_(column >= q, column < q + TOP)


def search(user: User, q: str | None, unit_id: int | None, limit: int, cursor: str | None) -> dict:
    """People of the user's organization whose surname, first name or position starts with `q`,
    in surname order, one keyset page."""
    base = [User.organization_id == sa.bindparam("org", user.organization_id, literal_execute=True),
            User.is_active.is_(True), User.search.is_not(None)]
    if unit_id is not None:
        members = sa.select(unit_members.c.user_id).where(
            unit_members.c.unit_id.in_(subtree(user.organization_id, unit_id)))
        base.append(User.id.in_(members))
    if cursor:
        # The cursor names the last person seen (short, unlike their Cyrillic sort key); the page goes
        # on after that person's place in surname order.
        after = paging.decode(cursor, int)[0]
        key = db.session.scalar(sa.select(User.search).where(User.id == after,
                                                             User.organization_id == user.organization_id))
        if key is None:
            raise ApiError(400, "invalid_cursor", "The cursor is not valid; start from the first page.")
        base.append(sa.tuple_(User.search, User.id) > (key, after))
    key = norm(q)
    # One index range per key (surname, first name, position), each cut to a page, merged: an OR of
    # the three would make both databases read every match before sorting.
    conds = [_prefix(User.search, key), _prefix(User.name_key, key), _prefix(User.position_key, key)] if key \
        else [sa.true()]
    branches = [sa.select(User.id, User.search).where(*base, cond).order_by(User.search, User.id)
                .limit(limit + 1).subquery() for cond in conds]
    merged = sa.union(*[sa.select(b.c.id, b.c.search) for b in branches]).subquery()
    page = db.session.execute(sa.select(merged.c.id).order_by(merged.c.search, merged.c.id)
                              .limit(limit + 1)).scalars().all()
    more = len(page) > limit
    page = page[:limit]
    by_id = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(page)))} if page else {}
    rows = [by_id[i] for i in page]
    return {"items": entries(rows), "next_cursor": paging.encode(rows[-1].id) if more else None}


def units_tree(organization_id: int) -> list[dict]:
    """The organization's units as a tree of {id, name, short_name, children}."""
    units = db.session.scalars(sa.select(Unit).where(Unit.organization_id == organization_id)
                               .order_by(Unit.name, Unit.id)).all()
    nodes = {u.id: {"id": u.id, "name": u.name, "short_name": u.short_name, "children": []} for u in units}
    roots = []
    for u in units:
        (nodes[u.parent_id]["children"] if u.parent_id in nodes else roots).append(nodes[u.id])
    return roots


def sync(user: User, since: str | None, limit: int) -> dict:
    """People and units changed since a token: upserts, and tombstones for people who left."""
    after = paging.decode(since, int)[0] if since else None
    committed = db.session.scalar(sa.select(ChangeCounter.value).where(ChangeCounter.id == 1)) or 0
    org = user.organization_id
    people_q = sa.select(User).where(User.organization_id == org, User.search.is_not(None))
    units_q = sa.select(Unit).where(Unit.organization_id == org)
    if after is None:  # a new phone needs no tombstones
        people_q = people_q.where(User.is_active.is_(True))
    else:
        people_q, units_q = people_q.where(User.seq > after), units_q.where(Unit.seq > after)
    rows: list = list(db.session.scalars(people_q.order_by(User.seq, User.id).limit(limit + 1)))
    rows += db.session.scalars(units_q.order_by(Unit.seq, Unit.id).limit(limit + 1))
    rows.sort(key=lambda r: (r.seq, isinstance(r, User), r.id))
    more = len(rows) > limit
    rows = rows[:limit]
    people = [r for r in rows if isinstance(r, User)]
    out = {
        "people": {"upserted": entries([p for p in people if p.is_active]),
                   "removed": [p.id for p in people if not p.is_active]},
        "units": {"upserted": [{"id": u.id, "parent_id": u.parent_id, "name": u.name, "short_name": u.short_name}
                               for r in rows if isinstance(u := r, Unit)],
                  "removed": []},
        "has_more": more,
    }
    last = rows[-1].seq if rows else (after or 0)
    out["next"] = paging.encode(last if more else max(last, committed))
    return out


def frequent_executors(user: User, now: datetime | None = None) -> list[dict]:
    """The people this user named as executors most often in the last 90 days, most named first."""
    since = (now or utcnow()) - timedelta(days=FREQUENT_DAYS)
    times = sa.func.count().label("times")
    rows = db.session.execute(
        sa.select(resolution_executors.c.user_id, times)
        .join(Resolution, Resolution.id == resolution_executors.c.resolution_id)
        .where(Resolution.author_id == user.id, Resolution.created_at >= since)
        .group_by(resolution_executors.c.user_id).order_by(times.desc(), resolution_executors.c.user_id)
        .limit(FREQUENT_MAX)).all()
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(
        User.id.in_([r.user_id for r in rows]), User.organization_id == user.organization_id,
        User.is_active.is_(True)))}
    listed = entries([users[r.user_id] for r in rows if r.user_id in users])
    counts = {r.user_id: r.times for r in rows}
    return [{**e, "times": counts[e["id"]]} for e in listed]


# Reading resolutions

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


def parsed_json(parsed: parsing.Parsed) -> dict:
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
    parsed = parsing.parse(note.transcript or "", note.language, today_in(org, note.created_at),
                           lookup_for(org.id), org.deadline_day_off)
    spans = _word_spans(note.transcript or "", words)

    def at(s: parsing.Span) -> list[int]:
        hit = [i for i, (a, b) in enumerate(spans) if a < s.end and b > s.start]
        return [hit[0], hit[-1]] if hit else []

    found = parsed_json(parsed)
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


# Import and export (flask --app wsgi directory import|export)

_COMPARED = (User.id, User.username, User.organization_id, User.role_list, User.surname, User.first_name,
             User.patronymic, User.position, User.name, User.short_name, User.search, User.surname_key,
             User.name_key, User.position_key)

@dataclass
class ImportSummary:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    units_created: int = 0
    units_renamed: list[tuple[str, str]] = field(default_factory=list)


def _bad(errors: list[str]) -> ApiError:
    return ApiError(422, "invalid_file", "The file was not imported: " + "; ".join(errors[:10])
                    + (f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""), {"rows": errors[:100]})


def read_rows(stream: Iterable[str]) -> list[tuple[int, dict]]:
    """The rows of a staff file with their line numbers; the header must be the import format's."""
    reader = csv.DictReader(stream)
    if reader.fieldnames is None or [f.strip().lstrip("\ufeff") for f in reader.fieldnames] != COLUMNS:
        raise ApiError(422, "invalid_file", f"line 1: the header must be {','.join(COLUMNS)}")
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise _bad([f"line {reader.line_num}: expected {len(COLUMNS)} columns"])
        rows.append((reader.line_num, {k.strip().lstrip("\ufeff"): (v or "").strip() for k, v in row.items()}))
    return rows


def import_rows(rows: list[tuple[int, dict]], password_hash: str = "!",
                progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Upsert people by username from staff rows, creating unit paths as needed; all or nothing.

    The caller commits. Any bad row refuses the whole file (ApiError naming the lines). A unit whose
    people all moved to a new unit under the same parent, and which the file no longer names, is
    renamed rather than replaced, so documents addressed to it stay addressed.
    """
    summary = ImportSummary(rows=len(rows))
    orgs = {o.code: o for o in db.session.scalars(sa.select(Organization))}
    errors, seen = [], {}
    for line, r in rows:
        problems = []
        if r["organization"] not in orgs:
            problems.append(f"unknown organization {r['organization']!r}")
        if not USERNAME.match(r["username"]):
            problems.append("username must be 1-80 letters, digits or _.@-")
        elif r["username"] in seen:
            problems.append(f"username {r['username']} is also on line {seen[r['username']]}")
        for col, limit in (("surname", 100), ("first_name", 100), ("patronymic", 100), ("position", 200)):
            if col != "patronymic" and col != "position" and not r[col]:
                problems.append(f"{col} is empty")
            elif len(r[col]) > limit:
                problems.append(f"{col} is longer than {limit}")
        parts = [p.strip() for p in r["unit"].split("/")]
        if not r["unit"] or not all(parts) or any(len(p) > 300 for p in parts):
            problems.append("unit must be a path like «Аппарат/Отдел кадров»")
        bad_roles = [x for x in r["roles"].split(";") if x.strip() and x.strip() not in ROLES]
        if bad_roles or not r["roles"].strip():
            problems.append(f"roles must be some of {', '.join(ROLES)} separated by ;")
        seen.setdefault(r["username"], line)
        errors += [f"line {line}: {p}" for p in problems]
    if errors:
        raise _bad(errors)

    # Every user as a plain row (a region has tens of thousands): cheaper than IN lists of usernames.
    existing = {r.username: r for r in db.session.execute(sa.select(*_COMPARED))}
    row_org = {r["username"]: orgs[r["organization"]].id for _, r in rows}
    for line, r in rows:
        u = existing.get(r["username"])
        if u is not None and u.organization_id != row_org[r["username"]]:
            errors.append(f"line {line}: {r['username']} belongs to another organization")
        boss = r["assistant_of"]
        if not boss:
            continue
        boss_org = row_org.get(boss) or (existing[boss].organization_id if boss in existing else None)
        if boss_org is None:
            errors.append(f"line {line}: assistant_of {boss} is no one")
        elif boss_org != row_org[r["username"]]:
            errors.append(f"line {line}: assistant_of {boss} is in another organization")
    if errors:
        raise _bad(errors)

    unit_of = _ensure_units(rows, orgs, existing, summary)
    _upsert_people(rows, orgs, existing, unit_of, password_hash, summary, progress)
    return summary


def refresh_statistics() -> None:
    """After a bulk import, let PostgreSQL's planner see the new numbers at once: with the old ones
    (a few people) it reads a whole organization instead of using the name indexes, until
    autovacuum's next ANALYZE. Call after commit."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE users, units, unit_members"))
        db.session.commit()


def _ensure_units(rows, orgs, existing, summary) -> dict[int, int]:
    """Unit ids for each row's path (by line), created or renamed as needed."""
    by_org: dict[int, list[Unit]] = {}
    org_ids = {orgs[r["organization"]].id for _, r in rows}
    for unit in db.session.scalars(sa.select(Unit).where(Unit.organization_id.in_(org_ids))):
        by_org.setdefault(unit.organization_id, []).append(unit)
    members: dict[int, set[str]] = {}
    if existing:
        for unit_id, username in db.session.execute(
                sa.select(unit_members.c.unit_id, User.username).join(User, User.id == unit_members.c.user_id)
                .where(User.organization_id.in_(org_ids))):
            members.setdefault(unit_id, set()).add(username)
    unit_of: dict[int, int] = {}
    for org_id in org_ids:
        units = by_org.get(org_id, [])
        index = {(u.parent_id, u.name): u for u in units}
        org_rows = [(line, r) for line, r in rows if orgs[r["organization"]].id == org_id]
        paths = {tuple(p.strip() for p in r["unit"].split("/")) for _, r in org_rows}
        named = {path[:i] for path in paths for i in range(1, len(path) + 1)}
        moved_to: dict[tuple, set[str]] = {}
        for _, r in org_rows:
            moved_to.setdefault(tuple(p.strip() for p in r["unit"].split("/")), set()).add(r["username"])

        by_id = {u.id: u for u in units}

        def path_of(unit: Unit) -> tuple:
            out = []
            while unit is not None:
                out.append(unit.name)
                unit = by_id.get(unit.parent_id)
            return tuple(reversed(out))

        def resolve(path: tuple) -> Unit:
            parent = None
            for depth in range(1, len(path) + 1):
                name = path[depth - 1]
                unit = index.get((parent.id if parent else None, name))
                if unit is None:
                    unit = _renamed(parent, path[:depth]) or _new(parent, name)
                parent = unit
            return parent

        def _renamed(parent, path) -> Unit | None:
            # A sibling the file no longer names, whose people in the file all moved here.
            people = moved_to.get(path, set())
            fits = [u for u in renamable if u.parent_id == (parent.id if parent else None)
                    and path_of(u) not in named and members[u.id] & seen_names <= people]
            if len(fits) != 1:
                return None
            unit = fits[0]
            summary.units_renamed.append(("/".join(path_of(unit)), "/".join(path)))
            del index[(unit.parent_id, unit.name)]
            unit.name, unit.short_name = path[-1], path[-1][:80]
            index[(unit.parent_id, unit.name)] = unit
            return unit

        def _new(parent, name) -> Unit:
            unit = Unit(organization_id=org_id, parent_id=parent.id if parent else None, name=name,
                        short_name=name[:80])
            db.session.add(unit)
            db.session.flush()
            units.append(unit)
            by_id[unit.id] = unit
            index[(unit.parent_id, name)] = unit
            summary.units_created += 1
            return unit

        seen_names = {r["username"] for _, r in org_rows}
        # Units that may have been renamed: those with people of this file in them now.
        renamable = [u for u in units if members.get(u.id, set()) & seen_names]
        for path in sorted(paths, key=len):
            resolve(path)
        for line, r in org_rows:
            unit_of[line] = resolve(tuple(p.strip() for p in r["unit"].split("/"))).id
    return unit_of


def _upsert_people(rows, orgs, existing, unit_of, password_hash, summary, progress) -> None:
    """Insert new people and update changed ones in bulk, stamping sync change numbers."""
    new, changed = [], {}
    for line, r in rows:
        values = {**name_fields(r["surname"], r["first_name"], r["patronymic"], r["position"]),
                  "role_list": " ".join(x.strip() for x in r["roles"].split(";") if x.strip()),
                  "organization_id": orgs[r["organization"]].id}
        old = existing.get(r["username"])
        if old is None:
            new.append((r, values))
        elif any(getattr(old, k) != v for k, v in values.items()):
            changed[old.id] = values
    if new:
        last = _take(db.session, len(new))
        first_new = last - len(new) + 1
        # Multi-row INSERTs, then the ids by username (RETURNING in parameter order would make SQLite
        # insert a row per statement, and psycopg's executemany sends a statement per row).
        now = utcnow()
        for chunk in range(0, len(new), 2000):
            part = new[chunk:chunk + 2000]
            _insert_rows(User.__table__, [
                {**_columns(v), "username": r["username"], "password_hash": password_hash, "is_active": True,
                 "seq": first_new + chunk + k, "locale": "ru", "timezone": "Europe/Moscow", "created_at": now,
                 "quiet_from": None, "quiet_to": None} for k, (r, v) in enumerate(part)])
            if progress:
                progress(len(part))
    org_ids = list({orgs[r["organization"]].id for _, r in rows})
    in_orgs = User.organization_id.in_(org_ids)
    ids = dict(db.session.execute(sa.select(User.username, User.id).where(in_orgs)).tuples().all())
    ids.update({u: row.id for u, row in existing.items() if u not in ids})
    current: dict[int, set[int]] = {}
    for user_id, unit_id in db.session.execute(sa.select(unit_members.c.user_id, unit_members.c.unit_id)
                                               .join(User, User.id == unit_members.c.user_id).where(in_orgs)):
        current.setdefault(user_id, set()).add(unit_id)
    bosses: dict[int, set[int]] = {}
    for a, e in db.session.execute(sa.select(assistants.c.assistant_id, assistants.c.executive_id)
                                   .join(User, User.id == assistants.c.assistant_id).where(in_orgs)):
        bosses.setdefault(a, set()).add(e)
    moved = {ids[r["username"]] for line, r in rows if current.get(ids[r["username"]]) != {unit_of[line]}}
    want_boss = {ids[r["username"]]: ({ids[r["assistant_of"]]} if r["assistant_of"] else set()) for _, r in rows}
    serve = {uid for uid, want in want_boss.items() if bosses.get(uid, set()) != want}
    touched = [ids[r["username"]] for _, r in rows if r["username"] in existing
               and (ids[r["username"]] in moved or ids[r["username"]] in serve or ids[r["username"]] in changed)]
    if touched:
        last = _take(db.session, len(touched))
        updates = [{"b_id": uid, "seq": last - len(touched) + 1 + k, **_columns(changed.get(uid, {}))}
                   for k, uid in enumerate(touched)]
        table = User.__table__
        for keys in {tuple(sorted(x)) for x in updates}:
            db.session.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                               .values({k: sa.bindparam(k) for k in keys if k != "b_id"}),
                               [x for x in updates if tuple(sorted(x)) == keys],
                               execution_options={"synchronize_session": False})
        db.session.expire_all()
    summary.created, summary.updated = len(new), len(touched)
    summary.unchanged = len(rows) - summary.created - summary.updated
    if moved:
        leaving = [uid for uid in moved if uid in current]
        for chunk in range(0, len(leaving), 1000):
            db.session.execute(sa.delete(unit_members).where(unit_members.c.user_id.in_(leaving[chunk:chunk + 1000])))
        _insert_rows(unit_members, [{"unit_id": unit_of[line], "user_id": ids[r["username"]]}
                                    for line, r in rows if ids[r["username"]] in moved])
    if serve:
        db.session.execute(sa.delete(assistants).where(assistants.c.assistant_id == sa.bindparam("a")),
                           [{"a": uid} for uid in serve])
        pairs = [{"assistant_id": a, "executive_id": e} for a in serve for e in want_boss[a]]
        if pairs:
            db.session.execute(sa.insert(assistants), pairs)
    if progress:
        progress(len(rows) - len(new))


def _insert_rows(table: sa.Table, rows: list[dict]) -> None:
    """Insert many rows: COPY on PostgreSQL (an executemany there is a statement per row, and one
    VALUES list with tens of thousands of parameters is slow to send), executemany on SQLite."""
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(sa.insert(table), rows)
        return
    names = list(rows[0])
    columns = ", ".join(f'"{table.c[n].name}"' for n in names)
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([v.astimezone(timezone.utc).replace(tzinfo=None) if isinstance(v, datetime) else v
                            for v in (row[n] for n in names)])


def _columns(values: dict) -> dict:
    """ORM attribute names to the table's column names (roles are stored in `roles`)."""
    return {("roles" if k == "role_list" else k): v for k, v in values.items()}


def export_rows(organization_code: str | None = None) -> Iterable[dict]:
    """Everyone with a name in the directory, in the import format, by organization, unit and surname."""
    query = sa.select(User, Organization.code).join(Organization, Organization.id == User.organization_id).where(
        User.surname.is_not(None))
    if organization_code:
        query = query.where(Organization.code == organization_code)
    units = {u.id: u for u in db.session.scalars(sa.select(Unit))}

    def path(unit_id: int | None) -> str:
        out = []
        while unit_id is not None:
            out.append(units[unit_id].name)
            unit_id = units[unit_id].parent_id
        return "/".join(reversed(out))

    users = db.session.execute(query.order_by(Organization.code, User.search, User.id)).all()
    unit_of = {}
    for uid, unit_id in db.session.execute(sa.select(unit_members.c.user_id, sa.func.min(unit_members.c.unit_id))
                                           .group_by(unit_members.c.user_id)):
        unit_of[uid] = unit_id
    boss = dict(db.session.execute(sa.select(assistants.c.assistant_id, User.username)
                                   .join(User, User.id == assistants.c.executive_id)).all())
    for u, code in users:
        yield {"organization": code, "unit": path(unit_of.get(u.id)), "username": u.username,
               "surname": u.surname, "first_name": u.first_name or "", "patronymic": u.patronymic or "",
               "position": u.position or "", "roles": ";".join(u.roles), "assistant_of": boss.get(u.id, "")}


def write_csv(rows: Iterable[dict], out: io.TextIOBase) -> int:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow(row)
        n += 1
    return n
