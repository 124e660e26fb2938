"""Plain SQL for the phones' polled reads.

Phones poll their inbox and tasks all day; at the region's scale these reads are most of the API's
traffic, and building a statement with SQLAlchemy and processing its rows costs several times what
PostgreSQL spends answering it. The few statements on that path are written once, in SQL that both
databases speak, with `%s` placeholders, and run on the request's own DBAPI connection (the same
transaction as the session's other statements; for the polled lists, a connection of their own in
autocommit, see `plain_reads`). PostgreSQL prepares each statement once per connection. Rows come
back as plain tuples, with times as text from both databases (`2026-11-25 09:30:00.5`: SQLite stores
them so, and PostgreSQL's text is kept rather than parsed, see `_time_loader`); `utc_text` writes
one the way the API writes times, `as_utc` reads one back.

`run` does the same for a SQLAlchemy Core statement built once: a rule that must not be written
twice (who may see a document), or a write on a hot path that SQLAlchemy would compile anew every
time (an inbox delivery's INSERT .. ON CONFLICT).
"""
import contextlib
import contextvars
import sqlite3
import threading
from datetime import datetime, timezone
from typing import Callable, NamedTuple

import psycopg
import sqlalchemy as sa
from flask import g
from psycopg import adapters as psycopg_defaults
from psycopg.adapt import Loader
from psycopg.postgres import types as postgres_types
from psycopg.types.string import TextLoader
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from . import liveness
from .base import db

# How SQLAlchemy stores a DateTime in SQLite: the raw statements compare against that text.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def fetch(sql: str, params: tuple = ()) -> list[tuple]:
    """Run one statement on the session's connection; the rows as tuples."""
    connection = _connection()
    return _execute(connection, sql, params)


def run(statement: sa.Executable, **params) -> list[tuple]:
    """A SQLAlchemy Core statement, built once at module level, run as `fetch` runs plain SQL: compiled
    once per dialect, its bind parameters given by name. For a rule written once with SQLAlchemy
    (domain.access) that a hot read also needs, and for statements SQLAlchemy cannot cache (its
    dialects' INSERT .. ON CONFLICT is compiled anew on every execution)."""
    return run_on(_connection(), statement, **params)


def run_on(connection: sa.Connection, statement: sa.Executable, **params) -> list[tuple]:
    """`run` on a given connection (a session event's, which has its own session at hand)."""
    sql, order = _compile(connection, statement)
    return _execute(connection, sql, order(params))


def run_each(statement: sa.Executable, rows: list[dict]) -> None:
    """`run` once for each set of parameters, in the order given and in one round trip to PostgreSQL
    (psycopg pipelines an executemany); for a write of no result that several rows need."""
    if rows:
        run_each_on(_connection(), statement, rows)


def run_each_on(connection: sa.Connection, statement: sa.Executable, rows: list[dict]) -> None:
    """`run_each` on a given connection (a session event's)."""
    if rows:
        sql, order = _compile(connection, statement)
        _execute(connection, sql, [order(row) for row in rows], many=True)


def insert_loaded(obj, **loaded):
    """Write a new ORM object's row with one INSERT .. RETURNING its id, built once per table and
    compiled once (as `run`), and attach the object to the session as if it had been read. On a hot
    write (issuing a resolution) the unit of work's flush of a new object costs several times its
    INSERT. An attribute left None takes the model's Python default; values go to the driver as they
    are (no JSON columns). The relationships given in `loaded` are set as they stand: no flush writes
    them, the caller does. Returns the object."""
    values = {}
    for attribute in sa.inspect(type(obj)).column_attrs:
        column = attribute.columns[0]
        if column.primary_key:
            continue
        value = getattr(obj, attribute.key)
        if value is None and column.default is not None:
            if column.default.is_clause_element:  # a default in SQL cannot be a bound value
                raise ValueError(f"{attribute.key}: set it, its default is SQL")
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
        setattr(obj, attribute.key, value)  # every column set: none is left to load
        values[column.key] = value
    [(obj.id,)] = run(_insert(obj.__table__, returning_id=True), **values)
    make_transient_to_detached(obj)  # its columns as loaded, its key its id
    db.session.add(obj)
    for name, value in loaded.items():
        set_committed_value(obj, name, value)
    return obj


