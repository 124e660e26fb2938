"""The skeleton of a leased worker: loops that claim rows of one queue table, and a supervisor that vouches for them.

The push dispatcher subclasses `LeasedWorker` and writes only its `step` (claim and handle what is
due) and its `give_up` (record why a row failed); the job workers (transcription, documents,
time-stamps) do so through `workers.jobs.JobWorker`, which writes those once for a row of `jobs`.
Everything else is here, once:

- `run(once=True)` (`--once`) drains what is due and returns; a failure then is raised, not waited out.
- A claim is a lease (models/queue.py): a worker killed with SIGKILL stops renewing, and its rows are
  claimed again when the lease runs out. The supervisor renews the leases a loop holds (`holding`);
  a result is written only while the lease is still ours (`settle`).
- A row whose worker died on its last allowed attempt is reaped: handed to `give_up` now and then,
  so a row that kills its worker ends failed with a reason instead of being retried forever.
- A database outage is waited out: a failed step backs off (doubling from 0.25 s to 5 s, jittered)
  and tries again, and so does a write inside a step (`persist`); no loop ends but by `stop()`.
- The supervisor, a thread of its own (a loop may hang), beats for the process and for each loop
  every `beat_s`. Each loop promises when it will check in again (`check_in`), so /readyz
  (mobile_api/ops) sees a loop that died or hangs past its promise, not just a live process. A clean
  stop takes the process's heartbeats away: gone, not stalled.
- On PostgreSQL, a worker with a `channel` LISTENs on it, and a commit's NOTIFY wakes its idle loops.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app

from models import db, queue

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class LoopSettings:
    """How a leased worker paces its loops; each worker's settings add their own fields."""

    threads: int = 1  # loops, each with its own app context and database session
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 10  # then the row is reaped: it ends failed, with the reason
    poll_s: float = 1.0  # an idle loop looks again this often (a NOTIFY wakes it sooner)
    stall_s: float = 120.0  # a step running longer than this is a stalled loop
    silence_s: float = 15.0  # a loop silent past its promise this long is reported stalled
    beat_s: float = 1.0  # heartbeat period


def outage_delay(failures: int, cap: float = 5.0) -> float:
    """Seconds to wait before trying the database again: doubling from 0.25 s, capped, jittered."""
    return random.uniform(0.5, 1.0) * min(cap, 0.25 * 2 ** min(failures, 10))


def first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


class LeaseLost(Exception):
    """Another worker holds the row now (ours ran out): our result must not be recorded."""


class Stopping(Exception):
    """Stopping while waiting for the database: the row is left to its lease."""


@dataclass
class Loop:
    """What the supervisor knows of one loop: by when it promised to check in, and what it is doing."""

    thread: threading.Thread | None = None
    due: float = 0.0  # time.monotonic()
    state: str = "starting"


