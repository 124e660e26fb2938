"""The time-stamp worker: attaches a TSA's token to each signature the TSA did not time-stamp in time.

A signature request asks the TSA for at most TSA_TIMEOUT_S; when the TSA is down or slow the signature
is kept as CAdES-BES and a `signature.timestamp` job is queued in the same transaction. This worker
claims those jobs as leases (workers/leased.py: kill -9 safe, database-outage safe), asks the TSA
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
import sqlalchemy as sa
from flask import Flask, current_app

from domain import signatures
from models import Job, db
from models.queue import FAILED, claim, finish, retry_later, rollback_quietly
from models.signing import Signature
from signing import cms
from signing.timestamp import TimestampError
from workers.leased import LeasedWorker, LeaseLost, LoopSettings, Stopping

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
    return min(settings.retry_max_s, settings.retry_s * 2 ** min(max(attempts - 1, 0), 30))


class Worker(LeasedWorker):
    """Loops that drain the time-stamp jobs until stopped (or, with once=True, until none is due)."""

    kind, role, noun, model = "timestamps", "timestamp", "job", Job

    def __init__(self, settings: Settings, name: str | None = None, app: Flask | None = None) -> None:
        super().__init__(settings, name or f"timestamps@{socket.gethostname()}:{os.getpid()}", app)

    def where(self) -> sa.ColumnElement:
        return Job.kind == signatures.TIMESTAMP_JOB

    def step(self, owner: str) -> bool:
        ids = claim(Job, owner, self.settings.lease, where=self.where(), max_attempts=self.settings.max_attempts)
        if not ids:
            return False
        self.check_in(self.settings.stall_s, f"job {ids[0]}")
        self._handle(ids[0], owner)
        return True

    def give_up(self, row_ids: list[int], owner: str) -> None:
        for job_id in row_ids:
            log.error("job %s: its worker stopped during its last allowed attempt; giving up", job_id)
            try:
                self.persist(job_id, lambda: self.settle(job_id, owner, lambda job: finish(
                    job, FAILED, "the time-stamp worker stopped during each attempt")))
            except LeaseLost:
                pass

    def _handle(self, job_id: int, owner: str) -> None:
        with self.holding(job_id, owner):
            try:
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
                    self.persist(job_id, lambda: self.settle(job_id, owner, finish))
                    return
                try:
                    token = signatures.fetch_timestamp(found["p7s"], found["signer"], self.settings.timeout_s)
                except TimestampError as error:
                    self._retry(job_id, owner, found["attempts"], error.detail)
                    return
                self.persist(job_id, lambda: self.settle(job_id, owner, lambda job: (
                    signatures.attach_timestamp(found["signature"], token), finish(job))))
                log.info("job %s: signature %s time-stamped at %s", job_id, found["signature"],
                         token.gen_time.isoformat())
            except LeaseLost:
                log.warning("job %s: lease lost to another worker; result dropped", job_id)
            except Stopping:
                log.warning("job %s: stopping while the database is down; the job returns when its lease runs out",
                            job_id)
            except Exception as exc:  # noqa: BLE001 - a bad job must never stop the worker
                rollback_quietly()
                log.exception("job %s failed", job_id)
                self._retry(job_id, owner, found.get("attempts", 1), f"{type(exc).__name__}: {exc}")

    def _retry(self, job_id: int, owner: str, attempts: int, error: str) -> None:
        delay = retry_delay(attempts, self.settings)
        log.warning("job %s: no time-stamp (%s); asking again in %.0f s", job_id, error, delay)
        try:
            self.persist(job_id, lambda: self.settle(
                job_id, owner, lambda job: retry_later(job, timedelta(seconds=delay), error[:500])))
        except LeaseLost:
            pass
        except Exception:  # noqa: BLE001 - the lease runs out and the job is tried again
            rollback_quietly()
            log.exception("job %s: giving it back to the queue failed", job_id)


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
