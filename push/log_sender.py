"""A sender that writes messages to the log: the embedded run, which has no FCM credentials."""

from __future__ import annotations

import itertools
import logging

from push.sender import Outcome, OutgoingMessage, SendResult

log = logging.getLogger(__name__)


class LogSender:
    """Logs each message instead of sending it, and reports it delivered."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        log.warning("push: no FCM credentials configured; notifications go to the log, not phones")

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        """Log every message; all are 'delivered'."""
        results = []
        for outgoing in messages:
            message = outgoing.message
            notification = message.notification
            log.info(
                "push (log only) to device %s: %s / %s data=%s",
                outgoing.device_id,
                notification.title if notification else None,
                notification.body if notification else None,
                message.data,
            )
            message_id = f"log-{next(self._ids)}"
            results.append(SendResult(outgoing, Outcome.DELIVERED, message_id=message_id))
        return results
