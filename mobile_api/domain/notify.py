"""Notifications owed to people, written to the outbox in the caller's transaction.

The push dispatcher sends them; writing them here, next to the change that causes them,
means a notification exists if and only if its cause was committed.
"""
from models import OutboxMessage, db

EVENTS = (
    "task_assigned",      # executor
    "review_requested",   # assistant: a transcript is ready for review
    "draft_reviewed",     # executive: the assistant handed the draft back
    "approval_requested", # approver
    "task_completed",     # author of the resolution
    "deadline_soon",      # executor, 24 hours before
    "deadline_passed",    # executor
    "transcription_failed",  # executive
)
URGENT = {"task_assigned", "approval_requested", "deadline_passed"}


def notify(event: str, user_id: int, document_id: int | None = None, dedup_key: str | None = None, **ids) -> OutboxMessage:
    """Owe `user_id` a notification of `event`; ids travel in the data payload."""
    assert event in EVENTS, event
    payload = {"event": event, **({"document_id": str(document_id)} if document_id else {}),
               **{k: str(v) for k, v in ids.items()}}
    msg = OutboxMessage(event=event, user_id=user_id, document_id=document_id, payload=payload,
                        dedup_key=dedup_key, urgent=event in URGENT)
    db.session.add(msg)
    return msg
