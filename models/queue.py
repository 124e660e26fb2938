"""Background work that travels through tables: transcription jobs and the push outbox.

Both are claimed as leases: a claim sets an owner and a deadline; a worker that dies simply
stops renewing, and the row becomes claimable again when the lease runs out. On PostgreSQL
the claim uses FOR UPDATE SKIP LOCKED so any number of workers never take the same row; on
SQLite a single UPDATE ... RETURNING is atomic because SQLite serialises writers.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .base import BigId, db, utcnow

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class LeasedRow:
    """Columns shared by every table whose rows are claimed as leases."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(10), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
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
    """When each background process last said it was alive (for /readyz)."""

    __tablename__ = "process_heartbeats"

    name: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), index=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


def _claimable(model, now: datetime):
    expired = sa.and_(model.status == RUNNING, model.lease_until < now)
    return sa.or_(sa.and_(model.status == QUEUED, model.available_at <= now), expired)


def claim(model, owner: str, lease: timedelta, limit: int = 1, where=None) -> list[int]:
    """Take up to `limit` due rows as leases for `owner`; returns their ids."""
    now = utcnow()
    pick = sa.select(model.id).where(_claimable(model, now))
    if where is not None:
        pick = pick.where(where)
    pick = pick.order_by(model.available_at, model.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        sa.update(model)
        .where(model.id.in_(pick.scalar_subquery()))
        .values(status=RUNNING, lease_owner=owner, lease_until=now + lease, attempts=model.attempts + 1)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    ids = list(db.session.scalars(stmt))
    db.session.commit()
    return sorted(ids)


def renew(model, row_id: int, owner: str, lease: timedelta) -> bool:
    """Extend a lease we still hold; False means it was lost to another worker."""
    result = db.session.execute(
        sa.update(model)
        .where(model.id == row_id, model.lease_owner == owner, model.status == RUNNING)
        .values(lease_until=utcnow() + lease)
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
        .values(lease_until=utcnow() + lease)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    ids = set(held)
    db.session.commit()
    return ids


def finish(row, status: str = DONE, error: str | None = None) -> None:
    """Mark a claimed row done or failed (the caller commits with its other changes)."""
    row.status, row.last_error, row.finished_at = status, error, utcnow()
    row.lease_owner = row.lease_until = None


def finish_many(model, row_ids: list[int], owner: str) -> set[int]:
    """Mark done, in one statement, the rows whose lease `owner` still holds (the caller commits)."""
    if not row_ids:
        return set()
    done = db.session.scalars(
        sa.update(model)
        .where(model.id.in_(row_ids), model.lease_owner == owner, model.status == RUNNING)
        .values(status=DONE, last_error=None, finished_at=utcnow(), lease_owner=None, lease_until=None)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return set(done)


def retry_later(row, delay: timedelta, error: str) -> None:
    """Give a claimed row back to the queue to be tried again after `delay`."""
    row.status, row.last_error = QUEUED, error
    row.available_at = utcnow() + delay
    row.lease_owner = row.lease_until = None


def beat(name: str, kind: str) -> None:
    """Record that a background process is alive."""
    row = db.session.get(ProcessHeartbeat, name)
    if row is None:
        db.session.add(ProcessHeartbeat(name=name, kind=kind, seen_at=utcnow()))
    else:
        row.seen_at = utcnow()
    db.session.commit()
