"""Acting for others: a deputy acts for a principal for a period, within some scopes.

A substitution names a principal, a deputy, a period [starts_at, ends_at) and scopes: `inbox` (the
deputy sees the principal's inbox lines, each marked `for`), `resolutions` (the deputy writes and
issues resolutions in the principal's name) and `approvals` (the deputy decides the approvals waiting
for the principal). Every act in a principal's name records both: the deputy as its author and the
principal as `acting_for`, on the resolution, the decision, the signature (the signed content names
the principal; the deputy signs with their own key) and the audit entry.

The rules:
- Only the principal, or an admin of the principal's organization, creates one; no one makes
  themselves a deputy (an admin neither): a right is given, never taken.
- Deputy and principal are active users of one organization: a substitution never crosses an
  organization's boundary (a principal of another organization is not found; a deputy from another
  is refused).
- One deputy per principal and scope at a time: a period overlapping another of the same principal
  that shares a scope is refused (409 `substitution_overlaps`); the principal may give different
  scopes to different deputies.
- A deputy who is away (a principal of a substitution overlapping the period) is refused (409
  `deputy_away`). A deputy who goes away later keeps the substitution, but passes nothing on:
- Rights never chain. If B acts for A and C acts for B, C acts for B alone: C sees B's own lines
  (never the copies B holds for A) and cannot act in A's name.
- A period starting in the past starts now: nothing is granted backwards. It lasts at most a year.
- `DELETE` ends it at once (the principal, the deputy, its creator or an admin may); a substitution
  that is over answers 204 again. Its rights end with it: `acting_principal`, asked inside the lock
  of every act, reads the substitution under a shared row lock, and an end waits for acts holding it
  (and they for it), so an act is either committed before the end and recorded in the principal's
  name, or it sees the end and is refused, also a millisecond after it.

The inbox: the principal's live lines are copied into the deputy's inbox when the period begins (at
creation, or by the push dispatcher's sweep for a later start), each new line of the principal is
copied as it is delivered, and a line the principal's inbox loses the deputy's loses too. When the
period ends (DELETE at once; at `ends_at` by the sweep) the copies are withdrawn, so /sync reports them
removed. The polled reads stay what they were: one index walk of the deputy's own rows. A document
already in the deputy's own inbox as the same kind stays one line, the deputy's own.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from models import InboxItem, Substitution, User, audit, db, utcnow
from models.base import compiled_once, write_lock
from models.base import lock as lock_row
from models.changes import change_number
from models.substitutions import SCOPES

from .errors import ApiError, conflict, not_found

LONGEST = timedelta(days=366)
# The copy's `for` (`"for":{"id","short_name"}`, absent from the user's own lines) takes this many bytes
# of the line, taken from its title (see domain.inbox.line_texts): a copy stays under 400 bytes too.
FOR_BYTES = len('"for":{"id":"","short_name":""},') + 19 + 24
FOR_NAME_CHARS = 12  # short names are Cyrillic, two bytes a letter: 24 bytes


def _running(now: datetime):
    return sa.and_(Substitution.ended_at.is_(None), Substitution.starts_at <= now, Substitution.ends_at > now)


def _refuse(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", message, {field: [message]})


def create(user: User, principal_id: int | None, deputy_id: int, starts_at: datetime, ends_at: datetime,
           scopes: list[str]) -> Substitution:
    """A substitution by the principal (default the caller) or an admin of their organization."""
    now = utcnow()
    principal = user if principal_id in (None, user.id) else db.session.get(User, principal_id)
    if principal is None or principal.organization_id != user.organization_id:
        raise not_found("user")
    if principal.id != user.id and not user.has_role("admin"):
        raise ApiError(403, "forbidden", "Only the principal or an admin of the organization names a deputy.")
    if deputy_id == principal.id:
        raise _refuse("deputy", "The deputy must be someone other than the principal.")
    if deputy_id == user.id:
        raise ApiError(403, "forbidden", "No one makes themselves a deputy; the principal or an admin names one.")
    deputy = db.session.get(User, deputy_id)
    if deputy is None or deputy.organization_id != principal.organization_id or not deputy.is_active:
        raise _refuse("deputy", "The deputy must be an active user of the principal's organization.")
    starts_at = max(starts_at, now)
    if ends_at <= starts_at:
        raise _refuse("ends_at", "The period must end after it starts, and in the future.")
    if ends_at - starts_at > LONGEST:
        raise _refuse("ends_at", "A substitution lasts at most a year.")
    scopes = [scope for scope in SCOPES if scope in scopes]
    # One principal's substitutions are written one at a time: the overlap check holds until commit.
    lock_row(User, principal.id)
    overlapping = sa.and_(Substitution.ended_at.is_(None), Substitution.starts_at < ends_at,
                          Substitution.ends_at > starts_at)
    shares_scope = sa.or_(*(getattr(Substitution, scope).is_(True) for scope in scopes))
    if db.session.scalar(sa.select(Substitution.id).where(
            Substitution.principal_id == principal.id, overlapping, shares_scope).limit(1)):
        raise conflict("substitution_overlaps", "The principal already has a deputy for that scope in that period.",
                       "overlapping")
    if db.session.scalar(sa.select(Substitution.id).where(Substitution.principal_id == deputy.id, overlapping)
                         .limit(1)):
        raise conflict("deputy_away", "The deputy is away themselves in that period.", "away")
    sub = Substitution(organization_id=principal.organization_id, principal_id=principal.id, deputy_id=deputy.id,
                       starts_at=starts_at, ends_at=ends_at, created_by_id=user.id, created_at=now,
                       lines_state="pending" if "inbox" in scopes else "withdrawn",
                       **{scope: scope in scopes for scope in SCOPES})
    sub.principal, sub.deputy = principal, deputy
    db.session.add(sub)
    db.session.flush()
    if sub.inbox and starts_at <= now:
        _copy_lines(sub)
    audit.record(principal.organization_id, user.id, "substitution.created", "substitution", sub.id,
                 principal=str(principal.id), deputy=str(deputy.id), starts_at=_text(starts_at),
                 ends_at=_text(ends_at), scopes=scopes)
    return sub


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def mine(user: User) -> list[Substitution]:
    """The substitutions in which the user is principal or deputy, running or to come, soonest first."""
    return list(db.session.scalars(
        sa.select(Substitution).where(
            sa.or_(Substitution.principal_id == user.id, Substitution.deputy_id == user.id),
            Substitution.ended_at.is_(None), Substitution.ends_at > utcnow())
        .order_by(Substitution.starts_at, Substitution.id)))


def end(user: User, substitution_id: int) -> None:
    """End a substitution at once: by its principal, deputy, creator or an admin of the organization."""
    sub = lock_row(Substitution, substitution_id)  # acts in its name hold it shared: the end waits for them
    if sub is None or sub.organization_id != user.organization_id or not (
            user.id in (sub.principal_id, sub.deputy_id, sub.created_by_id) or user.has_role("admin")):
        raise not_found("substitution")
    now = utcnow()  # read after the lock: every act committed before it happened before the end
    if sub.ended_at is None and sub.ends_at > now:
        sub.ended_at, sub.ended_by_id = now, user.id
        if sub.lines_state == "copied":
            _withdraw_lines(sub)
        elif sub.lines_state == "pending":
            sub.lines_state = "withdrawn"
        audit.record(sub.organization_id, user.id, "substitution.ended", "substitution", sub.id,
                     principal=str(sub.principal_id), deputy=str(sub.deputy_id))


# --- the acting check -------------------------------------------------------------------------------

def acting_principal(user: User, principal_id: int, scope: str) -> User:
    """The principal the user acts for now in `scope`, or 403 `not_acting_for`.

    Asked inside the lock of the act: the substitution is read under a shared row lock (FOR SHARE on
    PostgreSQL; SQLite's write lock, taken by the act, serialises anyway), so an end (`end`, FOR UPDATE)
    either waits for this act's commit or is seen by it. The time is read after the lock."""
    principal = acts_for(user, principal_id, scope)
    if principal is None:
        raise ApiError(403, "not_acting_for", "You do not act for that person now.")
    return principal


def acts_for(user: User, principal_id: int | None, scope: str) -> User | None:
    """`acting_principal`, None rather than a refusal (the caller refuses as it would anyone)."""
    assert scope in SCOPES, scope
    if principal_id is None or principal_id == user.id:
        return None
    write_lock()
    found = db.session.scalar(
        sa.select(Substitution).where(Substitution.deputy_id == user.id, Substitution.principal_id == principal_id,
                                      getattr(Substitution, scope).is_(True), Substitution.ended_at.is_(None),
                                      Substitution.ends_at > utcnow())
        .with_for_update(read=True, of=Substitution).execution_options(populate_existing=True).limit(1))
    if found is None or not found.starts_at <= utcnow() < found.ends_at or found.ended_at is not None:
        return None
    return found.principal


def principals_of(user: User, scope: str) -> list[int]:
    """Whom the user acts for now in `scope` (no lock: for inferring whom an act is for, and for
    what a screen offers; the act itself asks `acting_principal`)."""
    return principal_ids(user.id, scope)


def principal_ids(user_id: int, scope: str) -> list[int]:
    """`principals_of`, by the user's id."""
    return list(db.session.scalars(acted_for(user_id, scope, utcnow())))


def acted_for(user_id, scope: str, now) -> sa.Select:
    """Whom the user acts for at `now` in `scope`, as a query of their ids (values or bind parameters),
    for a rule written in SQL (domain.access) as for `principal_ids`."""
    return sa.select(Substitution.principal_id).where(
        Substitution.deputy_id == user_id, getattr(Substitution, scope).is_(True), _running(now))


def acting_as(user: User, acting_for: int | None, scope: str) -> User | None:
    """The principal named by `acting_for`, checked (None when the user acts for themselves)."""
    if acting_for is None or acting_for == user.id:
        return None
    return acting_principal(user, acting_for, scope)


def reading_as(user: User, for_id: int | None, scope: str) -> User:
    """Whose view a read shows: the user's own (no `for`, or the user), or that of the principal named by
    `for` while the user acts for them in `scope` (else 403 `not_acting_for`). A read takes no lock: what it
    shows is what the principal saw at that moment; every act asks `acting_principal` in its own lock."""
    if for_id is None or for_id == user.id:
        return user
    if for_id not in principal_ids(user.id, scope):
        raise ApiError(403, "not_acting_for", "You do not act for that person now.")
    principal = db.session.get(User, for_id)
    if principal is None or principal.organization_id != user.organization_id:
        raise ApiError(403, "not_acting_for", "You do not act for that person now.")
    return principal


def away(organization_id: int, user_ids: list[int]) -> dict[int, dict]:
    """Who of these people is away now, until when, and who acts for them: the running substitutions of
    the organization, one query. A person with several deputies (scopes given to different people) shows
    the one acting in `resolutions`, else in `inbox`, else the first named."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(Substitution.principal_id, Substitution.ends_at, User.id, User.short_name)
        .join(User, User.id == Substitution.deputy_id)
        .where(Substitution.organization_id == organization_id, Substitution.principal_id.in_(user_ids),
               User.organization_id == organization_id, _running(utcnow()))
        .order_by(Substitution.principal_id, Substitution.resolutions.desc(), Substitution.inbox.desc(),
                  Substitution.id)).all()
    out: dict[int, dict] = {}
    for principal_id, ends_at, deputy_id, short_name in rows:
        out.setdefault(principal_id, {"until": ends_at, "deputy": {"id": deputy_id, "short_name": short_name}})
    return out


def audited(principal: User | None) -> dict:
    """What an audit entry adds for an act in a principal's name."""
    return {"acting_for": str(principal.id)} if principal is not None else {}


# --- the deputy's inbox -----------------------------------------------------------------------------

_items = InboxItem.__table__
_COPIED = ("user_id", "document_id", "kind", "reg_number", "title", "sender", "received_at", "due_at", "unread",
           "urgent", "removed", "seq", "for_user_id", "for_name")


def copy_upsert(insert: sa.Insert) -> sa.Insert:
    """An insert of copies that refreshes a copy (or a line taken out) the deputy has of that kind, and
    leaves the deputy's own live line as it is."""
    return insert.on_conflict_do_update(
        index_elements=["user_id", "document_id", "kind"], set_={c: insert.excluded[c] for c in _COPIED[3:]},
        where=sa.or_(_items.c.for_user_id.is_not(None), _items.c.removed.is_(True)))


def _dialect():
    return postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite


def for_name(short_name: str) -> str:
    return short_name[:FOR_NAME_CHARS]


def _copy_lines(sub: Substitution) -> None:
    """Copy the principal's own live lines into the deputy's inbox, marked `for` the principal."""
    from .inbox import line_texts  # the line's texts are cut as the inbox cuts them

    lines = db.session.execute(sa.select(
        _items.c.document_id, _items.c.kind, _items.c.reg_number, _items.c.title, _items.c.sender,
        _items.c.received_at, _items.c.due_at, _items.c.unread, _items.c.urgent,
    ).where(_items.c.user_id == sub.principal_id, _items.c.for_user_id.is_(None), _items.c.removed.is_(False))).all()
    sub.lines_state = "copied"
    if not lines:
        return
    seq, name = change_number(db.session), for_name(sub.principal.short_name)
    rows = []
    for document_id, kind, reg_number, title, sender, received_at, due_at, unread, urgent in lines:
        reg_number, title, sender = line_texts(reg_number, title, sender, spare=FOR_BYTES)
        rows.append(dict(user_id=sub.deputy_id, document_id=document_id, kind=kind, reg_number=reg_number,
                         title=title, sender=sender, received_at=received_at, due_at=due_at, unread=unread,
                         urgent=urgent, removed=False, seq=seq, for_user_id=sub.principal_id, for_name=name))
    db.session.execute(copy_upsert(_dialect().insert(_items)), rows)


def _withdraw_lines(sub: Substitution) -> None:
    """Take the copies out of the deputy's inbox (tombstones: /sync reports them removed)."""
    db.session.execute(sa.update(_items).where(
        _items.c.for_user_id == sub.principal_id, _items.c.user_id == sub.deputy_id, _items.c.removed.is_(False),
    ).values(removed=True, seq=change_number(db.session)))
    sub.lines_state = "withdrawn"


def fan_out(principals: list[int] | sa.Select, line: dict, now: datetime) -> None:
    """Copy a line being delivered to these principals into their running deputies' inboxes: one
    statement, whatever the number (none, most of the time). The substitutions are read under a shared
    lock, so an end either waits for this delivery (and withdraws its copies) or is seen by it."""
    if isinstance(principals, sa.Select):
        db.session.execute(_copies(principals, [sa.literal(line[c], _items.c[c].type) for c in _COPIED[1:12]],
                                   sa.literal(now, Substitution.ends_at.type), _dialect()))
        return
    db.session.execute(_FAN_OUT[db.session.get_bind().dialect.name],
                       {**{c: line[c] for c in _COPIED[1:12]}, "principals": principals, "now": now})


def _copies(principal_ids, values: list, now, dialect) -> sa.Insert:
    """The copies' upsert: for each running deputy of these principals, the line's `values` for them."""
    subs, users = Substitution.__table__.c, User.__table__.c
    source = sa.select(
        subs.deputy_id, *values, subs.principal_id, sa.func.substr(users.short_name, 1, FOR_NAME_CHARS),
    ).join_from(Substitution.__table__, User.__table__, users.id == subs.principal_id).where(
        subs.principal_id.in_(principal_ids), subs.inbox.is_(True), subs.lines_state == "copied",
        subs.ended_at.is_(None), subs.ends_at > now,
    ).with_for_update(read=True, of=Substitution.__table__)
    return copy_upsert(dialect.insert(_items).from_select(_COPIED, source))


# Copies to the deputies of listed principals, the line's values as parameters: built once per dialect,
# as every delivery sends it.
_FAN_OUT = {dialect.__name__.rsplit(".", 1)[-1]: compiled_once(_copies(
    sa.bindparam("principals", expanding=True), [sa.bindparam(c, type_=_items.c[c].type) for c in _COPIED[1:12]],
    sa.bindparam("now", type_=Substitution.ends_at.type), dialect), f"substitutions.fan_out.{dialect.__name__}")
    for dialect in (postgresql, sqlite)}


def withdraw_copies(principal_id: int, document_id: int, kind: str, seq: int) -> None:
    """The deputies' copies of a line the principal's inbox loses go with it."""
    db.session.execute(_WITHDRAW_COPIES, {"principal": principal_id, "document": document_id, "line_kind": kind,
                                          "change": seq})


_WITHDRAW_COPIES = sa.update(_items).where(
    _items.c.for_user_id == sa.bindparam("principal"), _items.c.document_id == sa.bindparam("document"),
    _items.c.kind == sa.bindparam("line_kind"), _items.c.removed == sa.false(),
).values(removed=True, seq=sa.bindparam("change", type_=sa.BigInteger))


def sweep(now: datetime) -> int:
    """Copy the lines of substitutions whose period began, withdraw those of periods that ended (the
    push dispatcher runs this with its deadline scan); returns how many substitutions moved."""
    due = list(db.session.scalars(sa.select(Substitution.id).where(
        sa.or_(sa.and_(Substitution.lines_state == "pending", Substitution.starts_at <= now),
               sa.and_(Substitution.lines_state == "copied",
                       sa.or_(Substitution.ends_at <= now, Substitution.ended_at.is_not(None)))))))
    for substitution_id in due:
        sub = lock_row(Substitution, substitution_id)
        if sub.lines_state == "pending" and sub.starts_at <= now:
            if sub.ended_at is None and sub.ends_at > now:
                _copy_lines(sub)
            else:
                sub.lines_state = "withdrawn"
        elif sub.lines_state == "copied" and (sub.ends_at <= now or sub.ended_at is not None):
            _withdraw_lines(sub)
    db.session.commit()
    return len(due)
