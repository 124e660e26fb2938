"""The deadline reminder scan over 2.5 million tasks, on PostgreSQL.

Run from the repository root: ``python -m benchmarks.reminders [--tasks 2500000] [--rounds 5]``. Needs
PostgreSQL (BENCH_POSTGRES_URL, default the tests' server); a scratch database is created and dropped,
also when the run is stopped (Ctrl-C, SIGTERM, SIGHUP, an error); one left by a run that was killed
outright is dropped by the next run. The process runs at nice 10: the load is long and the machine shared.

The tasks are streamed in with COPY: 2,000 executors, 70 % done, 30 % open, four in five with a
deadline, at 23:59:59 Moscow time (as a deadline said as a date is) over the past year and the next
three months. Then, in paired rounds (tests/support/timing.py), against a baseline in the same run:

- the first scan: a day's worth of moments since the last scan (every task whose reminder of three
  days, of one day, of the day or overdue fell in that day), reminders, outbox rows and digests
  written and committed; made again each round after the previous round's rows are deleted;
- a steady-state scan: one minute after the last, as the dispatcher runs it;
- the baseline: a bare count, through the same index, of the open tasks whose deadline falls in the
  scan's windows (what finding the due tasks costs, with nothing written);
- for scale, once: the count the scan this replaces made every minute, every open task past its
  deadline checked against the outbox.

The plans of the scan's reads of `tasks` are shown with EXPLAIN (ANALYZE, BUFFERS).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from tqdm import tqdm

from benchmarks.signals import stop_on_signals
from tests.support.database import admin_url, claimed_scratch_database, drop_abandoned
from tests.support.timing import paired, timed

MSK = ZoneInfo("Europe/Moscow")
EXECUTORS = 2000
PREFIX = "bench_reminders"  # of the scratch database's name


def progress(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def load(n: int, now: datetime) -> None:
    """Executors, one document and resolution, and `n` tasks, with COPY."""
    from models import Document, Organization, Resolution, User, db

    org = db.session.scalar(sa.select(Organization).order_by(Organization.id))
    author = db.session.scalar(sa.select(User).where(User.username == "exec1"))
    document = db.session.scalar(sa.select(Document.id).order_by(Document.id))
    resolution = Resolution(document_id=document, author_id=author.id, status="issued", text="Исполнить",
                            control=True, controller_id=author.id, issued_at=now)
    db.session.add(resolution)
    db.session.commit()
    # Plain values: the session must not load anything while the connection is in COPY.
    org_id, author_id, resolution_id = org.id, author.id, resolution.id
    raw = db.session.connection().connection.driver_connection
    first_user = db.session.scalar(sa.text("SELECT max(id) FROM users")) + 1
    first_task = (db.session.scalar(sa.text("SELECT max(id) FROM tasks")) or 0) + 1
    with raw.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # consistent by construction: no FK triggers
        with cur.copy("COPY users (id, organization_id, username, password_hash, name, short_name, roles, "
                      "is_active, locale, timezone, created_at, seq) FROM STDIN") as copy:
            for i in range(EXECUTORS):
                uid = first_user + i
                copy.write_row((uid, org_id, f"bench{uid}", "x", f"Исполнитель {uid}", f"Исп. {uid}", "employee",
                                True, "ru", "Europe/Moscow", now, 0))
        start = now.astimezone(MSK).date()
        bar = tqdm(total=n, desc="tasks (COPY)", unit="task", mininterval=2, file=sys.stderr)
        with cur.copy("COPY tasks (id, resolution_id, document_id, executor_id, text, deadline, status, "
                      "created_at, removed, seq, control, responsible, controller_id, returned, withdrawn) "
                      "FROM STDIN") as copy:
            for i in range(first_task, first_task + n):
                h = (i * 2654435761) % 4294967296  # spread deterministically
                status = "done" if h % 10 < 7 else "open"
                deadline = None
                if h % 5:
                    day = start + timedelta(days=(h >> 8) % 456 - 365)
                    deadline = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=MSK).astimezone(timezone.utc)
                copy.write_row((i, resolution_id, document, first_user + h % EXECUTORS, "Исполнить", deadline,
                                status, now, False, i, True, True, author_id, False, False))
                if i % 50_000 == 0:
                    bar.update(50_000)
        bar.close()
        cur.execute("SET session_replication_role = DEFAULT")
        for table in ("users", "tasks"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    db.session.commit()
    progress("VACUUM ANALYZE")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE tasks"))
        conn.execute(sa.text("VACUUM ANALYZE users"))


def reset(since: datetime) -> None:
    """As before any scan: nothing reminded, the last scan at `since`."""
    from models import ControlDigest, OutboxMessage, ReminderScan, TaskReminder, db

    for model in (TaskReminder, ControlDigest, OutboxMessage):
        db.session.execute(sa.delete(model))
    db.session.execute(sa.update(ReminderScan).values(scanned_until=since))
    db.session.commit()


def due_count(last: datetime, now: datetime) -> int:
    """The baseline: open tasks whose deadline is in the scan's windows, counted through the index."""
    from models import Task, db
    from push.deadlines import _day_window

    windows = [(last, now)] + [_day_window(MSK, n, last, now) for n in (3, 1, 0)]
    total = 0
    for start, end in windows:
        total += db.session.scalar(sa.select(sa.func.count()).select_from(Task).where(
            Task.status == "open", Task.removed.is_(False), Task.deadline > start, Task.deadline <= end))
    db.session.rollback()
    return total


