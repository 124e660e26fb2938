"""A worker of one kind of job (a row of `jobs`): claim it, work it under its lease, record how it ended.

The transcription, documents and time-stamp workers differ in what a job is, not in how it is held,
so that part is written here once, on top of the leased-worker skeleton (workers/leased.py):

- A loop claims one job of `job_kind` at a time and runs `work` with the job's lease renewed.
- A lease lost to another worker drops our result; stopping during a database outage leaves the
  job to its lease. Neither is recorded as the job's failure.
- Any other error is a failed attempt: the job goes back to the queue after `retry_delay`, or, once
  its attempts are used up and the worker says so (`errored_out`), it ends failed.
- A job whose worker died on its last allowed attempt ends failed with the worker's `exhausted` reason.

A worker writes `work` (which records a result with `succeed`, a failure that retrying cannot mend
with `fail`, or asks for another try with `retry`), `record_failure` (what a failed job leaves in
the worker's own tables, and the text its job row keeps), `exhausted` and `retry_delay`; and
`errored_out` where errors must not end a job (the time-stamp worker asks a failing TSA again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa

from models import Job, db
from models.queue import FAILED, claim, finish, retry_later, rollback_quietly

from .leased import LeasedWorker, LeaseLost, Stopping

log = logging.getLogger(__name__)


def doubling(first_s: float, attempts: int, cap_s: float = float("inf")) -> float:
    """Seconds before the next try after `attempts` tries: `first_s`, doubling with each try, capped."""
    return min(cap_s, first_s * 2 ** min(max(attempts - 1, 0), 30))


class JobWorker(LeasedWorker):
    """Loops that take the jobs of one kind, one at a time, until stopped (or, with once=True, until none is due)."""

    noun, model = "job", Job
    job_kind: str  # the Job.kind this worker takes

    # What a worker writes.
    def work(self, job_id: int, owner: str) -> None:
        """Do the claimed job and record how it ended (`succeed`, `fail` or `retry`); an error is a failed attempt."""
        raise NotImplementedError

    def record_failure(self, job: Job, reason: str, params: dict | None) -> str:
        """Record in the worker's own tables that `job` failed for `reason`; the text for the job row."""
        raise NotImplementedError

    def exhausted(self, attempts: int) -> tuple[str, dict | None]:
        """The reason (and its params) a job ends failed with when its worker died during each attempt."""
        raise NotImplementedError

    def errored_out(self, attempts: int) -> tuple[str, dict | None] | None:
        """The reason a job ends failed with when its last allowed attempt raised; None: it is tried again."""
        return self.exhausted(attempts)

    def retry_delay(self, attempts: int) -> float:
        """Seconds before a job is tried again after `attempts` tries."""
        raise NotImplementedError

    # The skeleton's hooks.
    def where(self) -> sa.ColumnElement:
        return Job.kind == self.job_kind

    def step(self, owner: str) -> bool:
        ids = claim(Job, owner, self.settings.lease, where=self.where(), max_attempts=self.settings.max_attempts)
        if not ids:
            return False
        self.check_in(self.settings.stall_s, f"job {ids[0]}")
        self.handle(ids[0], owner)
        return True

    def give_up(self, row_ids: list[int], owner: str) -> None:
        for job_id in row_ids:
            attempts = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id))
            log.error("job %s: its worker stopped during each of %s attempts; giving up", job_id, attempts)
            self.fail(job_id, owner, *self.exhausted(attempts))

    # What `work` calls.
    def succeed(self, job_id: int, owner: str, record: Callable[[Job], object] | None = None) -> None:
        """Record the result (`record(job)`) and mark the job done, only while its lease is ours (else LeaseLost)."""
        def apply(job: Job) -> None:
            if record is not None:
                record(job)
            finish(job)

        self.persist(job_id, lambda: self.settle(job_id, owner, apply))

    def fail(self, job_id: int, owner: str, reason: str, params: dict | None = None) -> None:
        """End the job failed for `reason`; if that cannot be written, its lease runs out and it is tried again."""
        rollback_quietly()
        try:
            self.persist(job_id, lambda: self.settle(job_id, owner, lambda job: finish(
                job, FAILED, self.record_failure(job, reason, params)[:500])))
        except LeaseLost:
            log.warning("job %s: lease lost before its failure was recorded", job_id)
        except Exception:  # noqa: BLE001 - the lease runs out and the job is tried again
            rollback_quietly()
            log.exception("job %s: recording its failure failed", job_id)

    def retry(self, job_id: int, owner: str, attempts: int, error: str) -> None:
        """Give the job back to the queue, due again after `retry_delay(attempts)`, with `error` as its last."""
        delay = self.retry_delay(attempts)
        log.warning("job %s: attempt %s failed (%s); trying again in %.0f s", job_id, attempts, error, delay)
        try:
            self.persist(job_id, lambda: self.settle(
                job_id, owner, lambda job: retry_later(job, timedelta(seconds=delay), error[:500])))
        except LeaseLost:
            pass
        except Exception:  # noqa: BLE001 - the lease runs out and the job is tried again
            rollback_quietly()
            log.exception("job %s: giving it back to the queue failed", job_id)

    # The job's course.
    def handle(self, job_id: int, owner: str) -> None:
        """Run one claimed job to a result, a retry or a failure; never let it stop the worker."""
        with self.holding(job_id, owner):
            try:
                self.work(job_id, owner)
            except LeaseLost:
                log.warning("job %s: lease lost to another worker; result dropped", job_id)
            except Stopping:
                log.warning("job %s: stopping while the database is down; the job returns when its lease runs out",
                            job_id)
            except Exception as exc:  # noqa: BLE001 - a bad job must never stop the worker
                rollback_quietly()
                log.exception("job %s failed", job_id)
                self._failed_attempt(job_id, owner, exc)

    def _failed_attempt(self, job_id: int, owner: str, exc: Exception) -> None:
        try:
            attempts = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id)) or 0
        except Exception:  # noqa: BLE001
            rollback_quietly()
            log.warning("job %s: cannot read its attempts; its lease will run out", job_id)
            return
        if attempts >= self.settings.max_attempts:
            reason = self.errored_out(attempts)
            if reason is not None:
                self.fail(job_id, owner, *reason)
                return
        self.retry(job_id, owner, attempts, f"{type(exc).__name__}: {exc}")
