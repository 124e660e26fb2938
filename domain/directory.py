"""The organization's directory as the apps read it: people found by name or position, the tree of
units, a phone's copy kept in sync, and the people an executive names most.

Names and their search keys live in domain/names.py, the staff file (import, export) in domain/staff_csv.py.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa

from models import Resolution, Unit, User, db, resolution_executors, unit_members, utcnow
from models.changes import ChangeCounter

from . import paging, substitutions
from .errors import ApiError
from .names import norm

TOP = "\U0010ffff"  # above every character: "петр" <= key < "петр" + TOP is a prefix range
FREQUENT_DAYS, FREQUENT_MAX = 90, 20


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


def entries(users: list[User], organization_id: int | None = None) -> list[dict]:
    """The trimmed directory entry of each person; given the reader's organization, with `away` (until
    when, and who acts for them now) for those away (absent for the others), so whoever addresses them
    sees the deputy. Only running substitutions of that organization count; a phone's offline copy
    (`sync`) carries none, as it would be out of date at the period's end."""
    units = _unit_of([u.id for u in users])
    out = [{"id": u.id, "short_name": u.short_name, "name": u.name, "position": u.position,
            "unit": units.get(u.id)} for u in users]
    if organization_id is not None:
        gone = substitutions.away(organization_id, [u.id for u in users])
        for entry in out:
            if entry["id"] in gone:
                entry["away"] = gone[entry["id"]]
    return out


def units_of(organization_id: int) -> list[sa.Row]:
    """The organization's units: (id, parent_id, short_name) each."""
    return db.session.execute(sa.select(Unit.id, Unit.parent_id, Unit.short_name)
                              .where(Unit.organization_id == organization_id)).all()


def subtree(organization_id: int, unit_id: int, rows: list[sa.Row] | None = None) -> list[int]:
    """A unit of the organization and every unit under it (404 for another organization's), from the
    organization's units (`units_of`) when the caller has read them already."""
    rows = units_of(organization_id) if rows is None else rows
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
    return {"items": entries(rows, user.organization_id), "next_cursor": paging.encode(rows[-1].id) if more else None}


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
    listed = entries([users[r.user_id] for r in rows if r.user_id in users], user.organization_id)
    counts = {r.user_id: r.times for r in rows}
    return [{**e, "times": counts[e["id"]]} for e in listed]