def old_scan_count(now: datetime) -> float:
    """What the scan this replaces read each minute: every open task past its deadline, against the outbox."""
    from models import db

    return timed(lambda: db.session.execute(sa.text(
        "SELECT count(*) FROM tasks WHERE status = 'open' AND NOT removed AND deadline IS NOT NULL "
        "AND deadline <= :now AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.dedup_key = "
        "'deadline_passed:task:' || tasks.id)"), {"now": now}).scalar())


def plans(now: datetime) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the scan's reads of tasks, as it sent them."""
    from models import db
    from push import deadlines

    seen: list[tuple[str, dict]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM tasks" in statement:
            seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        deadlines.scan(now, "bench")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    shown = []
    with db.engine.connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars()
            shown.append(statement.split("WHERE", 1)[-1].strip()[:160] + "\n" + "\n".join(rows))
        conn.rollback()
    return shown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2_500_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.nice(10)
    stop_on_signals()
    admin = admin_url("BENCH_POSTGRES_URL")
    for name in drop_abandoned(PREFIX, admin):
        progress(f"dropped {name}, left by an earlier run")
    with (claimed_scratch_database(PREFIX, admin) as (_, url),
          tempfile.TemporaryDirectory(prefix=PREFIX) as data_dir):
        os.environ["DATABASE_URL"] = url
        from flask_migrate import upgrade

        from mobile_api import create_app
        from mobile_api.demo import load as demo
        from models import OutboxMessage, TaskReminder, db
        from push import deadlines

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": data_dir})
        with app.app_context():
            progress("migrating and loading the demo government")
            upgrade()
            demo("demo")
            now = db.session.scalar(sa.select(sa.func.now())).astimezone(timezone.utc)
            # 10:00 in Moscow today: the day's 09:00 reminders and last night's deadlines are in the first scan.
            now = datetime.combine(now.astimezone(MSK).date(), datetime.min.time(), MSK).replace(hour=10)
            now = now.astimezone(timezone.utc)
            started = time.perf_counter()
            load(args.tasks, now)
            progress(f"{args.tasks:,} tasks loaded in {time.perf_counter() - started:.0f} s")
            reset(now - timedelta(days=1))
            made = deadlines.scan(now, "bench")
            reminders = db.session.scalar(sa.select(sa.func.count()).select_from(TaskReminder))
            outbox = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
            print(f"first scan (a day since the last): {made} pushes owed, {reminders} reminders recorded, "
                  f"{outbox} outbox rows; baseline count of due tasks: {due_count(now - timedelta(days=1), now)}")

            def first() -> float:
                reset(now - timedelta(days=1))
                return timed(lambda: deadlines.scan(now, "bench"))

            def first_baseline() -> float:
                return timed(lambda: due_count(now - timedelta(days=1), now))

            progress("first scans, paired with the bare count")
            result = paired(first, first_baseline, args.rounds)
            print(f"first scan: p50 {result.median('subject') * 1000:.0f} ms, bare count "
                  f"{result.median('baseline') * 1000:.1f} ms, ratio {result.ratio():.1f}x")

            clock = [now]

            def steady() -> float:
                clock[0] += timedelta(minutes=1)
                return timed(lambda: deadlines.scan(clock[0], "bench"))

            def steady_baseline() -> float:
                return timed(lambda: due_count(clock[0] - timedelta(minutes=1), clock[0]), repeat=5)

            progress("steady-state scans (a minute apart), paired with the bare count")
            result = paired(steady, steady_baseline, args.rounds * 4)
            print(f"steady-state scan: p50 {result.median('subject') * 1000:.1f} ms, bare count "
                  f"{result.median('baseline') * 1000:.2f} ms, ratio {result.ratio():.1f}x "
                  f"(the scan's fixed cost: its row lock, the organizations, the digest's look, a commit)")
            old = [old_scan_count(clock[0]) for _ in range(3)]
            shown_steady = plans(clock[0] + timedelta(minutes=1))
            reset(now - timedelta(days=1))
            shown_first = plans(now)
            print(f"the scan it replaces, its read alone (every overdue open task against the outbox): "
                  f"p50 {statistics.median(old) * 1000:.0f} ms a minute")
            for title, shown in (("a first scan", shown_first), ("a steady-state scan", shown_steady)):
                print(f"\nplans of the scan's reads of tasks ({title}):")
                for plan in shown:
                    print(plan, end="\n\n")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
