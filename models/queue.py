"""Background work that travels through tables: transcription jobs and the push outbox.

Both are claimed as leases: a claim sets an owner and a deadline; a worker that dies simply
stops renewing, and the row becomes claimable again when the lease runs out. On PostgreSQL
the claim uses FOR UPDATE SKIP LOCKED so any number of workers never take the same row; on
SQLite a single UPDATE ... RETURNING is atomic because SQLite serialises writers.

Every lease deadline, due time and heartbeat is read from the database's clock (`db_now`), never
from the clock of the machine a worker runs on: two machines whose clocks disagree by a minute
would otherwise steal each other's leases, or never take a dead worker's row.
A row whose lease ran out `max_attempts` times is not claimed again: `take_exhausted` hands it
to a worker that records why it failed, so a recording that kills its worker is not retried forever.
"""
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement

from .base import BigId, UTCDateTime, db, utcnow

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class db_now(FunctionElement):  # noqa: N801 - reads as the SQL function it renders
    """The database's current UTC time, plus `seconds` (a number or a SQL expression)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "db_now"

    def __init__(self, seconds: float | sa.ColumnElement = 0.0) -> None:
        if not isinstance(seconds, sa.ColumnElement):
            seconds = sa.literal(float(seconds), sa.Float())
        super().__init__(seconds)


def database_time() -> datetime:
    """The database's current UTC time, for a rule that compares it with stored times in Python."""
    return db.session.scalar(sa.select(db_now()))


@compiles(db_now, "postgresql")
def _db_now_pg(element, compiler, **kw):
    # clock_timestamp(), not now(): now() stands still for the whole transaction.
    (seconds,) = element.clauses
    return f"(timezone('UTC', clock_timestamp()) + make_interval(secs => {compiler.process(seconds, **kw)}))"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element, compiler, **kw):
    # SQLite runs inside this process, so its clock is this machine's; the same text format as stored values.
    (seconds,) = element.clauses
    return (f"strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', {compiler.process(seconds, **kw)}))")


def read_db_now() -> datetime:
    """The database's current time, as an aware UTC datetime."""
    return db.session.scalar(sa.select(db_now()))


class LeasedRow:
    """Columns shared by every table whose rows are claimed as leases."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    # Set by the database's clock, like the claim that compares it, whichever machine inserts the row.
    available_at: Mapped[datetime] = mapped_column(default=db_now())
    lease_owner: Mapped[str | None] = mapped_column(sa.String(80))
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Job(LeasedRow, db.Model):
    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_claim", "status", "available_at"),)

    kind: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict] = mapped_column(sa.JSON)


class OutboxMessage(LeasedRow, db.Model):
    """A notification owed to a user, written in the same transaction as its cause."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_claim", "status", "available_at"),)

    event: Mapped[str] = mapped_column(sa.String(32))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("documents.id", ondelete="CASCADE"))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    # Events that must happen once (a deadline reminder) carry a key that makes a repeat a no-op.
    dedup_key: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    urgent: Mapped[bool] = mapped_column(default=False)


class ProcessHeartbeat(db.Model):
    """When each background process, and each loop in it, was last seen on schedule (for /readyz).

    A process row has `process == name`; a loop row names its process. Both carry how long they may
    stay silent before they count as gone (a process) or stalled (a loop in a live process).
    """

    __tablename__ = "process_heartbeats"

    name: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    seen_at: Mapped[datetime] = mapped_column(default=db_now())
    process: Mapped[str | None] = mapped_column(sa.String(120))
    silence_s: Mapped[int] = mapped_column(default=30, server_default="30")
    state: Mapped[str | None] = mapped_column(sa.String(200))


def _claimable(model, max_attempts: int | None):
    now = db_now()
    expired = sa.and_(model.status == RUNNING, model.lease_until < now)
    if max_attempts is not None:
        expired = sa.and_(expired, model.attempts < max_attempts)
    return sa.or_(sa.and_(model.status == QUEUED, model.available_at <= now), expired)


