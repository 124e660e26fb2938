"""The documents worker: claims page jobs as leases, converts each file in a child process, records the result.

The loops, their supervisor (lease renewal, heartbeats for /readyz), the reaping of jobs whose worker
died on each attempt and the waiting out of a database outage are the leased-worker skeleton's
(workers/leased.py). This module says what a job is: one stored file to turn into page images and
text (documents/convert.py, in a child process of its own: a file that hangs or crashes a tool costs
that child; the child is killed at the conversion's time limit), and what a clerk reads when it fails.
Page images and the text go to the blob store first; the rendition is recorded, and its documents
indexed again for search, only while the lease is still ours.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from domain import pages
from models import Job, Rendition, db
from models.blobstore import BlobNotFound, blobs
from models.queue import FAILED, claim, finish, retry_later, rollback_quietly
from workers.leased import LeasedWorker, LeaseLost, LoopSettings, Stopping

from .convert import Limits, convert, job_file
from .formats import Refused

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class Settings(LoopSettings):
    """The worker's part of the app configuration."""

    backoff_s: float = 15.0
    limits: Limits = field(default_factory=Limits)
    stall_s: float = 660.0

    @classmethod
    def from_config(cls, cfg, threads: int | None = None) -> Settings:
        limits = Limits(max_bytes=cfg["DOCUMENTS_MAX_BYTES"], max_pages=cfg["DOCUMENTS_MAX_PAGES"],
                        max_pixels=cfg["DOCUMENTS_MAX_PIXELS"], timeout_s=float(cfg["DOCUMENTS_TIMEOUT_S"]),
                        tool_timeout_s=float(min(cfg["DOCUMENTS_TIMEOUT_S"], 180)),
                        memory_mb=cfg["DOCUMENTS_MEMORY_MB"],
                        widths=sorted({int(w) for w in cfg["DOCUMENTS_WIDTHS"].split(",") if w.strip()}),
                        languages=cfg["DOCUMENTS_OCR_LANGUAGES"])
        return cls(threads=max(1, threads or cfg["DOCUMENTS_THREADS"]),
                   lease=timedelta(seconds=cfg["DOCUMENTS_LEASE_S"]),
                   max_attempts=max(1, cfg["DOCUMENTS_MAX_ATTEMPTS"]), backoff_s=cfg["DOCUMENTS_BACKOFF_S"],
                   poll_s=cfg["DOCUMENTS_POLL_S"], limits=limits, stall_s=limits.timeout_s + 60,
                   silence_s=cfg.get("READY_LOOP_SILENCE_S", 15))


class ConverterFailed(Exception):
    """The converter child crashed or was killed (not a refusal): the attempt counts, the job is retried."""


def run_converter(path: str, kind: str, out: str, limits: Limits) -> dict:
    """Convert one file in a child process under `limits`; the result (or refusal) it wrote.

    The child is a session of its own, killed with everything it started when the time is up."""
    if kind == "txt":  # decoding text runs no tool and no image decoder: no child needed
        try:
            return convert(path, kind, out, limits)
        except Refused as refused:
            return {"refused": refused.reason, "params": refused.params}
    job = job_file(path, kind, out, limits)
    child = subprocess.Popen([sys.executable, "-m", "documents.convert", job], cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = child.communicate(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill(child)
        raise Refused("too_slow", limit_s=int(limits.timeout_s)) from None
    finally:
        if child.poll() is None:
            _kill(child)
    _kill_group(child.pid)  # a tool the child left behind
    result = os.path.join(out, "result.json")
    if child.returncode != 0 or not os.path.exists(result):
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
        raise ConverterFailed(f"converter ended with status {child.returncode}: {' '.join(tail)[:300]}")
    with open(result, encoding="utf-8") as f:
        return json.load(f)


def _kill(child: subprocess.Popen) -> None:
    _kill_group(child.pid)
    child.kill()
    child.wait()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def store(result: dict, out: str) -> tuple[list[dict], str]:
    """Put the page images and the text in the blob store: the pages as recorded, and the text's blob."""
    store_ = blobs()
    recorded = []
    for page in result["pages"]:
        images = {}
        for width, name in page["files"].items():
            with open(os.path.join(out, name), "rb") as f:
                images[str(width)] = store_.put(f)[0]
        kind = "image/webp" if next(iter(page["files"].values())).endswith(".webp") else "image/png"
        recorded.append({"n": page["n"], "width": page["width"], "height": page["height"], "type": kind,
                         "images": images})
    with open(os.path.join(out, result["text"]), "rb") as f:
        text_sha = store_.put(f)[0]
    return recorded, text_sha


class Worker(LeasedWorker):
    """Loops that drain the documents queue until stopped (or, with once=True, until it is empty)."""

    kind, role, noun, model, channel = "worker", "pages", "job", Job, pages.CHANNEL

    def __init__(self, app: Flask, settings: Settings, name: str | None = None) -> None:
        super().__init__(settings, name or f"documents@{socket.gethostname()}:{os.getpid()}", app)

    def where(self) -> sa.ColumnElement:
        return Job.kind == pages.JOB_KIND

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
            self._fail(job_id, owner, "gave_up", {"attempts": attempts})

    def _handle(self, job_id: int, owner: str) -> None:
        """Run one claimed job to a result, a retry or a failure; never let it stop the worker."""
        with self.holding(job_id, owner):
            out = tempfile.mkdtemp(prefix="pages-")
            try:
                started: dict = {}

                def begin() -> None:
                    job = db.session.get(Job, job_id)
                    rendition = db.session.get(Rendition, job.payload["rendition_id"])
                    started.update(sha256=rendition.sha256, kind=job.payload["kind"], attempts=job.attempts)
                    db.session.commit()

                self.persist(job_id, begin)
                log.info("job %s: preparing %s %s (attempt %s)", job_id, started["kind"], started["sha256"][:12],
                         started["attempts"])
                try:
                    path = str(blobs().local_path(started["sha256"]))
                except BlobNotFound:
                    raise Refused("missing") from None
                result = run_converter(path, started["kind"], out, self.settings.limits)
                if "refused" in result:
                    raise Refused(result["refused"], **(result.get("params") or {}))
                recorded, text_sha = store(result, out)
                self.persist(job_id, lambda: self.settle(job_id, owner, lambda job: (
                    pages.record_ready(job.payload["rendition_id"], recorded, text_sha), finish(job))))
                log.info("job %s: %d page(s), %d read by OCR", job_id, len(recorded), result.get("ocr_pages", 0))
            except LeaseLost:
                log.warning("job %s: lease lost to another worker; result dropped", job_id)
            except Stopping:
                log.warning("job %s: stopping while the database is down; the job returns when its lease runs out",
                            job_id)
            except Refused as refused:  # the file itself: trying again cannot help
                log.info("job %s: refused: %s %s", job_id, refused.reason, refused.params)
                self._fail(job_id, owner, refused.reason, refused.params)
            except Exception as exc:  # noqa: BLE001 - a bad job must never stop the worker
                rollback_quietly()
                log.exception("job %s failed", job_id)
                self._failed_attempt(job_id, owner, exc)
            finally:
                shutil.rmtree(out, ignore_errors=True)

    def _fail(self, job_id: int, owner: str, reason: str, params: dict | None) -> None:
        rollback_quietly()
        text = pages.reason_text(reason, params, "en")
        try:
            self.persist(job_id, lambda: self.settle(job_id, owner, lambda job: (
                pages.record_failure(job.payload["rendition_id"], reason, params),
                finish(job, FAILED, text[:500]))))
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
            self._fail(job_id, owner, "gave_up", {"attempts": attempts})
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
