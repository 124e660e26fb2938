"""Deadline reminders: the dispatcher's periodic scan that owes executors a push, once per task."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from domain.notify import notify_once
from models import OutboxMessage, Task, db

SOON = timedelta(hours=24)


def _dedup_key(event: str, task_id) -> str:
    return f"{event}:task:{task_id}"


def _due(event: str, window: sa.ColumnElement[bool]) -> list[tuple[int, int, int]]:
    # Tasks already reminded are skipped here through the unique dedup key; the insert below still
    # tolerates a twin dispatcher that scanned at the same moment.
    key = sa.literal(f"{event}:task:") + sa.cast(Task.id, sa.String)
    reminded = sa.exists().where(OutboxMessage.dedup_key == key)
    rows = db.session.execute(
        sa.select(Task.id, Task.executor_id, Task.document_id)
        .where(Task.status == "open", Task.removed.is_(False), Task.deadline.is_not(None), window, ~reminded)
    )
    return list(rows.tuples())


def scan(now: datetime) -> int:
    """Write the deadline reminders that are due at `now`; returns how many were new."""
    made = 0
    for event, window in (
        ("deadline_soon", sa.and_(Task.deadline > now, Task.deadline <= now + SOON)),
        ("deadline_passed", Task.deadline <= now),
    ):
        for task_id, executor_id, document_id in _due(event, window):
            made += notify_once(event, executor_id, document_id, _dedup_key(event, task_id), task_id=task_id)
    db.session.commit()
    return made
