"""Change numbers for sync: every inbox line, task, user and unit carries the number of its last change.

A phone keeps a position in its own stream of changes and asks for what lies beyond it. The
promise is that it never misses one, whatever commits while it reads. Without a global lock:

- Every change of a transaction carries one number, the transaction's own. On PostgreSQL that is
  its 64-bit transaction id (`pg_current_xact_id()`), which costs no lock and no write: writes of
  the whole region run side by side. SQLite runs one writer at a time anyway, so there the number
  comes from a counter row (`change_counter`), taken once per writing transaction.
- A reader first takes the *horizon*: a number below which every transaction has ended. On
  PostgreSQL it is the oldest transaction its snapshot lists as running, leaving out those of the
  cluster's other databases (or the next id to be given when none is); on SQLite, one past the
  committed counter. Read in the same statement as a version, it vouches for that version. Rows
  numbered below the horizon are settled: no transaction can still add or change one there, and
  every later change is numbered at or above it. A position handed to a phone never goes past what
  is settled, so anything that commits later lands beyond it.

Numbers are not in commit order and need not be: only the horizon's promise is relied on.

Users and units (the directory, rarely written) still number their changes from the counter row,
taken with `_take` under its row lock, and the directory's sync reads that counter as its bound.
"""
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session

from .base import db
from .raw import fetch, run_on


class ChangeCounter(db.Model):
    """SQLite only: the last change number given. PostgreSQL numbers changes by transaction id."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


_KEY = "change_number"
PG_NUMBER = sa.text("pg_current_xact_id()::text::bigint")
_SELECT_PG_NUMBER = sa.select(PG_NUMBER)  # built once: every writing transaction asks it (models.raw.run_on)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _take(session: Session, n: int) -> int:
    """Reserve n numbers of the counter row (the directory's users and units); returns the last one."""
    table = ChangeCounter.__table__
    last = session.execute(
        sa.update(table).where(table.c.id == 1).values(value=table.c.value + n).returning(table.c.value)
    ).scalar()
    if last is None:  # first change ever in this database
        session.execute(sa.insert(table).values(id=1, value=n))
        last = n
    return last


def _take_counter(session: Session) -> int:
    table = ChangeCounter.__table__
    last = session.execute(
        sa.update(table).where(table.c.id == 1).values(value=table.c.value + 1).returning(table.c.value)
    ).scalar()
    if last is None:  # first change ever in this database
        session.execute(sa.insert(table).values(id=1, value=1))
        last = 1
    return last


def _root(session: Session):
    transaction = session.get_transaction()
    while transaction is not None and transaction.parent is not None:
        transaction = transaction.parent
    return transaction


def change_number(session) -> int:
    """The number every change of the current transaction carries (taken on first use)."""
    if isinstance(session, scoped_session):
        session = session()
    cached = session.info.get(_KEY)
    if cached is not None and cached[0] is _root(session):
        return cached[1]
    if _dialect(session) == "postgresql":
        number = run_on(session.connection(), _SELECT_PG_NUMBER)[0][0]
    else:
        number = _take_counter(session)
    session.info[_KEY] = (_root(session), number)
    return number


def change_number_sql(session: Session):
    """The transaction's change number as a SQL expression for set-based statements."""
    if _dialect(session) == "postgresql":
        return PG_NUMBER
    return sa.literal(change_number(session), sa.BigInteger)


# The statement's own snapshot, and the transactions running in the cluster's other databases.
# Transaction ids are shared by the whole cluster, but a transaction of another database never numbers
# a change here: a long one there (a dump, another application) must not hold back this database's
# phones. Only those are left out; any other transaction the snapshot lists as running still counts,
# including one of ours that has ended since (its rows are not in this snapshot). That holds however
# stale the activity list is, so the horizon can be read in the same statement as what it guards.
_SNAPSHOT = ("pg_current_snapshot()::text, ARRAY(SELECT backend_xid::text::bigint FROM pg_stat_activity "
             "WHERE datname <> current_database() AND backend_xid IS NOT NULL)")


def _below_running(snapshot: str, elsewhere: list[int]) -> int:
    """The oldest transaction of the snapshot (xmin:xmax:xip) still running that is not another
    database's, or the next id to be given when there is none."""
    _, xmax, xip = snapshot.split(":")
    others = set(elsewhere)
    running = [int(x) for x in xip.split(",") if int(x) % 2**32 not in others] if xip else []
    return min(running, default=int(xmax))


def _horizon_columns() -> tuple[str, int]:
    """The SQL columns the horizon is computed from, and how many they are."""
    if _dialect(db.session) == "postgresql":
        return _SNAPSHOT, 2
    return "(SELECT value FROM change_counter WHERE id = 1)", 1


def _horizon_of(values: tuple) -> int:
    if len(values) == 2:
        return _below_running(*values)
    return (values[0] or 0) + 1  # SQLite: one past the committed counter


def settled(columns: str = "", params: tuple = ()) -> tuple[int, tuple]:
    """The horizon H, and the given SQL columns read in the same statement (one snapshot).

    Every transaction numbering changes below H has ended, and its rows are visible to this statement
    and to any statement run after it; every later change is numbered H or above."""
    head, width = _horizon_columns()
    row = fetch(f"SELECT {head}{', ' + columns if columns else ''}", params)[0]
    return _horizon_of(row[:width]), tuple(row[width:])


def settled_rows(select: str, params: tuple) -> tuple[int, list[tuple]]:
    """The horizon H (see `settled`) and the rows of `select`, read in the same statement, in no
    particular order. The rows' first column must not be NULL."""
    head, width = _horizon_columns()
    rows = fetch(f"SELECT * FROM (SELECT {head}) AS horizon LEFT JOIN ({select}) AS found ON 1 = 1", params)
    return _horizon_of(rows[0][:width]), [row[width:] for row in rows if row[width] is not None]


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_KEY, None)


def _tracked(obj) -> bool:
    return hasattr(obj, "seq") and getattr(obj, "__tablename__", None) in ("inbox_items", "tasks")


def _directory(obj) -> bool:
    return hasattr(obj, "seq") and getattr(obj, "__tablename__", None) in ("users", "units")


@event.listens_for(Session, "before_flush")
def _stamp_changes(session: Session, flush_context, instances) -> None:
    candidates = list(session.new) + [o for o in session.dirty if session.is_modified(o, include_collections=False)]
    changed = [o for o in candidates if _tracked(o)]
    if changed:
        number = change_number(session)
        for obj in changed:
            obj.seq = number
    directory = [o for o in candidates if _directory(o)]
    if directory:
        last = _take(session, len(directory))
        for offset, obj in enumerate(directory):
            obj.seq = last - len(directory) + 1 + offset