def insert_in_order(link: sa.Table, owner_column: str, owner_id: int, users) -> None:
    """Write a new owner's ordered list of users into its link table, positions included, in one round
    trip: for a list set as loaded (`set_committed_value`, `insert_loaded`), which no flush writes."""
    run_each(_insert(link), [{owner_column: owner_id, "user_id": user.id, "position": i}
                             for i, user in enumerate(users)])


def _insert(table: sa.Table, returning_id: bool = False) -> sa.Insert:
    """An INSERT of every column, built once per table; with `returning_id`, of every column but the
    key, which it returns."""
    statement = _inserts.get((table, returning_id))
    if statement is None:
        statement = sa.insert(table).values(
            {c.key: sa.bindparam(c.key, type_=c.type) for c in table.c if not (returning_id and c.primary_key)})
        if returning_id:
            statement = statement.returning(table.c.id)
        _inserts[table, returning_id] = statement
    return statement


def _compile(connection: sa.Connection, statement: sa.Executable) -> tuple[str, Callable[[dict], tuple]]:
    key = (statement, connection.dialect.name)
    compiled = _compiled.get(key)
    if compiled is None:
        dialect = type(connection.dialect)(paramstyle="format")  # %s, as fetch takes them
        plan = statement.compile(dialect=dialect)
        names, defaults = plan.positiontup, plan.params
        compiled = _compiled[key] = (str(plan), lambda given: tuple({**defaults, **given}[name] for name in names))
    return compiled


def plain_reads() -> None:
    """Run the request's plain statements (`fetch`, `run`) on a connection of their own, in autocommit,
    for a request that reads through them alone (the polled lists): on PostgreSQL the thread's reader
    (`_reader`), elsewhere one checked out on first use and given back by `end_plain_reads`. The
    session's transaction, with its isolation switch and its reset, is never set up, nor the session
    itself: this state is the request's (Flask's `g`). The ORM, if asked after all, still works on the
    session, in a transaction of its own."""
    setattr(g, _PLAIN, None)


def end_plain_reads() -> None:
    """End the request's plain reads. A reader connection the thread keeps stays with it; another goes
    back to the pool, still in autocommit: the pool's next user gets the mode it needs as it checks it
    out (`_mode_for_user`)."""
    connection = g.pop(_PLAIN, None)
    if connection is not None and not _readers.is_kept(connection):
        connection.close()


class Check(NamedTuple):
    """A check that must pass before a request answers: one SQL value (a scalar subquery, `%s`
    parameters) and what to do with it (`verify` raises to refuse)."""
    column: str
    params: tuple
    verify: Callable[[object], None]


def defer_check(check: Check) -> None:
    """In a `plain_reads` request, let the check ride in the request's next statement that reads a header
    row (models.changes.settled), rather than cost a statement of its own: a polled page is then one
    statement. `run_deferred_check` runs it alone when no such statement came; until then the
    request must answer nothing."""
    setattr(g, _CHECK, check)


def take_deferred_check() -> Check | None:
    """The check waiting for a statement to ride in, taken off: the caller verifies its value."""
    return g.pop(_CHECK, None)


def run_deferred_check() -> None:
    """Run the deferred check, if no statement carried it (the request answers only after this)."""
    check = take_deferred_check()
    if check is not None:
        run_check(check)


def run_check(check: Check) -> None:
    """Run a check now, in a statement of its own."""
    check.verify(fetch(f"SELECT {check.column}", check.params)[0][0])


def reads_plainly() -> bool:
    """Whether this request runs `plain_reads`."""
    return _PLAIN in g


def _plain_connection() -> sa.Connection | None:
    connection = g.get(_PLAIN, _NOT_PLAIN)
    if connection is _NOT_PLAIN:
        return None
    if connection is None or connection.invalidated:
        connection = _reader(db.engine)
        setattr(g, _PLAIN, connection)
    return connection


