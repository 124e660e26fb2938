"""Plain SQL for the phones' polled reads: a read path, and only for reads.

Phones poll their inbox and tasks all day; at the region's scale these reads are most of the API's
traffic, and building a statement with SQLAlchemy and processing its rows costs several times what
PostgreSQL spends answering it. The few statements on that path are written once, in SQL that both
databases speak, with `%s` placeholders, and run on a DBAPI cursor. PostgreSQL prepares each statement
once per connection. Rows come back as plain tuples, with times as text from both databases
(`2026-11-25 09:30:00.5`: SQLite stores them so, and PostgreSQL's text is kept rather than parsed, see
`_time_loader`); `utc_text` writes one the way the API writes times, `as_utc` reads one back.

`run` does the same for a SQLAlchemy Core SELECT built once: a rule that must not be written twice
(who may see a document) that a hot read also needs. Nothing here writes: every write goes through
the session, with SQLAlchemy's type processing.

Where they run: inside a transaction, on the session's connection (its statements see what it wrote);
in a request that reads through them alone (`Reads`, begun by the web layer for the polled lists), on
a connection of the reader engine: a pool of its own, in autocommit, whose connections run prepared
statements on generic plans (`reader_options`). Either way a connection is drawn from a pool and given
back; nothing is kept by a thread between requests.
"""
import contextlib
import contextvars
import sqlite3
from datetime import datetime, timezone
from typing import Callable, NamedTuple

import sqlalchemy as sa
from psycopg import adapters as psycopg_defaults
from psycopg.adapt import Loader
from psycopg.postgres import types as postgres_types
from psycopg.types.string import TextLoader

from .base import db

# How SQLAlchemy stores a DateTime in SQLite: the raw statements compare against that text.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
# The Flask-SQLAlchemy bind of the reader engine (PostgreSQL only; on SQLite reads use the one engine).
READER = "reads"


def reader_options(url: str, pool_size: int) -> dict:
    """The reader engine's options, a bind of its own: autocommit (a poll sends no BEGIN nor ROLLBACK;
    under READ COMMITTED each statement has its own snapshot anyway), and generic plans, set once as
    each connection starts rather than by a hook on every checkout.

    Left to choose, PostgreSQL plans a prepared statement anew on every run for as long as its generic
    plan looks costlier than the plans made for the values given, and a page's LIMIT, a parameter, makes
    it look so (the planner takes a tenth of the rows for an unknown LIMIT): an inbox page was planned
    on every poll, three quarters of its database time. The polled statements are written to walk one
    index whatever their values (benchmarks.inbox prints the generic plans); a transaction's statements,
    the ORM's among them, run on the other engine and keep PostgreSQL's choice."""
    return {"url": url, "pool_size": pool_size, "isolation_level": "AUTOCOMMIT",
            "pool_reset_on_return": None,  # in autocommit there is never a transaction to end
            "connect_args": {"options": f"-c plan_cache_mode=force_generic_plan {NO_JIT}"}}


# No statement of the app runs long enough to repay JIT compilation, which PostgreSQL starts by the
# plan's estimated cost: the summary's statements over a ministry paid 11 ms to compile for 40 of work.
NO_JIT = "-c jit=off"


def fetch(sql: str, params: tuple = ()) -> list[tuple]:
    """Run one read statement; the rows as tuples."""
    return _execute(_connection(), sql, params)


def fetch_checked(sql: str, params: tuple = ()) -> list[tuple]:
    """`fetch`, with the request's deferred check (if any) riding in the same statement and verified
    before the rows are used: a page that needs no other header row is then one statement. The rows
    keep their order; the statement's first column must not be NULL."""
    check = take_deferred_check()
    if check is None:
        return fetch(sql, params)
    # The one-row side drives the join, so the page's rows come in the page's own order.
    rows = fetch(f"SELECT {check.column}, found.* FROM (SELECT 1 AS one) AS one LEFT JOIN ({sql}) AS found ON 1 = 1",
                 (*check.params, *params))
    check.verify(rows[0][0])
    return [row[1:] for row in rows if row[1] is not None]


def run(statement: sa.Select, **params) -> list[tuple]:
    """A SQLAlchemy Core SELECT, built once at module level, run as `fetch` runs plain SQL: compiled
    once per dialect, its bind parameters given by name. For a rule written once with SQLAlchemy
    (domain.access) that a hot read also needs."""
    if not statement.is_select:
        raise TypeError("models.raw only reads: write through the session")
    connection = _connection()
    sql, order = _compile(connection, statement)
    return _execute(connection, sql, order(params))


