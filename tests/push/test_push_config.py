"""Choosing the sender from configuration, the dispatcher's start-up, and quiet-hours arithmetic."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from mobile_api.config import ConfigError
from push.cli import make_sender
from push.fcm import FcmSender
from push.log_sender import LogSender
from push.quiet import quiet_until

BASE = {"APP_ENV": "development", "FIREBASE_CREDENTIALS": None, "FCM_ENDPOINT": None, "PUSH_BATCH_SIZE": 500}


def test_embedded_run_without_credentials_logs_instead_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        sender = make_sender(BASE)
    assert isinstance(sender, LogSender)
    assert "notifications go to the log" in caplog.text


def test_production_without_credentials_refuses_to_start():
    with pytest.raises(ConfigError, match="APP_ENV=production needs FIREBASE_CREDENTIALS"):
        make_sender({**BASE, "APP_ENV": "production"})


def test_credentials_that_are_not_a_file_are_named(tmp_path):
    with pytest.raises(ConfigError, match="names no readable file"):
        make_sender({**BASE, "FIREBASE_CREDENTIALS": str(tmp_path / "missing.json")})
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "authorized_user"}')
    with pytest.raises(ConfigError, match="not a usable service-account JSON"):
        make_sender({**BASE, "FIREBASE_CREDENTIALS": str(bad)})


def test_credentials_and_endpoint_make_the_fcm_sender(credentials_path, fake_fcm):
    sender = make_sender({**BASE, "APP_ENV": "production", "FIREBASE_CREDENTIALS": str(credentials_path),
                          "FCM_ENDPOINT": fake_fcm.url, "PUSH_BATCH_SIZE": 100})
    try:
        assert isinstance(sender, FcmSender) and sender.batch_size == 100
    finally:
        sender.close()


def test_cli_stops_with_a_clear_error_in_production_without_credentials(app):
    app.config.update(APP_ENV="production", FIREBASE_CREDENTIALS=None)
    result = app.test_cli_runner().invoke(args=["push-dispatcher", "--once"])
    assert result.exit_code == 1
    assert "Error: APP_ENV=production needs FIREBASE_CREDENTIALS" in result.output


def test_cli_once_in_the_embedded_run_sends_to_the_log_and_leaves_cleanly(app, demo, client):
    import sqlalchemy as sa

    from models import OutboxMessage, ProcessHeartbeat, db

    result = app.test_cli_runner().invoke(args=["push-dispatcher", "--once"])
    assert result.exit_code == 0, result.output
    assert set(db.session.scalars(sa.select(OutboxMessage.status))) <= {"done"}
    # A clean exit takes its heartbeats along: /readyz says no dispatcher runs, not that one hangs.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProcessHeartbeat)) == 0
    assert "push not seen recently" in client.get("/readyz").get_json()["detail"]


MOSCOW = "Europe/Moscow"  # UTC+3, no DST


@pytest.mark.parametrize(("now", "window", "until"), [
    ("2026-11-25T20:00Z", ("22:00", "07:00"), "2026-11-26T04:00Z"),  # 23:00 local: until 07:00 tomorrow
    ("2026-11-25T18:00Z", ("22:00", "07:00"), None),  # 21:00 local: not yet
    ("2026-11-25T19:00Z", ("22:00", "07:00"), "2026-11-26T04:00Z"),  # 22:00 local: until 07:00 tomorrow
    ("2026-11-26T02:30Z", ("22:00", "07:00"), "2026-11-26T04:00Z"),  # 05:30 local: until 07:00 today
    ("2026-11-26T04:00Z", ("22:00", "07:00"), None),  # 07:00 local: over
    ("2026-11-25T10:30Z", ("13:00", "14:00"), "2026-11-25T11:00Z"),  # lunch 13:30 local
    ("2026-11-25T10:30Z", (None, None), None),
    ("2026-11-25T10:30Z", ("13:00", "13:00"), None),
])
def test_quiet_until(now, window, until):
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    assert quiet_until(parse(now), *window, MOSCOW) == (parse(until) if until else None)


def test_quiet_hours_end_follows_the_wall_clock_across_a_dst_change():
    # Night of 2026-03-29 in Berlin: clocks go from 02:00 to 03:00, so 07:00 is 05:00Z, not 06:00Z.
    now = datetime(2026, 3, 28, 22, 30, tzinfo=timezone.utc)  # 23:30 CET
    assert quiet_until(now, "23:00", "07:00", "Europe/Berlin") == datetime(2026, 3, 29, 5, 0, tzinfo=timezone.utc)


def test_unknown_time_zone_falls_back_to_utc():
    now = datetime(2026, 11, 25, 23, 0, tzinfo=timezone.utc)
    assert quiet_until(now, "22:00", "07:00", "Mars/Olympus") == datetime(2026, 11, 26, 7, 0, tzinfo=timezone.utc)
