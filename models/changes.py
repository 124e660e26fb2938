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
from typing import Callable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session

from .base import db
from .raw import fetch, take_deferred_check


class ChangeCounter(db.Model):
    """SQLite only: the last change number given. PostgreSQL numbers changes by transaction id."""

    __tablename__ = "change_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


_KEY = "change_number"
PG_NUMBER = sa.text("pg_current_xact_id()::text::bigint")
_SELECT_PG_NUMBER = sa.select(PG_NUMBER)  # built once: every writing transaction asks it


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
        number = session.connection().execute(_SELECT_PG_NUMBER).scalar_one()  # no autoflush: flushes ask it
    else:
        number = _take_counter(session)
    session.info[_KEY] = (_root(session), number)
    return number


def change_number_sql(session: Session):
    """The transaction's change number as a SQL expression for set-based statements."""
    if _dialect(session) == "postgresql":
        return PG_NUMBER
    return sa.literal(change_number(session), sa.BigInteger)


# The horizon, computed by the statement that reads what it guards, as one number: the oldest
# transaction its own snapshot lists as running, or the next id to be given when there is none.
# Transactions running in the cluster's other databases are left out (ids are shared by the whole
# cluster, but one of another database never numbers a change here: a long one there, a dump or another
# application, must not hold back this database's phones). Any other transaction the snapshot lists
# still counts, including one of ours that has ended since (its rows are not in this snapshot), so a
# stale activity list can only hold the horizon back, never move it past a running transaction.
# pg_current_snapshot() is the statement's snapshot, the same at each call within it.
_PG_HORIZON = ("(SELECT coalesce(min(x::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint) "
               "FROM pg_snapshot_xip(pg_current_snapshot()) AS x WHERE mod(x::text::bigint, 4294967296) NOT IN ("
               "SELECT backend_xid::text::bigint FROM pg_stat_activity WHERE datname <> current_database() "
               "AND backend_xid IS NOT NULL))")
# SQLite: one past the committed counter.
_SQLITE_HORIZON = "(coalesce((SELECT value FROM change_counter WHERE id = 1), 0) + 1)"


def _horizon() -> str:
    """The SQL column of the horizon."""
    return _PG_HORIZON if db.engine.dialect.name == "postgresql" else _SQLITE_HORIZON  # no session needed


def settled(columns: tuple[str, ...] = (), params: tuple = ()) -> tuple[int, tuple]:
    """The horizon H, and the given SQL columns read in the same statement (one snapshot).

    Every transaction numbering changes below H has ended, and its rows are visible to this statement
    and to any statement run after it; every later change is numbered H or above. A check deferred by
    the request (models.raw.defer_check) rides along and is verified first."""
    header, params, verify = _header(columns, params)
    row = verify(fetch(f"SELECT {header}", params))[0]
    return row[0], tuple(row[1:])


def settled_rows(select: str, params: tuple, columns: tuple[str, ...] = (),
                 column_params: tuple = ()) -> tuple[int, tuple, list[tuple]]:
    """The horizon H (see `settled`), the given SQL columns and the rows of `select`, read in the same
    statement; the rows in no particular order. The rows' first column must not be NULL."""
    header, column_params, verify = _header(columns, column_params)
    rows = verify(fetch(f"SELECT * FROM (SELECT {header}) AS horizon LEFT JOIN ({select}) AS found ON 1 = 1",
                        (*column_params, *params)))
    end = 1 + len(columns)
    return rows[0][0], rows[0][1:end], [row[end:] for row in rows if row[end] is not None]


def _header(columns: tuple[str, ...], params: tuple) -> tuple[str, tuple, Callable[[list], list]]:
    """The header's SQL columns and their parameters, with the request's deferred check (if any) in
    front; and what verifies the check in the rows read and strips it off them."""
    check = take_deferred_check()
    if check is None:
        return ", ".join((_horizon(), *columns)), params, lambda rows: rows

    def verify(rows: list[tuple]) -> list[tuple]:
        check.verify(rows[0][0])
        return [row[1:] for row in rows]

    return ", ".join((check.column, _horizon(), *columns)), (*check.params, *params), verify


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
