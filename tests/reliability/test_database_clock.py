"""Leases are timed by the database's clock: a worker whose machine clock is wrong neither steals a
live lease nor sits on due work. The worker runs as a real process under libfaketime."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain import voice
from models import Job, ProcessHeartbeat, db
from models.queue import claim
from tests.support.database import committed
from tests.support.live import FlaskCommand, wait_for
from tests.voice.conftest import AUDIO, MANIFEST, document_of, jobs, note_of, upload

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]
ROOT = Path(__file__).resolve().parents[2]
PHRASES = json.dumps(MANIFEST["phrase_list"], ensure_ascii=False)


def skewed_worker(app, faketime: str, offset: str) -> FlaskCommand:
    """The worker whose machine's wall clock is off by `offset` (its monotonic clock, for waits, is not)."""
    settings = {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "DATA_DIR": app.config["DATA_DIR"],
                "TRANSCRIPTION_POLL_S": "0.2", "TRANSCRIPTION_THREADS": "1", "VOICE_SPLIT_THREADS": "1",
                "LD_PRELOAD": faketime, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return FlaskCommand("transcription-worker", settings=settings,
                        log=Path(app.config["DATA_DIR"]).parent / f"worker{offset}.log")


def stop(worker: FlaskCommand) -> None:
    """A clean stop: SIGTERM, exit 0."""
    out = worker.stop()
    assert worker.returncode == 0, out


def test_a_worker_an_hour_ahead_does_not_steal_a_live_lease(login, app, faketime):
    exec1 = login("exec1")
    body = upload(exec1, document_of(exec1), AUDIO / "confirmed.wav", phrases=PHRASES).get_json()
    db.session.commit()
    # A worker elsewhere holds the note's job for a minute (the demo files' page jobs are no concern here).
    [job_id] = claim(Job, "a-healthy-worker", timedelta(seconds=60), where=Job.kind == voice.JOB_KIND)

    with skewed_worker(app, faketime, "+1h") as ahead:
        # It runs and polls (its loop beats), yet by the database's clock the lease has 50-odd seconds left.
        wait_for(committed(lambda: db.session.scalar(sa.select(sa.func.count()).select_from(ProcessHeartbeat)
                                                     .where(ProcessHeartbeat.kind == "worker")) > 1),
                 90, "the worker to run")
        time.sleep(3)
        db.session.rollback()
        job = db.session.get(Job, job_id)
        assert (job.lease_owner, job.attempts, job.status) == ("a-healthy-worker", 1, "running")
        assert note_of(body["resolution_id"]).status == "queued"
        stop(ahead)


def test_a_worker_an_hour_behind_takes_due_work_at_once(login, app, faketime):
    exec1 = login("exec1")
    assert upload(exec1, document_of(exec1), AUDIO / "confirmed.wav", phrases=PHRASES).status_code == 202
    db.session.commit()

    with skewed_worker(app, faketime, "-1h") as behind:
        # The job is due now by the database's clock; the worker's own clock would say in an hour.
        # (Only the claim is watched, by its count: libfaketime breaks time.sleep, which recognition may
        # use, so an attempt may fail within milliseconds and be queued again before a poll sees it running.)
        wait_for(committed(lambda: jobs()[0].attempts >= 1), 90, "the job to be taken")
        stop(behind)
