"""`flask --app wsgi push-dispatcher [--once]`: the push process of the Procfile."""

from __future__ import annotations

import signal
from pathlib import Path

import click
from flask import Flask, current_app

from domain.errors import ConfigError
from push.dispatcher import Dispatcher, Settings
from push.fcm import FcmSender
from push.log_sender import LogSender
from push.sender import Sender


def make_sender(config) -> Sender:
    """The FCM sender from FIREBASE_CREDENTIALS, or the log sender for the embedded run."""
    path = config.get("FIREBASE_CREDENTIALS")
    if not path:
        if config["APP_ENV"] == "production":
            raise ConfigError("APP_ENV=production needs FIREBASE_CREDENTIALS: the path of the Firebase "
                              "service-account JSON (Firebase console > Project settings > Service accounts)")
        return LogSender()  # announces itself in the log: nothing reaches a phone
    if not Path(path).is_file():
        raise ConfigError(f"FIREBASE_CREDENTIALS names no readable file: {path}")
    try:
        return FcmSender.from_credentials(path, endpoint=config.get("FCM_ENDPOINT"),
                                          batch_size=config["PUSH_BATCH_SIZE"])
    except ValueError as error:  # the SDK's word for a malformed service-account file
        raise ConfigError(f"FIREBASE_CREDENTIALS is not a usable service-account JSON: {error}") from None


def register(app: Flask) -> None:
    @app.cli.command("push-dispatcher")
    @click.option("--once", is_flag=True, help="send what is due now, then exit")
    def push_dispatcher(once: bool) -> None:
        """Send the outbox to phones through Firebase Cloud Messaging."""
        try:
            sender = make_sender(current_app.config)
        except ConfigError as error:
            raise click.ClickException(str(error)) from None
        dispatcher = Dispatcher(sender, Settings.from_config(current_app.config))
        # SIGTERM (a deploy, `kill`) finishes the batch in flight and stops between batches.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: dispatcher.stop())
        try:
            dispatcher.run(once=once)
        finally:
            if isinstance(sender, FcmSender):
                sender.close()
