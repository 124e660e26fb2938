"""What every sender takes and returns, whatever it sends through."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from firebase_admin import messaging


class Outcome(StrEnum):
    """What the caller should do with one message after a send."""

    DELIVERED = "delivered"
    DROP_TOKEN = "drop_token"  # the token is dead: delete the device
    RETRY = "retry"  # transient: try again after backoff_delay()
    AUTH_ERROR = "auth_error"  # our credentials (or the APNs key) are wrong: retry later
    FAILED = "failed"  # the message itself was rejected: retrying cannot help


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One built message for one device, with the caller's reference to echo back."""

    device_id: str
    message: messaging.Message
    ref: str = ""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one OutgoingMessage."""

    outgoing: OutgoingMessage
    outcome: Outcome
    message_id: str | None = None
    retry_after: float | None = None
    error: str | None = None


class Sender(Protocol):
    """Sends messages and returns one result per message, in the same order."""

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        """Send the messages; never raises for a per-message failure."""
        ...
