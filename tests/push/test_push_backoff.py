"""Backoff timing and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import datetime, timezone

from push.backoff import backoff_delay, parse_retry_after


def test_full_jitter_stays_under_the_exponential_ceiling():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 64.0)]:
        delays = [backoff_delay(attempt, rng=rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spans the range, not a fixed point


def test_cap():
    rng = random.Random(1)
    assert all(backoff_delay(50, cap=30, rng=rng) <= 30 for _ in range(100))


def test_retry_after_is_a_floor_even_above_the_cap():
    assert backoff_delay(1, retry_after=90, cap=30) == 90


def test_parse_retry_after():
    now = datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 25 Nov 2026 09:31:00 GMT", now=now) == 60
    assert parse_retry_after("Wed, 25 Nov 2026 09:00:00 GMT", now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
