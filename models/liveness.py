"""Pooled PostgreSQL connections are checked without a round trip before each use.

A pooled connection dies when the database restarts or ends its session (an administrator, an idle
timeout). SQLAlchemy's `pool_pre_ping` finds out by sending a `SELECT 1` on every checkout: a round
trip and a statement for PostgreSQL on every request, about a fifth of what a polled inbox page
costs the shared database. Here the connection's socket is asked instead. A server that ends a
session says so and closes it, so an idle connection whose socket is readable (a message or the end
of the stream) is dropped, and the pool gives a fresh one; the request never sees the dead one.
A connection whose server vanished without a word (a cut cable) passes, as it would a ping sent into
the void, and its first statement is answered 503 like any other outage.
"""
import select

import sqlalchemy as sa


def install(engine: sa.Engine) -> None:
    """Check the engine's connections on checkout (PostgreSQL; an SQLite file has no socket)."""
    if engine.dialect.name == "postgresql":
        sa.event.listen(engine, "checkout", _check)


def closed_by_server(dbapi_connection) -> bool:
    """Whether the server has ended this idle connection (its socket is readable: a goodbye or EOF)."""
    poll = select.poll()
    poll.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poll.poll(0))


def _check(dbapi_connection, record, proxy) -> None:
    if closed_by_server(dbapi_connection):
        # The pool discards this connection and checks out another (SQLAlchemy's documented way).
        raise sa.exc.DisconnectionError("the database closed this connection while it was idle")
