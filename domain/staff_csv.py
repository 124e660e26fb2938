"""The staff file (staff.csv): import it into the directory, export the directory in its format.

`flask --app wsgi directory import FILE.csv` and `directory export`. An import is all or nothing: any
bad row refuses the whole file, naming its lines.
"""
import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import sqlalchemy as sa

from models import Organization, Unit, User, assistants, db, unit_members, utcnow
from models.changes import _take
from models.org import ROLES

from .errors import ApiError
from .names import name_fields

COLUMNS = ["organization", "unit", "username", "surname", "first_name", "patronymic", "position", "roles",
           "assistant_of"]
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,80}$")

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
