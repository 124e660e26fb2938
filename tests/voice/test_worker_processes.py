"""The worker as real processes on PostgreSQL: SIGKILL mid-job loses nothing, workers never share a job,
and a recording whose worker dies on every attempt ends failed instead of being retried forever."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import InboxItem, Job, OutboxMessage, Resolution, db
from tests.support.database import committed
from tests.support.live import FlaskCommand, wait_for
from transcription.worker import Settings, Worker

from .conftest import AUDIO, MANIFEST, document_of, jobs, note_of, upload

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]
ROOT = Path(__file__).resolve().parents[2]
PHRASES = __import__("json").dumps(MANIFEST["phrase_list"], ensure_ascii=False)


def _worker_process(app, *args: str, **settings: str) -> FlaskCommand:
    """`flask --app wsgi transcription-worker` on the test database, with a short lease."""
    settings = {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "DATA_DIR": app.config["DATA_DIR"],
                "TRANSCRIPTION_LEASE_S": "2", "TRANSCRIPTION_POLL_S": "0.2", "TRANSCRIPTION_THREADS": "1",
                "VOICE_SPLIT_THREADS": "1", **settings}  # one slow single pass: plenty of time to kill it mid-job
    return FlaskCommand("transcription-worker", *args, settings=settings)


def test_a_worker_killed_mid_job_loses_nothing(login, app, demo):
    exec1 = login("exec1")
    body = upload(exec1, document_of(exec1), AUDIO / "dictation_long.wav").get_json()  # free mode: seconds of work
    note_id = int(body["voice_note_id"])
    db.session.commit()

    with _worker_process(app) as first:
        wait_for(committed(lambda: note_of(body["resolution_id"]).status == "processing"), 60,
                 "the first worker to start")
        time.sleep(0.5)
        first.stop(signal.SIGKILL, 10)
    job = jobs()[0]
    assert (job.status, job.attempts, note_of(body["resolution_id"]).status) == ("running", 1, "processing")

    with _worker_process(app) as second:
        wait_for(committed(lambda: note_of(body["resolution_id"]).status == "transcribed"), 90,
                 "the job to be taken again")
        out = second.stop(signal.SIGTERM, 30)  # a clean stop: exit 0
        assert second.returncode == 0, out
    job = jobs()[0]
    assert (job.status, job.attempts, job.lease_owner) == ("done", 2, None)
    assert db.session.get(Resolution, int(body["resolution_id"])).status == "awaiting_review"
    # Exactly once: one review request, one inbox line.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.event == "review_requested")) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboxItem)
                             .where(InboxItem.kind == "review", InboxItem.user_id == demo["assistant1"].id)) == 1
    assert note_of(body["resolution_id"]).id == note_id and note_of(body["resolution_id"]).words


def test_two_workers_never_take_the_same_job(login, app, models):
    exec1 = login("exec1")
    doc = document_of(exec1)
    count = 12
    for _ in range(count):
        assert upload(exec1, doc, AUDIO / "confirmed.wav", phrases=PHRASES).status_code == 202
    db.session.commit()
    workers = [Worker(app, models, Settings.from_config(app.config, threads=2), name=f"w{i}") for i in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    db.session.expire_all()
    assert sum(w.handled for w in workers) == count and all(w.handled for w in workers)
    assert [(j.status, j.attempts) for j in jobs()] == [("done", 1)] * count
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.event == "review_requested")) == count
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.lease_owner.is_not(None))) == 0


def test_a_recording_whose_worker_dies_every_time_ends_failed_with_a_reason(login, app, demo):
    exec1 = login("exec1")
    body = upload(exec1, document_of(exec1), AUDIO / "dictation_long.wav").get_json()
    db.session.commit()
    for attempt in (1, 2):  # TRANSCRIPTION_MAX_ATTEMPTS=2: the worker dies on both
        with _worker_process(app, TRANSCRIPTION_MAX_ATTEMPTS="2") as doomed:
            try:
                wait_for(committed(lambda: jobs()[0].attempts == attempt
                                   and note_of(body["resolution_id"]).status == "processing"),
                         60, f"attempt {attempt} to start")
                time.sleep(0.3)
            finally:
                doomed.stop(signal.SIGKILL, 10)
    assert (jobs()[0].status, jobs()[0].attempts) == ("running", 2)

    with _worker_process(app, TRANSCRIPTION_MAX_ATTEMPTS="2") as survivor:
        # Its lease runs out (by the database's clock) and the job is not tried a third time.
        wait_for(committed(lambda: note_of(body["resolution_id"]).status == "failed"), 60, "the job to be given up")
        out = survivor.stop(signal.SIGTERM, 30)
        assert survivor.returncode == 0, out
    job = jobs()[0]
    assert (job.status, job.attempts, job.lease_owner) == ("failed", 2, None)
    note = note_of(body["resolution_id"])
    assert "stopped while working on it 2 times" in note.error and not note.words
    assert db.session.get(Resolution, int(body["resolution_id"])).status == "failed"
    # Its author is told, once, and sees the reason on the voice note.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.event == "transcription_failed")) == 1
    shown = exec1.get(f"/voice-notes/{note.id}").get_json()
    assert "record it again" in str(shown)


def test_the_web_process_does_not_load_the_speech_recogniser(database_url):
    """Vosk's native library is the transcription worker's: a web worker that loaded it would carry
    it in memory for nothing (8 MB a worker, measured)."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, wsgi; print('vosk' in sys.modules)"], cwd=ROOT,
                            env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True,
                            check=True).stdout.split()[-1]
    assert loaded == "False"
