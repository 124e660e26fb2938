"""Declarative base, the shared `db` object and column types used by every model."""
from datetime import datetime, timezone

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.orm.util import identity_key

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator):
    """Stores naive UTC, returns aware UTC: the same behaviour on SQLite and PostgreSQL."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


def partial_index(name: str, *columns: str, where: str) -> sa.Index:
    """An index of the rows matching `where` (SQL both databases speak), on PostgreSQL and SQLite alike."""
    return sa.Index(name, *columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    registry = registry(metadata=sa.MetaData(naming_convention=NAMING),
                        type_annotation_map={datetime: UTCDateTime()})


db = SQLAlchemy(model_class=Base)


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """SQLite leaves foreign keys off and readers blocking writers unless asked."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def write_lock() -> None:
    """Take the database's write lock now, for the rest of the transaction (SQLite only).

    SQLite has no row locks: BEGIN IMMEDIATE makes this transaction the one writer, so every rule
    read after it is current and stays so until commit (the same promise FOR UPDATE gives on
    PostgreSQL, at database grain). The driver only begins transactions at the first write, so a
    connection outside one has read nothing that could be stale; inside one it already holds the
    write lock. PostgreSQL needs nothing here: `lock` takes the row.
    """
    if db.session.get_bind().dialect.name != "sqlite":
        return
    connection = db.session.connection()
    if not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def lock(model, row_id, *options):
    """Load one row locked for the rest of the transaction, so that writers to it take turns.

    PostgreSQL locks the row (FOR UPDATE) and waits for a holder to commit; SQLite takes the
    database's write lock first (`write_lock`). Either way the row, and any collection of it loaded
    before, is read again after the lock: a rule checked on it holds until commit. Returns None if
    there is no such row.

    `row_id` is the row's id, or a scalar subquery that finds it in the same statement (a task's
    resolution, by the task's id: one round trip rather than a read first); loader `options` apply.
    """
    db.session.flush()
    write_lock()
    if isinstance(row_id, int):
        known = db.session.identity_map.get(identity_key(model, row_id))
        if known is not None:
            db.session.expire(known)  # collections too, which populate_existing would leave as they were
    else:  # not known before the statement: whatever of the model was loaded is read again
        for known in [o for o in db.session.identity_map.values() if isinstance(o, model)]:
            db.session.expire(known)
    return db.session.scalar(sa.select(model).where(model.id == row_id).options(*options)
                             .with_for_update(of=model).execution_options(populate_existing=True))


# An upsert's ON CONFLICT clause has no cache key in this SQLAlchemy, so neither has the dialect's INSERT
# that carries it: such a statement is compiled anew on every execution, however once it was built.
_UPSERT_KEY = [(name, kind) for name, kind in sa.sql.dml.Insert._traverse_internals if name != "_post_values_clause"]
_CACHEABLE: dict[type, type] = {}


def compiled_once(upsert: sa.Insert, name: str) -> sa.Insert:
    """A dialect's upsert built once at import, cached by SQLAlchemy like any other statement under its
    unique `name` (which stands for its ON CONFLICT clause): a delivery's line and its deputies' copies
    cost a compilation each, a third of a returned report's CPU. Never change the statement returned:
    a statement derived from it keeps the name and would find this one's compiled form."""
    base = type(upsert)
    if base not in _CACHEABLE:
        _CACHEABLE[base] = type(f"Named{base.__name__}", (base,), {
            "inherit_cache": False,
            "_traverse_internals": _UPSERT_KEY + [("_compiled_once", sa.sql.visitors.InternalTraversal.dp_string)]})
    named = upsert._generate()
    named.__class__, named._compiled_once = _CACHEABLE[base], name
    return named


def store_order(link: sa.Table, owner_column: str, owner_id: int, users) -> None:
    """Write the order of an ordered user list into its link table's `position`.

    A secondary relationship writes its link rows but not their position, so without this the order
    read back is whatever the database returns (PostgreSQL returns it reversed at times): the first
    executor of a resolution and the order of a sequential approval stage depend on it.
    """
    db.session.flush()
    ids = [user.id for user in users]
    if ids:  # one statement, however many users
        db.session.execute(sa.update(link).where(link.c[owner_column] == owner_id, link.c.user_id.in_(ids))
                           .values(position=sa.case({user_id: i for i, user_id in enumerate(ids)},
                                                    value=link.c.user_id)))
