"""The time-stamp worker: attaches a TSA's token to each signature the TSA did not time-stamp in time.

A signature request asks the TSA for at most TSA_TIMEOUT_S; when the TSA is down or slow the signature
is kept as CAdES-BES and a `signature.timestamp` job is queued in the same transaction. This worker
claims those jobs as leases (workers/jobs.py: kill -9 safe, database-outage safe), asks the TSA
outside any transaction, and attaches a checked token while its lease is still ours. A failed try
goes back to the queue, doubling from TSA_RETRY_S up to TSA_RETRY_MAX_S, until the token is attached.

It is a process of its own (`flask --app wsgi timestamp-worker`, the Procfile's `timestamp`): the
transcription loops can be busy for minutes with one long recording, and a deployment without speech
recognition must still get its signatures time-stamped.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass
from datetime import timedelta

import click
from flask import Flask, current_app

from domain import signatures
from models import Job, db
from models.signing import Signature
from signing import cms
from signing.timestamp import TimestampError
from workers.jobs import JobWorker, doubling
from workers.leased import LoopSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Settings(LoopSettings):
    retry_s: float = 5.0
    retry_max_s: float = 300.0
    timeout_s: float = 10.0

    @classmethod
    def from_config(cls, cfg) -> Settings:
        return cls(lease=timedelta(seconds=cfg["TSA_LEASE_S"]), max_attempts=max(1, cfg["TSA_MAX_ATTEMPTS"]),
                   poll_s=cfg["TSA_POLL_S"], retry_s=cfg["TSA_RETRY_S"], retry_max_s=cfg["TSA_RETRY_MAX_S"],
                   # Off the request path the TSA may take longer, but within the lease.
                   timeout_s=min(max(cfg["TSA_TIMEOUT_S"], 10.0), cfg["TSA_LEASE_S"] / 3),
                   silence_s=cfg.get("READY_LOOP_SILENCE_S", 15))


def retry_delay(attempts: int, settings: Settings) -> float:
    """Seconds before the next try after `attempts` tries: doubling from retry_s, capped at retry_max_s."""
    return doubling(settings.retry_s, attempts, settings.retry_max_s)


class Worker(JobWorker):
    """Loops that drain the time-stamp jobs until stopped (or, with once=True, until none is due)."""

    kind, role, job_kind = "timestamps", "timestamp", signatures.TIMESTAMP_JOB

    def __init__(self, settings: Settings, name: str | None = None, app: Flask | None = None) -> None:
        super().__init__(settings, name or f"timestamps@{socket.gethostname()}:{os.getpid()}", app)

    def work(self, job_id: int, owner: str) -> None:
        found: dict = {}

        def read() -> None:
            job = db.session.get(Job, job_id)
            signature = db.session.get(Signature, job.payload.get("signature_id"))
            found.update(attempts=job.attempts, signature=signature and signature.id,
                         p7s=signature and signature.p7s,
                         signer=signature and signatures.certificate(signature.key))
            db.session.commit()

        self.persist(job_id, read)
        if found["signature"] is None or cms.timestamp_token(found["p7s"]) is not None:
            self.succeed(job_id, owner)
            return
        try:
            token = signatures.fetch_timestamp(found["p7s"], found["signer"], self.settings.timeout_s)
        except TimestampError as error:
            self.retry(job_id, owner, found["attempts"], error.detail)
            return
        self.succeed(job_id, owner, lambda job: signatures.attach_timestamp(found["signature"], token))
        log.info("job %s: signature %s time-stamped at %s", job_id, found["signature"], token.gen_time.isoformat())

    def record_failure(self, job: Job, reason: str, params: dict | None) -> str:
        return reason  # the signature stays CAdES-BES: nothing of its own to record

    def exhausted(self, attempts: int) -> tuple[str, None]:
        return "the time-stamp worker stopped during each attempt", None

    def errored_out(self, attempts: int) -> None:
        return None  # a TSA that fails is asked again until the token is attached

    def retry_delay(self, attempts: int) -> float:
        return retry_delay(attempts, self.settings)


def register(app: Flask) -> None:
    @app.cli.command("timestamp-worker")
    @click.option("--once", is_flag=True, help="attach what is due now, then exit")
    def timestamp_worker(once: bool) -> None:
        """Ask the TSA again for the signatures it did not time-stamp in time (CAdES-T)."""
        if not current_app.config.get("TSA_URL"):
            click.echo("TSA_URL is not set: signatures are not time-stamped; nothing to do.")
            if once:
                return
        worker = Worker(Settings.from_config(current_app.config))
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        worker.run(once=once)