class LeasedWorker:
    """Loops that claim rows of `model` as leases until stopped (or, with once=True, until none is due)."""

    kind = "worker"  # the heartbeats' kind, as /readyz groups them
    role = "loop"  # a loop's name in its heartbeat: <process>/<role>-<n>
    noun = "row"  # a row in the log and in a loop's state
    model: type  # the queue table (a models.queue.LeasedRow)
    channel: str | None = None  # PostgreSQL NOTIFY channel that announces new rows

    def __init__(self, settings: LoopSettings, name: str, app: Flask | None = None) -> None:
        self.settings, self.name, self.app = settings, name, app
        self.stopping = threading.Event()
        self.handled = 0
        self.loops: dict[str, Loop] = {}
        self._held: dict[int, str] = {}  # row id -> lease owner, renewed by the supervisor
        self._lock = threading.Lock()
        self._wake = threading.Condition()
        self._generation = 0
        self._here = threading.local()  # the loop key of the running thread
        self._next_reap = 0.0
        self._error: BaseException | None = None

    # What a worker writes.
    def step(self, owner: str) -> bool:
        """Claim and handle what is due; False when nothing was."""
        raise NotImplementedError

    def give_up(self, row_ids: list[int], owner: str) -> None:
        """Record as failed the rows whose worker died on their last allowed attempt (leased to `owner`)."""
        raise NotImplementedError

    def where(self) -> sa.ColumnElement | None:
        """The rows of `model` that are this worker's (None: all of them)."""
        return None

    def owner(self, key: str) -> str:
        """Who a loop's leases belong to: the loop itself."""
        return key

    # The skeleton.
    def stop(self) -> None:
        """Finish the rows in hand, take no more."""
        self.stopping.set()
        self.wake()

    def wake(self) -> None:
        """New rows may be waiting: end every idle loop's wait now."""
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def run(self, once: bool = False) -> int:
        """Run the loops, the supervisor and, on PostgreSQL with a channel, a listener; returns rows handled."""
        app = self.app or current_app._get_current_object()
        loops = []
        for i in range(max(1, self.settings.threads)):
            key = f"{self.name}/{self.role}-{i}"
            thread = threading.Thread(target=self._loop, args=(app, key, once), name=f"{self.role}-{i}")
            self.loops[key] = Loop(thread, time.monotonic() + self.settings.silence_s)
            loops.append(thread)
        helpers = [threading.Thread(target=self._supervise, args=(app,), name=f"{self.role}-heartbeat",
                                    daemon=True)]
        if not once and self.channel and self._dialect(app) == "postgresql":
            helpers.append(threading.Thread(target=self._listen, args=(app,), name=f"{self.role}-listen",
                                            daemon=True))
        for t in helpers + loops:
            t.start()
        for t in loops:
            t.join()
        self.stop()
        for t in helpers:  # each notices `stopping` within a second
            t.join(5)
        if self._error is not None:
            raise self._error
        return self.handled

    def check_in(self, promise_s: float, state: str) -> None:
        """The calling loop is alive and will check in again within `promise_s` (else it is reported)."""
        loop = self.loops.get(getattr(self._here, "key", None))
        if loop is not None:  # outside a loop (a test's or a benchmark's direct call) there is no one to tell
            loop.due, loop.state = time.monotonic() + promise_s, state

    @contextmanager
    def holding(self, row_id: int, owner: str) -> Iterator[None]:
        """The supervisor renews the row's lease while the block runs; the row counts as handled after it."""
        with self._lock:
            self._held[row_id] = owner
        try:
            yield
        finally:
            with self._lock:
                self._held.pop(row_id, None)
                self.handled += 1

    def persist(self, row_id: int, write: Callable[[], None]) -> None:
        """Run `write()` (which commits); while the database is down, wait and try again."""
        failures = 0
        while True:
            try:
                write()
                return
            except Exception as exc:
                queue.rollback_quietly()
                if not queue.database_down(exc):
                    raise
                if self.stopping.is_set():
                    raise Stopping(row_id) from exc
                failures += 1
                delay = outage_delay(failures)
                log.warning("%s %s: database unavailable (%s); trying again in %.1f s", self.noun, row_id,
                            first_line(exc), delay)
                self.check_in(delay, f"{self.noun} {row_id}: database unavailable; retrying")
                self.stopping.wait(delay)
                self.check_in(self.settings.stall_s, f"{self.noun} {row_id}")

    def settle(self, row_id: int, owner: str, apply: Callable[[object], object]) -> None:
        """Apply `apply(row)` and commit, only if the lease is still ours (else LeaseLost)."""
        # The guarded UPDATE takes the row's write lock (PostgreSQL) or the database's (SQLite)
        # until commit, so no other worker can claim the row between our check and our write.
        model = self.model
        held = db.session.execute(
            sa.update(model).where(model.id == row_id, model.lease_owner == owner, model.status == queue.RUNNING)
            .values(lease_owner=owner).execution_options(synchronize_session=False))
        if held.rowcount != 1:
            db.session.rollback()
            raise LeaseLost(row_id)
        apply(db.session.get(model, row_id))
        db.session.commit()

    def _dialect(self, app: Flask) -> str:
        with app.app_context():
            return db.engine.dialect.name

    def _loop(self, app: Flask, key: str, once: bool) -> None:
        self._here.key = key
        owner = self.owner(key)
        failures = 0
        with app.app_context():
            while not self.stopping.is_set():
                generation = self._generation
                self.check_in(self.settings.stall_s, "claiming")
                try:
                    self._reap(owner)
                    worked = self.step(owner)
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - no loop ends but by stop()
                    queue.rollback_quietly()
                    if once:
                        self._error = self._error or exc
                        return
                    failures += 1
                    delay = outage_delay(failures)
                    down = queue.database_down(exc)
                    what = "database unavailable" if down else type(exc).__name__
                    (log.warning if down else log.exception)(
                        "%s: a step failed (%s: %s); trying again in %.1f s", key, what, first_line(exc), delay)
                    self.check_in(delay, f"{what}; retrying")
                    self.stopping.wait(delay)
                    continue
                if worked:
                    continue
                if once:
                    return
                self.check_in(self.settings.poll_s, "idle")
                with self._wake:
                    if self._generation == generation and not self.stopping.is_set():
                        self._wake.wait(self.settings.poll_s)

    def _reap(self, owner: str) -> None:
        """Hand the rows whose worker died on their last allowed attempt to `give_up` (now and then)."""
        now = time.monotonic()
        if now < self._next_reap:
            return
        self._next_reap = now + max(1.0, self.settings.lease.total_seconds() / 2)
        settings = self.settings
        ids = queue.take_exhausted(self.model, owner, settings.lease, settings.max_attempts, where=self.where())
        if ids:
            self.give_up(ids, owner)

    def _beats(self) -> list[dict]:
        now = time.monotonic()
        silence = int(max(2, self.settings.silence_s))
        rows = [dict(name=self.name, kind=self.kind, silence_s=max(silence, int(5 * self.settings.beat_s)),
                     state=f"{len(self.loops)} loop(s), {len(self._held)} {self.noun}(s) in hand")]
        for key, loop in list(self.loops.items()):
            # A thread not started yet is not a dead one: it has its first promise (silence_s) to keep.
            alive = loop.thread is None or loop.thread.ident is None or loop.thread.is_alive()
            state = loop.state if alive else f"thread ended ({loop.state})"
            rows.append(dict(name=key, kind=self.kind, process=self.name, silence_s=silence, state=state,
                             late_s=max(0.0, now - loop.due) if alive else max(silence + 1.0, now - loop.due)))
        return rows

    def _supervise(self, app: Flask) -> None:
        """Renew the leases in hand every third of a lease; beat for the process and each loop every beat_s."""
        renew_every = max(0.2, self.settings.lease.total_seconds() / 3)
        next_renew, next_cleanup, down = 0.0, 0.0, False
        with app.app_context():
            while True:
                try:
                    now = time.monotonic()
                    if now >= next_renew:
                        with self._lock:
                            held = dict(self._held)
                        for row_id, owner in held.items():
                            if not queue.renew(self.model, row_id, owner, self.settings.lease):
                                # Finished a moment ago, or taken over (then its result is dropped at settling).
                                log.info("%s %s: lease not renewed (finished or taken over)", self.noun, row_id)
                        next_renew = now + renew_every
                    queue.beat_many(self._beats())
                    if now >= next_cleanup:
                        queue.forget_long_gone()
                        next_cleanup = now + 600
                    if down:
                        log.info("%s: database reachable again", self.name)
                    down = False
                except Exception as exc:  # noqa: BLE001 - the supervisor must outlive any outage
                    queue.rollback_quietly()
                    if not down:
                        (log.warning if queue.database_down(exc) else log.exception)(
                            "%s: heartbeat failed (%s); trying again", self.name, first_line(exc))
                    down = True
                if self.stopping.wait(min(self.settings.beat_s, renew_every)):
                    break
            try:  # a clean stop is not a stalled loop: take our heartbeats away
                queue.forget(self.name)
            except Exception:  # noqa: BLE001
                queue.rollback_quietly()
                log.warning("%s: could not remove its heartbeats; they age out", self.name)

    def _listen(self, app: Flask) -> None:
        """PostgreSQL: wake the idle loops as soon as a commit announces a row on `channel`."""
        with app.app_context():
            while not self.stopping.is_set():
                try:
                    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                        conn.exec_driver_sql(f"LISTEN {self.channel}")
                        pg = conn.connection.driver_connection
                        while not self.stopping.is_set():
                            for _ in pg.notifies(timeout=1.0, stop_after=1):
                                self.wake()
                except Exception:  # noqa: BLE001 - a lost listener connection only slows wake-ups to polling
                    log.exception("LISTEN connection lost; reconnecting")
                    self.stopping.wait(self.settings.poll_s)
