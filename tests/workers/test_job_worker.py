"""The job worker base on its own, with a job kind of the test's: what a job ends as after a result, a refusal,
failed attempts, a lost lease, or a worker that died on each attempt; and a NOTIFY waking it. The real workers' tests
run it with their own work (tests/voice, tests/documents, tests/approvals/test_timestamps.py)."""

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from models import Job, db, utcnow
from models.queue import read_db_now
from workers.jobs import JobWorker, doubling
from workers.leased import LoopSettings

KIND = "test.job"


class Toy(JobWorker):
    """Does what each job's payload says; records failures in `failed`."""

    kind, role, job_kind, channel = "test", "toy", KIND, "test_jobs"

    def __init__(self, app, retries_forever: bool = False, poll_s: float = 1.0) -> None:
        super().__init__(LoopSettings(max_attempts=3, poll_s=poll_s), "toy-worker", app)
        self.retries_forever = retries_forever
        self.failed: list[tuple[int, str, dict | None]] = []

    def work(self, job_id: int, owner: str) -> None:
        do = db.session.get(Job, job_id).payload["do"]
        db.session.commit()
        if do == "succeed":
            self.succeed(job_id, owner, lambda job: setattr(job, "payload", {**job.payload, "done": True}))
        elif do == "refuse":
            self.fail(job_id, owner, "refused", {"why": "bad input"})
        elif do == "lose the lease":
            db.session.execute(sa.update(Job).where(Job.id == job_id).values(lease_owner="someone else"))
            db.session.commit()
            self.succeed(job_id, owner)
        else:
            raise ValueError("broken")

    def record_failure(self, job: Job, reason: str, params: dict | None) -> str:
        self.failed.append((job.id, reason, params))
        return f"failed: {reason}"

    def exhausted(self, attempts: int) -> tuple[str, None]:
        return f"died {attempts} times", None

    def errored_out(self, attempts: int) -> tuple[str, None] | None:
        return None if self.retries_forever else (f"errors {attempts} times", None)

    def retry_delay(self, attempts: int) -> float:
        return doubling(100, attempts)


def add(do: str, **columns) -> int:
    job = Job(kind=KIND, payload={"do": do}, **columns)
    db.session.add(job)
    db.session.commit()
    return job.id


def job(job_id: int) -> Job:
    db.session.expire_all()
    return db.session.get(Job, job_id)


def test_a_result_is_recorded_and_the_job_is_done(app):
    job_id = add("succeed")
    other = Job(kind="other.kind", payload={"do": "succeed"})
    db.session.add(other)
    db.session.commit()
    assert Toy(app).run(once=True) == 1
    assert (job(job_id).status, job(job_id).payload) == ("done", {"do": "succeed", "done": True})
    assert job(other.id).status == "queued"  # another worker's kind is left alone


def test_a_refusal_ends_the_job_failed_with_what_the_worker_records(app):
    job_id = add("refuse")
    worker = Toy(app)
    worker.run(once=True)
    assert (job(job_id).status, job(job_id).last_error) == ("failed", "failed: refused")
    assert worker.failed == [(job_id, "refused", {"why": "bad input"})]


def test_a_failed_attempt_is_tried_again_later_and_the_last_allowed_one_ends_failed(app):
    job_id = add("raise")
    before = read_db_now()
    Toy(app).run(once=True)  # the job is not due again before its delay: a once run ends
    retried = job(job_id)
    assert (retried.status, retried.attempts, retried.last_error) == ("queued", 1, "ValueError: broken")
    assert retried.available_at >= before + timedelta(seconds=99)

    db.session.execute(sa.update(Job).values(available_at=utcnow() - timedelta(seconds=1), attempts=2))
    db.session.commit()
    worker = Toy(app)
    worker.run(once=True)
    assert (job(job_id).status, job(job_id).attempts, job(job_id).last_error) == ("failed", 3, "failed: errors 3 times")
    assert worker.failed == [(job_id, "errors 3 times", None)]


def test_a_worker_that_retries_forever_gives_the_job_back_past_its_attempts(app):
    job_id = add("raise", attempts=5)
    Toy(app, retries_forever=True).run(once=True)
    assert (job(job_id).status, job(job_id).attempts) == ("queued", 6)


def test_a_result_whose_lease_was_lost_is_dropped(app):
    job_id = add("lose the lease")
    Toy(app).run(once=True)
    assert (job(job_id).status, job(job_id).lease_owner) == ("running", "someone else")


def test_a_job_whose_worker_died_on_its_last_attempt_ends_failed_with_the_reason(app):
    job_id = add("succeed", status="running", attempts=3, lease_owner="dead-worker",
                 lease_until=utcnow() - timedelta(seconds=5))
    worker = Toy(app)
    assert worker.run(once=True) == 0  # not taken again: given up
    assert (job(job_id).status, job(job_id).last_error) == ("failed", "failed: died 3 times")
    assert worker.failed == [(job_id, "died 3 times", None)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_notify_on_its_channel_wakes_an_idle_worker_at_once(app):
    worker = Toy(app, poll_s=60)  # without the NOTIFY it would look again only in a minute
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        time.sleep(2)  # idle, listening
        job_id = add("succeed")
        db.session.execute(sa.text(f"NOTIFY {Toy.channel}"))
        db.session.commit()
        deadline = time.monotonic() + 10
        while job(job_id).status != "done" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job(job_id).status == "done"
    finally:
        worker.stop()
        thread.join(10)