def _reader(engine: sa.Engine) -> sa.Connection:
    """The connection for a request's plain reads. On PostgreSQL each thread keeps one between requests
    (`_Readers`): the pool's checkout and return, with their events and reset, cost 2.5% of a polled
    page's instructions more than this. It is checked as the pool checks its connections
    (models.liveness) before each request uses it, and replaced when the server has ended it or a
    statement lost it."""
    kept = _readers.kept.get(engine)
    if kept is not None:
        connection = kept.connection
        if not connection.invalidated and not liveness.closed_by_server(connection.connection.driver_connection):
            return connection
        _readers.give_back(engine)
    checking_out = _FOR_PLAIN_READS.set(True)  # autocommit, set as it is checked out (`_mode_for_user`)
    try:
        connection = engine.connect()
    finally:
        _FOR_PLAIN_READS.reset(checking_out)
    if engine.dialect.name == "postgresql":
        _readers.kept[engine] = _Kept(connection)
    return connection


class _Readers(threading.local):
    """Per thread, the reader connection it keeps for plain reads, per engine (a test process has many).
    Each thread that serves requests holds one pooled connection more than those its transactions
    draw while they work. It goes back to the pool when its engine is disposed, or when the thread
    ends (a development server's thread per request): a thread's locals go with it."""

    def __init__(self):
        self.kept: dict[sa.Engine, _Kept] = {}

    def is_kept(self, connection: sa.Connection) -> bool:
        kept = self.kept.get(connection.engine)
        return kept is not None and kept.connection is connection

    def give_back(self, engine: sa.Engine) -> None:
        kept = self.kept.pop(engine, None)
        if kept is not None:
            kept.give_back()


class _Kept:
    """A reader connection a thread keeps: given back to the pool when let go, if not before."""

    __slots__ = ("connection",)

    def __init__(self, connection: sa.Connection):
        self.connection = connection

    def give_back(self) -> None:
        with contextlib.suppress(Exception):  # it may be gone already; never raise from a finalizer
            self.connection.close()

    __del__ = give_back


def _disposed(engine: sa.Engine) -> None:
    _readers.give_back(engine)  # this thread's: in a web worker, only process ends dispose engines


def _mode_for_user(dbapi_connection, record, proxy) -> None:
    """Every connection leaves the pool in the mode its user needs: autocommit for `plain_reads` (behind
    SQLAlchemy's back, which sets up no transaction there), a transaction's for anyone else, whatever
    mode it went back in. Set as it leaves rather than undone as it comes back: where phones poll, most
    connections a poll draws were given back by polls, already in autocommit, and nothing is switched.

    Plain reads also run their prepared statements on generic plans, planned once per connection.
    Left to choose, PostgreSQL plans a prepared statement anew on every run for as long as its generic
    plan looks costlier than the plans made for the values given, and a page's LIMIT, a parameter, makes
    it look so (the planner takes a tenth of the rows for an unknown LIMIT): an inbox page was planned
    on every poll, three quarters of its database time. The polled statements are written to walk one
    index whatever their values (benchmarks.inbox prints the generic plans); a transaction's statements,
    the ORM's among them, keep PostgreSQL's choice."""
    wanted = _FOR_PLAIN_READS.get()
    if record.info.get(_GENERIC_PLANS, False) != wanted:  # a new connection, or one changing hands
        try:
            dbapi_connection.autocommit = True  # a SET outside any transaction, which a ROLLBACK would undo
            dbapi_connection.execute("SET plan_cache_mode = force_generic_plan" if wanted
                                     else "RESET plan_cache_mode")
        except psycopg.Error as lost:  # the server went since the liveness check: the pool tries another
            raise sa.exc.DisconnectionError(f"the connection failed as it left the pool: {lost}") from lost
        record.info[_GENERIC_PLANS] = wanted
    if dbapi_connection.autocommit != wanted:
        dbapi_connection.autocommit = wanted


def install(engine: sa.Engine) -> None:
    """Keep the engine's pool safe for `plain_reads`."""
    if engine.dialect.name == "postgresql":
        sa.event.listen(engine, "checkout", _mode_for_user)
        sa.event.listen(engine, "engine_disposed", _disposed)