def _lease_rows(model, pick, owner: str, lease: timedelta, count_attempt: bool) -> list[int]:
    if db.session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    values = dict(status=RUNNING, lease_owner=owner, lease_until=db_now(lease.total_seconds()))
    if count_attempt:
        values["attempts"] = model.attempts + 1
    stmt = (
        sa.update(model)
        .where(model.id.in_(pick.scalar_subquery()))
        .values(**values)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    ids = list(db.session.scalars(stmt))
    db.session.commit()
    return sorted(ids)


def claim(model, owner: str, lease: timedelta, limit: int = 1, where=None,
          max_attempts: int | None = None) -> list[int]:
    """Take up to `limit` due rows as leases for `owner`; returns their ids.

    With `max_attempts`, a row whose lease ran out after its last allowed attempt is left for
    `take_exhausted`: taking it again would be one attempt too many.
    """
    pick = sa.select(model.id).where(_claimable(model, max_attempts))
    if where is not None:
        pick = pick.where(where)
    pick = pick.order_by(model.available_at, model.id).limit(limit)
    return _lease_rows(model, pick, owner, lease, count_attempt=True)


def take_exhausted(model, owner: str, lease: timedelta, max_attempts: int, limit: int = 10, where=None) -> list[int]:
    """Lease rows whose worker died (lease ran out) on their last allowed attempt, to record them failed."""
    pick = sa.select(model.id).where(model.status == RUNNING, model.lease_until < db_now(),
                                     model.attempts >= max_attempts)
    if where is not None:
        pick = pick.where(where)
    pick = pick.order_by(model.id).limit(limit)
    return _lease_rows(model, pick, owner, lease, count_attempt=False)


def renew(model, row_id: int, owner: str, lease: timedelta) -> bool:
    """Extend a lease we still hold; False means it was lost to another worker."""
    result = db.session.execute(
        sa.update(model)
        .where(model.id == row_id, model.lease_owner == owner, model.status == RUNNING)
        .values(lease_until=db_now(lease.total_seconds()))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def renew_many(model, row_ids: list[int], owner: str, lease: timedelta) -> set[int]:
    """Extend the leases we still hold among `row_ids` in one statement; returns those still ours."""
    if not row_ids:
        return set()
    held = db.session.scalars(
        sa.update(model)
        .where(model.id.in_(row_ids), model.lease_owner == owner, model.status == RUNNING)
        .values(lease_until=db_now(lease.total_seconds()))
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    ids = set(held)
    db.session.commit()
    return ids


def finish(row, status: str = DONE, error: str | None = None) -> None:
    """Mark a claimed row done or failed (the caller commits with its other changes)."""
    row.status, row.last_error, row.finished_at = status, error, db_now()
    row.lease_owner = row.lease_until = None


def finish_many(model, row_ids: list[int], owner: str) -> set[int]:
    """Mark done, in one statement, the rows whose lease `owner` still holds (the caller commits)."""
    if not row_ids:
        return set()
    done = db.session.scalars(
        sa.update(model)
        .where(model.id.in_(row_ids), model.lease_owner == owner, model.status == RUNNING)
        .values(status=DONE, last_error=None, finished_at=db_now(), lease_owner=None, lease_until=None)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return set(done)


def retry_later(row, delay: timedelta, error: str) -> None:
    """Give a claimed row back to the queue to be tried again after `delay` (by the database's clock)."""
    row.status, row.last_error = QUEUED, error
    row.available_at = db_now(delay.total_seconds())
    row.lease_owner = row.lease_until = None


def beat(name: str, kind: str, *, process: str | None = None, silence_s: int = 30, state: str | None = None,
         late_s: float = 0.0) -> None:
    """Record that a background process (or, with `process`, one of its loops) is alive."""
    beat_many([dict(name=name, kind=kind, process=process, silence_s=silence_s, state=state, late_s=late_s)])


def beat_many(rows: list[dict]) -> None:
    """Heartbeats in one transaction; each dict holds beat()'s arguments.

    `late_s` backdates a beat: the loop was last seen on schedule that many seconds ago.
    """
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    for row in rows:
        values = dict(name=row["name"], kind=row["kind"], process=row.get("process") or row["name"],
                      silence_s=int(row.get("silence_s", 30)), state=(row.get("state") or "")[:200] or None,
                      seen_at=db_now(-float(row.get("late_s", 0.0))))
        stmt = dialect.insert(ProcessHeartbeat).values(**values)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=[ProcessHeartbeat.name], set_={k: stmt.excluded[k] for k in values if k != "name"}))
    db.session.commit()


def forget(process: str) -> None:
    """A process stopping cleanly takes its heartbeats with it: it is gone, not stalled."""
    db.session.execute(sa.delete(ProcessHeartbeat).where(ProcessHeartbeat.process == process))
    db.session.commit()


def forget_long_gone(older_than_s: float = 3600) -> None:
    """Drop the heartbeats of processes killed long ago (they never said goodbye)."""
    db.session.execute(sa.delete(ProcessHeartbeat).where(ProcessHeartbeat.seen_at < db_now(-older_than_s)))
    db.session.commit()


# What a lost database connection looks like to a caller: the server stopped or restarted, the
# network dropped, the pool could not hand out a connection in time, SQLite was locked too long.
DATABASE_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)


def database_down(error: BaseException) -> bool:
    """True when `error` means the database could not be reached (worth waiting out), not a bug."""
    if isinstance(error, DATABASE_DOWN):
        return True
    return isinstance(error, sa.exc.DBAPIError) and bool(error.connection_invalidated)


def rollback_quietly() -> None:
    """End the session's transaction after a failure; a connection already dead is let go (the pool
    discards it on its next checkout), so a loop can carry on and wait the outage out."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - see above
        logging.getLogger(__name__).debug("rollback failed", exc_info=True)