def run_checked(statement: sa.Select, **params) -> list[tuple]:
    """`run`, with the request's deferred check (`defer_check`), if one waits, riding in the same
    statement and verified before its rows are given: a read that begins with a rule's lookup costs no
    statement of its own for the session check. The rows come in no particular order; their first
    column must not be NULL."""
    check = take_deferred_check()
    if check is None:
        return run(statement, **params)
    connection = _connection()
    sql, order = _compile(connection, statement)
    rows = _execute(connection, f"SELECT * FROM (SELECT {check.column}) AS checked LEFT JOIN ({sql}) AS found "
                                "ON 1 = 1", (*check.params, *order(params)))
    check.verify(rows[0][0])
    return [row[1:] for row in rows if row[1] is not None]


def _compile(connection: sa.Connection, statement: sa.Select) -> tuple[str, Callable[[dict], tuple]]:
    key = (statement, connection.dialect.name)
    compiled = _compiled.get(key)
    if compiled is None:
        dialect = type(connection.dialect)(paramstyle="format")  # %s, as fetch takes them
        plan = statement.compile(dialect=dialect)
        names, defaults = plan.positiontup, plan.params
        compiled = _compiled[key] = (str(plan), lambda given: tuple({**defaults, **given}[name] for name in names))
    return compiled


_compiled: dict[tuple[sa.Select, str], tuple[str, Callable[[dict], tuple]]] = {}


class Check(NamedTuple):
    """A check that must pass before a request answers: one SQL value (a scalar subquery, `%s`
    parameters) and what to do with it (`verify` raises to refuse)."""
    column: str
    params: tuple
    verify: Callable[[object], None]


class Reads:
    """A request's reads outside any transaction: the reader connection it draws on first use, and a
    check waiting to ride in its next statement that reads a header row (models.changes.settled)."""

    __slots__ = ("connection", "check")

    def __init__(self):
        self.connection: sa.Connection | None = None
        self.check: Check | None = None


def begin_reads() -> contextvars.Token:
    """Run this context's plain statements on the reader engine until `end_reads`; for a request that
    reads through them alone (the polled lists). The ORM session, if asked after all, still works, in
    a transaction of its own."""
    return _reads.set(Reads())


def end_reads(token: contextvars.Token) -> None:
    """Give the reads' connection back to its pool (in autocommit, as the reader engine's always are)."""
    reads = _reads.get()
    _reads.reset(token)
    if reads is not None and reads.connection is not None:
        reads.connection.close()


def in_reads() -> bool:
    """Whether this context reads outside any transaction (`begin_reads`)."""
    return _reads.get() is not None


def defer_check(check: Check) -> bool:
    """Let the check ride in the reads' next statement that reads a header row, rather than cost a
    statement of its own: a polled page is then one statement. False outside `begin_reads` (the caller
    runs it now). Until `run_deferred_check`, the request must answer nothing."""
    reads = _reads.get()
    if reads is None:
        return False
    reads.check = check
    return True


def take_deferred_check() -> Check | None:
    """The check waiting for a statement to ride in, taken off: the caller verifies its value."""
    reads = _reads.get()
    if reads is None:
        return None
    check, reads.check = reads.check, None
    return check


def run_deferred_check() -> None:
    """Run the deferred check, if no statement carried it (the request answers only after this)."""
    check = take_deferred_check()
    if check is not None:
        run_check(check)


def run_check(check: Check) -> None:
    """Run a check now, in a statement of its own."""
    check.verify(fetch(f"SELECT {check.column}", check.params)[0][0])


_reads: contextvars.ContextVar[Reads | None] = contextvars.ContextVar("plain_reads", default=None)


def _connection() -> sa.Connection:
    reads = _reads.get()
    if reads is None:
        if db.session.autoflush:  # as the ORM's own queries do: the transaction reads what it wrote
            db.session.flush()
        return db.session.connection()
    if reads.connection is None or reads.connection.invalidated:
        if reads.connection is not None:
            reads.connection.close()
        reads.connection = db.engines.get(READER, db.engine).connect()
    return reads.connection


def _execute(connection: sa.Connection, sql: str, params: tuple) -> list[tuple]:
    driver = connection.connection.driver_connection
    sqlite = isinstance(driver, sqlite3.Connection)
    adapt = _for_sqlite if sqlite else _for_postgres
    params = tuple(adapt(p) for p in params)
    if sqlite:
        sql = sql.replace("%s", "?")
    dialect = connection.dialect
    cursor = driver.cursor()
    try:
        # Whoever listens to SQLAlchemy's statements (tracing, logging, tests) hears these too.
        if connection.dispatch.before_cursor_execute:
            connection.dispatch.before_cursor_execute(connection, cursor, sql, params, None, False)
        if sqlite:
            cursor.execute(sql, params)
            return cursor.fetchall()
        cursor.adapters.register_loader(_TIMESTAMP, _time_loader(driver))
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()
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
