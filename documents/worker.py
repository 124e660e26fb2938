"""The documents worker: claims page jobs as leases, converts each file in a child process, records the result.

The loops, their supervisor (lease renewal, heartbeats for /readyz), the reaping of jobs whose worker
died on each attempt, retries and the waiting out of a database outage are the job worker's
(workers/jobs.py, on workers/leased.py). This module says what a job is: one stored file to turn into page images and
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

from flask import Flask

from domain import pages
from models import Job, Rendition, db
from models.blobstore import BlobNotFound, blobs
from workers.jobs import JobWorker, doubling
from workers.leased import LoopSettings

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


def convert_stored(sha256: str, kind: str, out: str, limits: Limits) -> dict:
    """Convert the stored file `sha256` (run_converter); Refused when it is missing or the converter refused it."""
    try:
        path = str(blobs().local_path(sha256))
    except BlobNotFound:
        raise Refused("missing") from None
    result = run_converter(path, kind, out, limits)
    if "refused" in result:
        raise Refused(result["refused"], **(result.get("params") or {}))
    return result


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


class Worker(JobWorker):
    """Loops that drain the documents queue until stopped (or, with once=True, until it is empty)."""

    kind, role, channel, job_kind = "worker", "pages", pages.CHANNEL, pages.JOB_KIND

    def __init__(self, app: Flask, settings: Settings, name: str | None = None) -> None:
        super().__init__(settings, name or f"documents@{socket.gethostname()}:{os.getpid()}", app)

    def work(self, job_id: int, owner: str) -> None:
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
                result = convert_stored(started["sha256"], started["kind"], out, self.settings.limits)
            except Refused as refused:  # the file itself: trying again cannot help
                log.info("job %s: refused: %s %s", job_id, refused.reason, refused.params)
                self.fail(job_id, owner, refused.reason, refused.params)
                return
            recorded, text_sha = store(result, out)
            self.succeed(job_id, owner, lambda job: pages.record_ready(job.payload["rendition_id"], recorded, text_sha))
            log.info("job %s: %d page(s), %d read by OCR", job_id, len(recorded), result.get("ocr_pages", 0))
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def record_failure(self, job: Job, reason: str, params: dict | None) -> str:
        pages.record_failure(job.payload["rendition_id"], reason, params)
        return pages.reason_text(reason, params, "en")

    def exhausted(self, attempts: int) -> tuple[str, dict]:
        return "gave_up", {"attempts": attempts}

    def retry_delay(self, attempts: int) -> float:
        return doubling(self.settings.backoff_s, attempts)
