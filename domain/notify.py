"""Notifications owed to people, written to the outbox in the caller's transaction.

The push dispatcher sends them; writing them here, next to the change that causes them,
means a notification exists if and only if its cause was committed.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from models import OutboxMessage, Substitution, db, utcnow
from models.queue import QUEUED, db_now

EVENTS = (
    "task_assigned",      # executor
    "review_requested",   # assistant: a transcript is ready for review
    "draft_reviewed",     # executive: the assistant handed the draft back
    "approval_requested", # approver
    "task_completed",     # author of the resolution
    "deadline_ahead",     # executor, on the morning of each of the organization's reminder days before
    "deadline_soon",      # executor, on the morning of the day before
    "deadline_today",     # executor, on the morning of the day
    "deadline_passed",    # executor
    "transcription_failed",  # executive
    "report_submitted",   # controller, or the responsible executor for a co-executor's report
    "report_accepted",    # executor
    "report_returned",    # executor
    "extension_requested",  # controller
    "extension_decided",  # executor
    "resolution_withdrawn",  # executors whose tasks it ended
    "draft_prepared",     # executive: an assistant wrote a draft for them
    "draft_rejected",     # assistant: the executive rejected the draft they wrote
    "issued_for_you",     # executive: an assistant issued a resolution in their name
    "overdue_digest",     # controller, once a day: the tasks under control that became overdue
    "report_transcribed",  # executor: the dictated report's transcript waits to be corrected and sent
    "report_dictation_sent",  # executor: the dictated report was sent as transcribed
    "report_transcription_failed",  # executor: the dictated report's recording was not recognised
)
URGENT = {"task_assigned", "approval_requested", "deadline_passed", "report_returned"}


def outbox_values(event: str, user_id: int, document_id: int | None, **ids) -> dict:
    """The columns of one notification's outbox row, for a caller that inserts many at once."""
    return _values(event, user_id, document_id, None, ids)


def _values(event: str, user_id: int, document_id: int | None, dedup_key: str | None, ids: dict) -> dict:
    assert event in EVENTS, event
    payload = {"event": event, **({"document_id": str(document_id)} if document_id else {}),
               **{k: str(v) for k, v in ids.items()}}
    return dict(event=event, user_id=user_id, document_id=document_id, payload=payload,
                dedup_key=dedup_key, urgent=event in URGENT)


def notify(event: str, user_id: int, document_id: int | None = None, dedup_key: str | None = None,
           **ids) -> OutboxMessage:
    """Owe `user_id` a notification of `event`; ids travel in the data payload. The user's running
    deputies (domain.substitutions) are owed one too."""
    msg = OutboxMessage(**_values(event, user_id, document_id, dedup_key, ids))
    db.session.add(msg)
    _to_deputies(event, document_id, [(user_id, ids)], dedup_key)
    return msg


def notify_each(event: str, document_id: int | None, owed: list[tuple[int, dict]]) -> None:
    """Like notify, for several users at once (each with their ids), in one round trip and no ORM
    objects: an issue owes one to each of its executors."""
    now = utcnow()
    if owed:
        db.session.execute(_OWED, [{**_values(event, user_id, document_id, None, ids), "created_at": now}
                                   for user_id, ids in owed])
        _to_deputies(event, document_id, owed)


def _to_deputies(event: str, document_id: int | None, owed: list[tuple[int, dict]], dedup_key: str | None = None):
    """The same notifications for the running deputies of these users (inbox scope), each naming the
    principal (`for`): one indexed read, and a write only when someone acts for them."""
    now = utcnow()
    ids_of = dict(owed)
    deputies = db.session.execute(_DEPUTIES, {"principals": list(ids_of), "now": now}).all()
    if deputies:
        db.session.execute(_OWED, [
            {**_values(event, deputy_id, document_id, dedup_key and f"{dedup_key}:deputy:{deputy_id}",
                       {**ids_of[principal_id], "for": principal_id}), "created_at": now}
            for deputy_id, principal_id in deputies])


_DEPUTIES = sa.select(Substitution.deputy_id, Substitution.principal_id).where(
    Substitution.principal_id.in_(sa.bindparam("principals", expanding=True)), Substitution.inbox.is_(True),
    Substitution.ended_at.is_(None), Substitution.starts_at <= sa.bindparam("now", type_=Substitution.starts_at.type),
    Substitution.ends_at > sa.bindparam("now", type_=Substitution.ends_at.type))


# One notification, built once: queued now by the database's clock, as the model's defaults.
_OWED = sa.insert(OutboxMessage.__table__).values(status=QUEUED, attempts=0, available_at=db_now())


def notify_once(event: str, user_id: int, document_id: int | None, dedup_key: str, **ids) -> bool:
    """Like notify, but a second call with the same `dedup_key` does nothing; True if this one counted."""
    # ON CONFLICT DO NOTHING rather than catching IntegrityError: on PostgreSQL a failed insert
    # would abort the caller's whole transaction, and two dispatchers may scan at the same time.
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (dialect.insert(OutboxMessage).values(**_values(event, user_id, document_id, dedup_key, ids))
            .on_conflict_do_nothing(index_elements=[OutboxMessage.dedup_key]).returning(OutboxMessage.id))
    return db.session.execute(stmt).scalar() is not None
