"""The log sender: the embedded run's stand-in for FCM."""

from __future__ import annotations

import logging

from push.log_sender import LogSender
from push.messages import Event, build_message
from push.sender import Outcome, OutgoingMessage


def test_announces_itself_and_logs_each_message(caplog):
    caplog.set_level(logging.INFO, logger="push.log_sender")
    sender = LogSender()
    message = build_message("t", "android", "ru", Event.TASK_ASSIGNED, {"document_id": "d1"}, 0)

    [result] = sender.send([OutgoingMessage("device-1", message)])

    assert result.outcome is Outcome.DELIVERED
    assert result.message_id == "log-1"
    warning, info = caplog.records
    assert warning.levelno == logging.WARNING and "not phones" in warning.getMessage()
    assert "device-1" in info.getMessage() and "Новое поручение" in info.getMessage()
