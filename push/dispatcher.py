"""The push dispatcher: outbox rows in, one FCM message per device out, duplicates the user never sees.

Delivery state lives in `push_deliveries`, one row per (outbox message, device):

1. a claimed outbox row is planned: every device of the recipient without a final delivery;
2. before a batch goes out, its deliveries are committed as `sending`;
3. after `send_each` answers, each becomes `delivered`, `failed` or `retry` (or the device is
   deleted when FCM says its token is dead), and that is committed;
4. the outbox row is done when every device has a final outcome, else it is given back to the
   queue with a backoff.

Delivery is at least once per device. A dispatcher killed between 2 and 3 leaves `sending` rows
behind; when its lease runs out the row is taken again and those devices are sent to again. FCM
v1 has no idempotency key, so a resend may reach a phone that already has the first copy: every
message carries its event id (data `event_id`, the outbox row's id) and a collapse tag per event
(Android collapse_key and notification tag, APNs apns-collapse-id, web push tag), so the second
copy replaces the first on the lock screen and the app drops an event id it has seen. Retries
are the dispatcher's alone: the FCM session makes no hidden resends (push/fcm.py).

The loop, its supervisor (heartbeats for the process and the loop, so /readyz sees a dispatcher
whose loop died or hangs), the reaping of rows whose dispatcher died on each attempt and the
waiting out of a database outage are the leased-worker skeleton's (workers/leased.py).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from domain import substitutions
from domain.inbox import unread_counts
from models import (
    Device,
    Document,
    Organization,
    OutboxMessage,
    PushDelivery,
    User,
    db,
    utcnow,
)
from models.push import DELIVERED, FAILED, FINAL, RETRY, SENDING
from models.queue import FAILED as ROW_FAILED
from models.queue import claim, database_time, finish, finish_many, renew_many, retry_later
from push import deadlines
from push.backoff import backoff_delay
from push.fcm import MAX_BATCH
from push.messages import Event, build_message
from push.quiet import quiet_until
from push.sender import Outcome, OutgoingMessage, Sender, SendResult
from workers.leased import LeasedWorker, LoopSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Settings(LoopSettings):
    """How the dispatcher paces itself (one loop: a pass's rows are the process's leases)."""

    batch_size: int = MAX_BATCH  # messages per send_each call
    claim_limit: int = 1000  # outbox rows per pass: a few batches, so recording overlaps sending
    scan_every: float = 60.0  # seconds between deadline reminder scans (push/deadlines.py)

    @classmethod
    def from_config(cls, config) -> Settings:
        """Settings from the Flask config."""
        return cls(batch_size=config["PUSH_BATCH_SIZE"], lease=timedelta(seconds=config["PUSH_LEASE_S"]),
                   poll_s=config["PUSH_POLL_MS"] / 1000, stall_s=config.get("PUSH_STALL_S", 120.0),
                   silence_s=config.get("READY_LOOP_SILENCE_S", 15.0))


@dataclass(slots=True)
class _Item:
    """One message for one device, planned for this pass."""

    row_id: int
    device_id: int
    retried: bool  # a delivery row (status retry, or sending from a dead dispatcher) exists already
    outgoing: OutgoingMessage


@dataclass(slots=True)
class _Tally:
    """What this pass learned about one outbox row."""

    unsent: int = 0
    retry: bool = False
    retry_after: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class PassStats:
    """Counts for one pass, for the log and the benchmark."""

    rows: int = 0
    held: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


_ROW = (OutboxMessage.id, OutboxMessage.user_id, OutboxMessage.event, OutboxMessage.payload, OutboxMessage.urgent,
        OutboxMessage.document_id)
# A user's own quiet hours, else the organization's.
_USER = (User.id, User.locale, User.timezone,
         sa.func.coalesce(User.quiet_from, Organization.quiet_from).label("quiet_from"),
         sa.func.coalesce(User.quiet_to, Organization.quiet_to).label("quiet_to"), User.is_active,
         Organization.push_shows_document)
_DEVICE = (Device.id, Device.user_id, Device.token, Device.platform, Device.locale)


def _chunks(items: Sequence[_Item], size: int) -> Iterator[Sequence[_Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Dispatcher(LeasedWorker):
    """Claims outbox rows as leases and sends them through a Sender."""

    kind, role, noun, model = "push", "dispatch", "outbox row", OutboxMessage

    def __init__(self, sender: Sender, settings: Settings = Settings(), name: str | None = None) -> None:
        super().__init__(settings, name or f"push@{socket.gethostname()}:{os.getpid()}")
        self.sender = sender
        self._next_scan = 0.0

    def owner(self, key: str) -> str:
        # One loop per dispatcher: its leases are the process's, as for drain() outside any loop.
        return self.name

    def run(self, once: bool = False) -> int:
        """Dispatch until stop(); with `once`, until nothing is due. Returns the outbox rows handled."""
        log.info("push dispatcher %s started (batch %d, lease %s)", self.name, self.settings.batch_size,
                 self.settings.lease)
        try:
            return super().run(once)
        finally:
            log.info("push dispatcher %s stopped", self.name)

    def step(self, owner: str) -> bool:
        self.scan_deadlines()
        rows = self.dispatch().rows
        self.handled += rows
        return rows > 0

    def give_up(self, row_ids: list[int], owner: str) -> None:
        """Outbox rows whose dispatcher died on each of their attempts end failed, with the reason."""
        for row in db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.id.in_(row_ids))):
            reason = f"the dispatcher stopped during each of {row.attempts} attempts"
            log.error("push: outbox %s (%s) given up: %s", row.id, row.event, reason)
            finish(row, ROW_FAILED, reason)
            db.session.execute(sa.update(PushDelivery).where(PushDelivery.outbox_id == row.id,
                                                              PushDelivery.status == SENDING)
                               .values(status=FAILED, error=reason, updated_at=utcnow()))
        db.session.commit()

    def scan_deadlines(self, force: bool = False) -> int:
        """Owe deadline reminders that fell due, at most every `scan_every` seconds."""
        if not force and time.monotonic() < self._next_scan:
            return 0
        self._next_scan = time.monotonic() + self.settings.scan_every
        made = deadlines.scan(database_time(), self.name)  # deadlines are due by the database's clock
        if made:
            log.info("push: %d deadline reminders and digests owed", made)
        # Substitutions whose period began or ended: the deputies' copies of the principals' lines come
        # and go (their rights are checked at each act and need no scan).
        moved = substitutions.sweep(database_time())
        if moved:
            log.info("push: %d substitutions began or ended", moved)
        return made

    def drain(self) -> None:
        """Dispatch until nothing is due now (tests, benchmarks, --once)."""
        while self.dispatch().rows:
            pass

    def dispatch(self) -> PassStats:
        """One pass: claim due rows, send what they owe, settle each row."""
        stats = PassStats()
        ids = claim(OutboxMessage, self.name, self.settings.lease, limit=self.settings.claim_limit,
                    max_attempts=self.settings.max_attempts)
        if not ids:
            return stats
        stats.rows = len(ids)
        # Plain rows, not ORM objects: a pass reads hundreds of each and changes none of them.
        rows = db.session.execute(sa.select(*_ROW).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)).all()
        users = {u.id: u for u in db.session.execute(
            sa.select(*_USER).join(User.organization).where(User.id.in_({r.user_id for r in rows})))}
        now = database_time()  # quiet hours by the clock every due time is kept by, not this machine's
        sendable = []
        for row in rows:
            user = users[row.user_id]
            until = None if row.urgent else quiet_until(now, user.quiet_from, user.quiet_to, user.timezone)
            if until is None:
                sendable.append(row)
                continue
            held = db.session.get(OutboxMessage, row.id)
            retry_later(held, until - now, f"quiet hours until {until:%Y-%m-%dT%H:%MZ}")
            # Holding is not an attempt: the claim's count is given back.
            held.available_at, held.attempts = until, held.attempts - 1
            stats.held += 1
        plan, tallies = self._plan(sendable, users)
        self._send_all(plan, tallies, stats, renewed=time.monotonic())
        self._settle(tallies)
        log.info("push: %d rows (%d held for quiet hours): %s", stats.rows, stats.held,
                 ", ".join(f"{n} {o}" for o, n in sorted(stats.outcomes.items())) or "no devices")
        return stats

    def _send_all(self, plan: list[_Item], tallies: dict[int, _Tally], stats: PassStats, renewed: float) -> None:
        """Send the plan batch by batch; a batch's answers are recorded while the next is in flight."""
        # One batch in flight at a time, as in a plain send_each loop; only the database work moves
        # off the critical path. A batch is marked `sending` just before it leaves, so a crash
        # leaves at most the batch in flight and the one answered but not yet recorded as
        # `sending`; both are sent again after the lease, nothing marked that never left.
        pending: tuple[list[_Item], Future[list[SendResult]]] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="push-send") as pool:
            for chunk in _chunks(plan, self.settings.batch_size):
                self.check_in(self.settings.stall_s, f"sending a batch of {len(chunk)}")
                if self.stopping.is_set():
                    break  # rows left with unsent devices go back to the queue at once
                if time.monotonic() - renewed > self.settings.lease.total_seconds() / 4:
                    self._keep_leases(tallies)
                    renewed = time.monotonic()
                chunk = [item for item in chunk if item.row_id in tallies]
                answered = pending[1].result() if pending else None
                following = None
                if chunk and self._mark_sending(chunk):
                    following = (chunk, pool.submit(self._send, chunk))
                if pending:
                    self._record(pending[0], answered, tallies, stats)
                pending = following
            if pending:
                self._record(pending[0], pending[1].result(), tallies, stats)

    def _keep_leases(self, tallies: dict[int, _Tally]) -> None:
        """Renew our leases; forget rows another dispatcher has taken over."""
        held = renew_many(OutboxMessage, list(tallies), self.name, self.settings.lease)
        for lost in set(tallies) - held:
            log.warning("push: lease on outbox %s lost to another dispatcher; leaving it", lost)
            del tallies[lost]

    def _plan(self, rows: list[sa.Row], users: dict[int, sa.Row]) -> tuple[list[_Item], dict[int, _Tally]]:
        """The messages these rows still owe, device by device (commits the pass's holds too)."""
        tallies = {row.id: _Tally() for row in rows}
        user_ids = list({row.user_id for row in rows})
        devices: dict[int, list[sa.Row]] = defaultdict(list)
        for device in db.session.execute(sa.select(*_DEVICE).where(Device.user_id.in_(user_ids)).order_by(Device.id)):
            devices[device.user_id].append(device)
        known = {(o, d): s for o, d, s in db.session.execute(
            sa.select(PushDelivery.outbox_id, PushDelivery.device_id, PushDelivery.status)
            .where(PushDelivery.outbox_id.in_(tallies)))}
        badges = unread_counts(user_ids)
        shown = [row.document_id for row in rows if row.document_id and users[row.user_id].push_shows_document]
        documents = {i: (reg, title) for i, reg, title in db.session.execute(
            sa.select(Document.id, Document.reg_number, Document.title).where(Document.id.in_(shown)))}
        plan, broken, resent = [], [], 0
        for row in rows:
            user = users[row.user_id]
            if not user.is_active:
                continue  # a deactivated account is told nothing; the row is simply done
            reg_number, title = documents.get(row.document_id, (None, None))
            ids = {k: v for k, v in row.payload.items() if k != "event"}
            for device in devices[row.user_id]:
                status = known.get((row.id, device.id))
                if status in FINAL:
                    continue
                # `sending` here means a dispatcher died with this batch in flight (we hold the lease
                # now): it may or may not have reached the phone, so it goes again under the same
                # event id and collapse tag, and the phone shows it once.
                resent += status == SENDING
                try:
                    message = build_message(device.token, device.platform, device.locale or user.locale,
                                            Event(row.event), ids, badges.get(user.id, 0), reg_number, title,
                                            urgent=row.urgent, event_id=str(row.id))
                except ValueError as error:
                    log.error("push: cannot build %s for device %s: %s", row.event, device.id, error)
                    broken.append({"outbox_id": row.id, "device_id": device.id, "status": FAILED,
                                   "error": str(error)[:500], "updated_at": utcnow()})
                    continue
                outgoing = OutgoingMessage(device_id=str(device.id), message=message, ref=str(row.id))
                plan.append(_Item(row.id, device.id, status is not None, outgoing))
                tallies[row.id].unsent += 1
        if resent:
            log.warning("push: %d deliveries were in flight when a dispatcher stopped; sending them again "
                        "(same event id: the phone shows each once)", resent)
        if broken:
            db.session.execute(sa.insert(PushDelivery), broken)
        db.session.commit()
        return plan, tallies

    def _set_status(self, keys: list[dict], status: str, error: str | None = None) -> None:
        table = PushDelivery.__table__
        db.session.execute(
            table.update()
            .where(table.c.outbox_id == sa.bindparam("o"), table.c.device_id == sa.bindparam("d"))
            .values(status=status, error=error, updated_at=utcnow()),
            keys,
        )

    def _mark_sending(self, chunk: Sequence[_Item]) -> bool:
        """Commit `sending` for the chunk before any of it leaves; False if it must not be sent."""
        now = utcnow()
        new = [{"outbox_id": i.row_id, "device_id": i.device_id, "status": SENDING, "updated_at": now}
               for i in chunk if not i.retried]
        again = [{"o": i.row_id, "d": i.device_id} for i in chunk if i.retried]
        try:
            if new:
                db.session.execute(sa.insert(PushDelivery), new)
            if again:
                self._set_status(again, SENDING)
            db.session.commit()
        except IntegrityError as error:
            # Unique (outbox, device): another dispatcher took this row over since our lease check,
            # or a device was deleted meanwhile. Send nothing; the row is settled by whoever holds it.
            db.session.rollback()
            log.warning("push: batch of %d not sent, its deliveries changed under us: %s", len(chunk), error.orig)
            return False
        return True

    def _send(self, chunk: Sequence[_Item]) -> list[SendResult]:
        try:
            return self.sender.send([item.outgoing for item in chunk])
        except Exception as error:  # noqa: BLE001
            # Senders report per-message failures in their results; an exception means the batch
            # broke before going out (a message the SDK would not encode), so it is retried.
            log.exception("push: sender failed on a batch of %d", len(chunk))
            return [SendResult(item.outgoing, Outcome.RETRY, error=f"{type(error).__name__}: {error}")
                    for item in chunk]

    def _record(self, chunk: Sequence[_Item], results: list[SendResult], tallies: dict[int, _Tally],
                stats: PassStats) -> None:
        """Write each device's outcome, drop dead tokens, and note what each row still owes."""
        updates, dropped, auth_errors = [], [], 0
        now = utcnow()
        for item, result in zip(chunk, results, strict=True):
            tally = tallies.get(item.row_id) or _Tally()  # a row lost meanwhile: still record the truth
            tally.unsent -= 1
            stats.outcomes[result.outcome.value] += 1
            status = {Outcome.DELIVERED: DELIVERED, Outcome.FAILED: FAILED}.get(result.outcome, RETRY)
            if result.outcome is Outcome.DROP_TOKEN:
                dropped.append(item.device_id)
                continue
            if status == RETRY:
                tally.retry = True
                tally.retry_after = max(tally.retry_after, result.retry_after or 0.0)
                tally.error = result.error
                auth_errors += result.outcome is Outcome.AUTH_ERROR
            updates.append({"o": item.row_id, "d": item.device_id, "status": status, "message_id": result.message_id,
                            "error": (result.error or "")[:500] or None, "updated_at": now})
        if updates:
            table = PushDelivery.__table__
            db.session.execute(
                table.update()
                .where(table.c.outbox_id == sa.bindparam("o"), table.c.device_id == sa.bindparam("d"))
                .values(status=sa.bindparam("status"), message_id=sa.bindparam("message_id"),
                        error=sa.bindparam("error"), updated_at=sa.bindparam("updated_at")),
                updates,
            )
        if dropped:
            # The token is dead for good; its delivery rows go with the device (ON DELETE CASCADE).
            db.session.execute(sa.delete(Device).where(Device.id.in_(dropped)))
            log.info("push: deleted %d devices whose tokens FCM no longer knows", len(dropped))
        db.session.commit()
        if auth_errors:
            log.error("push: FCM refused our credentials for %d of %d messages; they will be retried, but "
                      "nothing reaches phones until FIREBASE_CREDENTIALS (or the APNs key) is fixed",
                      auth_errors, len(chunk))

    def _settle(self, tallies: dict[int, _Tally]) -> None:
        """Finish, back off, or give back each row we still hold."""
        done = [row_id for row_id, t in tallies.items() if not t.unsent and not t.retry]
        owing = [row_id for row_id in tallies if row_id not in set(done)]
        held = renew_many(OutboxMessage, owing, self.name, self.settings.lease) if owing else set()
        for row in db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.id.in_(held))):
            tally = tallies[row.id]
            if tally.unsent:
                # Stopped (or a batch skipped) before these devices were tried: not an attempt.
                retry_later(row, timedelta(0), "interrupted before every device was tried")
                row.attempts -= 1
            elif row.attempts >= self.settings.max_attempts:
                log.error("push: outbox %s (%s) given up after %d attempts: %s", row.id, row.event, row.attempts,
                          tally.error)
                finish(row, ROW_FAILED, (tally.error or "")[:500])
            else:
                delay = backoff_delay(row.attempts, retry_after=tally.retry_after or None)
                retry_later(row, timedelta(seconds=delay), (tally.error or "retry")[:500])
        # The common case, every device answered for: one statement, and only rows still ours.
        finish_many(OutboxMessage, done, self.name)
        db.session.commit()