# Names in the request's `g`: its connection for plain statements run on their own, and its deferred check.
_PLAIN, _CHECK, _NOT_PLAIN = "_plain_reads", "_deferred_check", object()
# Whether the connection being checked out is for `plain_reads` (read by `_mode_for_user`).
_FOR_PLAIN_READS = contextvars.ContextVar("for_plain_reads", default=False)
# In a pooled connection's `info`: whether it runs generic plans (set for plain reads).
_GENERIC_PLANS = "generic_plans"
_compiled: dict[tuple[sa.Executable, str], tuple[str, Callable[[dict], tuple]]] = {}
_inserts: dict[tuple[sa.Table, bool], sa.Insert] = {}
_readers = _Readers()


def _connection() -> sa.Connection:
    plain = _plain_connection()
    if plain is not None:
        return plain
    if db.session.autoflush:  # as the ORM's own queries do: the transaction reads what it wrote
        db.session.flush()
    return db.session.connection()


def _execute(connection: sa.Connection, sql: str, params: tuple | list[tuple], many: bool = False) -> list[tuple]:
    driver = connection.connection.driver_connection
    sqlite = isinstance(driver, sqlite3.Connection)
    adapt = _for_sqlite if sqlite else _for_postgres
    params = [tuple(adapt(p) for p in each) for each in params] if many else tuple(adapt(p) for p in params)
    if sqlite:
        sql = sql.replace("%s", "?")
    dialect = connection.dialect
    cursor = driver.cursor()
    try:
        # Whoever listens to SQLAlchemy's statements (tracing, logging, tests) hears these too.
        if connection.dispatch.before_cursor_execute:
            connection.dispatch.before_cursor_execute(connection, cursor, sql, params, None, many)
        if many:
            cursor.executemany(sql, params)
            return []
        if sqlite:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []  # a write without RETURNING has none
        cursor.adapters.register_loader(_TIMESTAMP, _time_loader(driver))
        cursor.execute(sql, params, prepare=True)
        # The result's column count, not psycopg's `description`, which builds an object per column.
        return cursor.fetchall() if cursor.pgresult.nfields else []
    except dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy does with its own statements: a lost connection leaves the pool, and the error
        # is SQLAlchemy's (OperationalError and the rest), which the app already answers (503 and so on).
        lost = dialect.is_disconnect(exc, driver, cursor)
        if lost:
            connection.invalidate(exc)
        raise sa.exc.DBAPIError.instance(sql, params, exc, dialect.loaded_dbapi.Error,
                                         connection_invalidated=lost, dialect=dialect) from exc
    finally:
        with contextlib.suppress(dialect.loaded_dbapi.Error):  # its connection may be gone
            cursor.close()


def _time_loader(driver) -> type[Loader]:
    """How a plain read loads a `timestamp`: as the text PostgreSQL writes in its ISO DateStyle, the
    default, kept as it is. An inbox page holds fifty times: parsing each into a datetime only to format
    it again was 7% of the page's instructions, and a loader written in Python, called once per value,
    7% more; the driver's own text loader (in C) costs neither. Under another DateStyle the value is
    parsed and written in ISO, as the server would have."""
    style = driver.pgconn.parameter_status(b"DateStyle")
    return TextLoader if style is None or style.startswith(b"ISO") else _TimeInIso


class _TimeInIso(Loader):
    """A `timestamp` written in a DateStyle other than ISO, parsed by the driver and written in ISO."""

    def __init__(self, oid: int, context=None):
        super().__init__(oid, context)
        self._parse = psycopg_defaults.get_loader(oid, self.format)(oid, context).load

    def load(self, data) -> str:
        return self._parse(data).isoformat(" ")


_TIMESTAMP = postgres_types["timestamp"].oid


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _for_postgres(value):
    # Columns hold naive UTC: an aware parameter would make PostgreSQL convert every row instead.
    return _utc(value) if isinstance(value, datetime) else value


def _for_sqlite(value):
    return _utc(value).strftime(_SQLITE_TIME) if isinstance(value, datetime) else value


def utc_text(value) -> str | None:
    """A stored time as `fetch` gives it (text, UTC) as the API writes it: 2026-11-25T09:30:00Z."""
    if value is None:
        return None
    return f"{value[:10]}T{value[11:19]}Z"


def as_utc(value) -> datetime | None:
    """A stored time as an aware UTC datetime (for cursors)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc)
