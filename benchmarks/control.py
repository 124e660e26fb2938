"""Execution control over the seeded region: the controller's reads, the summary, and the transitions.

    .venv/bin/python -m benchmarks.control [--users 22000 --documents 2200000] [--text-size 0] [--reuse DB] [--keep]
                                           [--parts reads,summary,stale,writes,race,plans]

Seeds its own PostgreSQL database with `flask seed` (or reuses one; the writes change it), serves the
API and the bare Flask endpoint with the same gunicorn settings and measures them as benchmarks.inbox
does (wrk, rounds paired with the bare endpoint, CPU per request of the gunicorn process tree):

- reads, for the busiest controller: every /control view, its first page and one 40 pages deep, and
  GET /resolutions/{id}/execution of their resolution with the most tasks (sub-resolutions included);
- summary: GET /control/summary over a year for the head of the largest ministry, one request at a
  time (p50, p99; target p50 < 50 ms, p99 < 200 ms), as served (whole months from task_months)
  and from the plain count of every task (a second server, SUMMARY_ROLLUP=0), in paired rounds; and
  what the counter's trigger costs each UPDATE that makes a task done;
- stale: the summary right after a tenth of the ministry's month counts were written, against the same
  after VACUUM (what migration 0027's autovacuum settings keep up with);
- writes: reports by many executors on their open tasks, accepts and returns of waiting reports by
  their reviewers, each request a different task (target 200/s each);
- race: 10 accepts of one report released together: exactly one 200;
- plans: EXPLAIN (ANALYZE, BUFFERS) of every statement each read sends, on the generic plan.
"""
import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import timezone

import sqlalchemy as sa

from benchmarks import plans
from benchmarks.serving import call, in_rounds, measure, need_wrk, seeded_database, serve, sign_in, wrk
from tests.support.timing import Paired, paired

VIEWS = ("reports", "extensions", "overdue", "due_soon", "open", "executed")
DEEP = 40  # pages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=22000)
    parser.add_argument("--documents", type=int, default=2_200_000)
    parser.add_argument("--text-size", type=int, default=0,
                        help="documents' text (characters; the seed's default 2500): no control read touches it")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", help="an already seeded database (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--parts", default="reads,summary,stale,writes,race,plans")
    args = parser.parse_args()
    need_wrk()
    with seeded_database("bench_control", args, "--text-size", str(args.text_size)) as (url, engine):
        run(args, url, engine)


def _deep_cursor(conn, controller: int, view: str) -> str | None:
    """The cursor of page DEEP (25 a page) of a view, as the API encodes it; None if it is shorter."""
    from domain.paging import encode
    now = "now() at time zone 'utc'"
    mine = f"t.controller_id = {controller} AND NOT t.removed"
    query = {
        "reports": (f"t.reviewer_id = {controller} AND t.status = 'reported' AND NOT t.removed", "t.reported_at",
                    "t.id", "DESC"),
        "extensions": (f"e.decider_id = {controller} AND e.status = 'pending'", "e.created_at", "e.id", "DESC"),
        "overdue": (f"{mine} AND t.status <> 'done' AND t.deadline < {now}", "t.deadline", "t.id", "ASC"),
        "due_soon": (f"{mine} AND t.status <> 'done' AND t.deadline >= {now} AND t.deadline < {now} + interval "
                     "'3 days'", "t.deadline", "t.id", "ASC"),
        "open": (f"{mine} AND t.status <> 'done'", "t.created_at", "t.id", "DESC"),
        "executed": (f"{mine} AND t.status = 'done' AND NOT t.withdrawn AND r.status = 'executed'", "t.completed_at",
                     "t.id", "DESC"),
    }[view]
    where, at, key, order = query
    row = conn.execute(sa.text(
        f"SELECT {at}, {key} FROM tasks t JOIN resolutions r ON r.id = t.resolution_id "
        f"LEFT JOIN extension_requests e ON e.task_id = t.id AND e.status = 'pending' WHERE {where} "
        f"ORDER BY {at} {order}, {key} {order} OFFSET {DEEP * 25 - 1} LIMIT 1")).first()
    return encode(row[0].replace(tzinfo=timezone.utc), row[1]) if row else None


def run(args, url, engine) -> None:  # noqa: C901 - one script, read top to bottom
    with engine.connect() as conn:
        size = conn.execute(sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("users", "documents", "resolutions", "tasks", "task_reports", "extension_requests")}
        boss = conn.execute(sa.text(
            "SELECT u.id, u.username, t.n FROM users u JOIN (SELECT controller_id, count(*) n FROM tasks "
            "WHERE control GROUP BY controller_id ORDER BY n DESC LIMIT 1) t ON t.controller_id = u.id")).one()
        tree = conn.execute(sa.text(
            "SELECT r.id, (SELECT count(*) FROM tasks t WHERE t.resolution_id = r.id) + (SELECT count(*) FROM "
            "tasks t JOIN resolutions s ON s.parent_task_id = t.id JOIN tasks st ON st.resolution_id = s.id "
            "WHERE t.resolution_id = r.id) n FROM resolutions r WHERE r.controller_id = :c AND r.parent_task_id "
            "IS NULL ORDER BY n DESC, r.id DESC LIMIT 1"), {"c": boss.id}).one()
        largest = conn.execute(sa.text(
            "SELECT organization_id FROM users GROUP BY organization_id ORDER BY count(*) DESC LIMIT 1")).scalar()
        head = conn.execute(sa.text(
            "SELECT u.username FROM users u JOIN unit_members m ON m.user_id = u.id JOIN units n ON n.id = m.unit_id "
            "WHERE n.organization_id = :o AND n.parent_id IS NULL AND u.roles = 'executive' ORDER BY u.id LIMIT 1"),
            {"o": largest}).scalar()
        in_summary = conn.execute(sa.text(
            "SELECT count(*) FROM tasks t JOIN users u ON u.id = t.executor_id WHERE u.organization_id = :o "
            "AND t.control AND NOT t.withdrawn AND t.created_at > now() - interval '1 year'"), {"o": largest}).scalar()
        deep = {view: _deep_cursor(conn, boss.id, view) for view in VIEWS}
    print(f"database: {size}; rows: {counts}", flush=True)
    print(f"busiest controller: {boss.username} ({boss.n} controlled tasks); tree: resolution {tree.id} with "
          f"{tree.n} tasks; largest ministry: organization {largest}, head {head}, {in_summary} tasks in its "
          f"year's summary", flush=True)

    api = serve("wsgi:app", url, args.workers)
    bare = serve("benchmarks.bare_app:app", url, args.workers)
    try:
        def login(username):
            return sign_in(api, username)
        auth = {"Authorization": f"Bearer {login(boss.username)}"}
        reads = {"bare flask JSON": (bare, "/bare", {})}
        for view in VIEWS:
            reads[f"control {view} p1"] = (api, f"/api/v1/control?view={view}", auth)
            if deep[view]:
                reads[f"control {view} p{DEEP}"] = (api, f"/api/v1/control?view={view}&cursor={deep[view]}", auth)
        reads["execution tree"] = (api, f"/api/v1/resolutions/{tree.id}/execution", auth)
        head_token = login(head)
        head_auth = {"Authorization": f"Bearer {head_token}"}
        now = time.gmtime()
        year = (f"/api/v1/control/summary?from={now.tm_year - 1}-{now.tm_mon:02d}-{min(now.tm_mday, 28):02d}"
                f"&to={time.strftime('%Y-%m-%d', now)}")
        summary_read = {"summary, largest ministry": (api, year, head_auth)}
        if "reads" in args.parts:
            results = in_rounds(reads, args.rounds, args.seconds)
            print(f"\n{'read':<24}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms/req':>11}{'x bare CPU':>11}"
                  f"{'x bare req/s':>13}{'DB ms/req':>10}{'bad':>6}")
            for name, runs in results.items():
                base = results["bare flask JSON"]
                cpu = Paired(base, runs).ratio("cpu_ms")
                rate = Paired(runs, base).ratio("rps")
                med = {k: statistics.median(x[k] for x in runs) for k in ("rps", "p50", "p99", "cpu_ms", "db_ms")}
                print(f"{name:<24}{med['rps']:>8.0f}{med['p50']:>8.2f}{med['p99']:>8.2f}{med['cpu_ms']:>11.2f}"
                      f"{cpu:>11.2f}{rate:>13.2f}{med['db_ms']:>10.2f}{sum(x['bad'] for x in runs):>6}")
            print("(x bare CPU: bare's CPU per request / this one's; x bare req/s: this one's requests/s / bare's;\n"
                  " medians of paired rounds; target >= 0.5. CPU: the gunicorn processes; DB: every PostgreSQL "
                  "process)", flush=True)

        if "summary" in args.parts:
            _summary(args, url, api, year, head_token)
            _write_cost(args, engine)
        if "stale" in args.parts:
            _stale(args, engine, api, year, head_token, largest)

        if "writes" in args.parts:
            _writes(args, api, engine, login)
        if "race" in args.parts:
            _race(api, engine, login)
    finally:
        api.stop()
        bare.stop()
    if "plans" in args.parts:
        _plans(url, engine, {**{name: (path, hdrs) for name, (server, path, hdrs) in reads.items() if server is api},
                             **{name: (path, hdrs) for name, (_, path, hdrs) in summary_read.items()}})


def _summary(args, url, api, year, token) -> None:
    """The summary as served (whole months from task_months) against the plain count of every task
    (a second server with SUMMARY_ROLLUP=0), one request at a time, in paired rounds: the same answer,
    and each one's p50 and p99."""
    plain = serve("wsgi:app", url, args.workers, SUMMARY_ROLLUP="0")
    try:
        _, body, _ = call(api.port, "GET", year, token)
        _, same, _ = call(plain.port, "GET", year, token)
        print(f"\nsummary of {len(body['units'])} units, {len(body['executors'])} executors; total "
              f"{body['total']}; {'the same as' if body == same else 'DIFFERENT FROM'} the plain count's", flush=True)
        auth = {"Authorization": f"Bearer {token}"}

        def alone(server):
            return lambda: wrk(server.port, year, args.seconds * 2, auth, connections=1)
        rounds = paired(alone(api), alone(plain), max(args.rounds, 3))
        for key in ("p50", "p99"):
            print(f"summary, largest ministry, a year, one request at a time, {key}: rollup "
                  f"{rounds.median('subject', key):.1f} ms, plain {rounds.median('baseline', key):.1f} ms, "
                  f"plain / rollup {1 / rounds.ratio(key):.2f} (median of {len(rounds.subject)} paired rounds)",
                  flush=True)
        print("(target p50 < 50 ms, p99 < 200 ms)", flush=True)
        # The apps ask for gzip, as every HTTP client of a phone does: what compressing the answer adds.
        gzip = paired(lambda: wrk(api.port, year, args.seconds * 2, {**auth, "Accept-Encoding": "gzip"}, connections=1),
                      alone(api), max(args.rounds, 3))
        print(f"summary as the apps ask for it (Accept-Encoding: gzip): p50 {gzip.median('subject', 'p50'):.1f} ms, "
              f"p99 {gzip.median('subject', 'p99'):.1f} ms; gzip / identity p50 {gzip.ratio('p50'):.2f} (median of "
              f"{len(gzip.subject)} paired rounds)", flush=True)
    finally:
        plain.stop()


def _stale(args, engine, api, year, token, organization: int, changes: int = 5000) -> None:
    """What the summary pays for pages that writes took out of the visibility map: its p50 right after
    `changes` of the ministry's month counts were written (each row written again as it is, as reports
    and accepts write them; a tenth of its rows), against the same after VACUUM, which autovacuum runs
    after 1,000 changes since migration 0027 (63,000 before); paired rounds, autovacuum held off the
    table meanwhile."""
    auth = {"Authorization": f"Bearer {token}"}
    vacuum = engine.execution_options(isolation_level="AUTOCOMMIT")

    def stale() -> dict:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE task_months SET on_time = on_time WHERE (executor_id, month) IN (SELECT executor_id, month "
                "FROM task_months WHERE organization_id = :o ORDER BY random() LIMIT :n)"),
                {"o": organization, "n": changes})
        return wrk(api.port, year, args.seconds * 2, auth, connections=1)

    def vacuumed() -> dict:
        with vacuum.connect() as conn:
            conn.execute(sa.text("VACUUM task_months"))
        return wrk(api.port, year, args.seconds * 2, auth, connections=1)
    with vacuum.connect() as conn:
        conn.execute(sa.text("ALTER TABLE task_months SET (autovacuum_enabled = off)"))
    try:
        rounds = paired(stale, vacuumed, max(args.rounds, 3))
    finally:
        with vacuum.connect() as conn:
            conn.execute(sa.text("ALTER TABLE task_months RESET (autovacuum_enabled)"))
            conn.execute(sa.text("VACUUM task_months"))
    print(f"\nsummary after {changes} month counts written, p50: {rounds.median('subject', 'p50'):.1f} ms; after "
          f"VACUUM {rounds.median('baseline', 'p50'):.1f} ms; stale / vacuumed {rounds.ratio('p50'):.2f} (median of "
          f"{len(rounds.subject)} paired rounds)", flush=True)


def _write_cost(args, engine, n: int = 2000) -> None:
    """What task_months costs each write: n controlled open tasks made done one statement at a
    time (each firing the trigger's upsert) against the same with the triggers disabled, paired rounds,
    every round rolled back."""
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM tasks WHERE control AND status = 'open' AND NOT removed AND "
                                   "NOT withdrawn ORDER BY id LIMIT :n"), {"n": n}).scalars().all()

    def done(triggers: bool):
        def run() -> float:
            with engine.connect() as conn, conn.begin() as tx:
                if not triggers:
                    conn.execute(sa.text("ALTER TABLE tasks DISABLE TRIGGER tasks_months_update"))
                started = time.perf_counter()
                for task in ids:
                    conn.execute(sa.text("UPDATE tasks SET status = 'done', completed_at = now() WHERE id = :t"),
                                 {"t": task})
                spent = time.perf_counter() - started
                tx.rollback()
            return spent * 1000 / len(ids)
        return run
    rounds = paired(done(True), done(False), max(args.rounds, 5))
    print(f"\nmaking a task done, one UPDATE: {rounds.median('subject'):.3f} ms with the counter's trigger, "
          f"{rounds.median('baseline'):.3f} ms without; with / without {rounds.ratio():.2f} (median of "
          f"{len(rounds.subject)} paired rounds of {len(ids)} tasks)", flush=True)


def _plans(url, engine, reads) -> None:
    """benchmarks.plans for the plain statements (`%s`, run on their generic plan as the server runs
    them); the ORM's (named parameters: the tree, the summary) with the values they were sent."""
    for name, statements in plans.statements_of(url, reads).items():
        for n, (statement, params) in enumerate(statements, 1):
            if "%s" in statement or not params:
                plan, how = plans.explain_generic(engine, statement, params), "generic plan"
            else:
                with engine.connect() as conn:
                    conn.exec_driver_sql("SET jit = off")
                    plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}",
                                                           params).scalars())
                how = "as sent"
            print(f"\n{name}, statement {n} of {len(statements)} ({how}): {plans._verdict(engine, plan)}\n"
                  f"{statement}\n{plan}", flush=True)


def _script(method: str, items: list[tuple[str, str]], body: dict) -> str:
    """A wrk script sending each (path, token) once, in turn, with the same JSON body."""
    rows = ",\n".join(f'{{"{path}", "{token}"}}' for path, token in items)
    return (f'local items = {{\n{rows}\n}}\nlocal i = 0\nlocal body = [[{json.dumps(body, ensure_ascii=False)}]]\n'
            "request = function()\n  i = i % #items + 1\n"
            f'  return wrk.format("{method}", items[i][1], {{["Authorization"] = "Bearer " .. items[i][2], '
            '["Content-Type"] = "application/json"}, body)\nend\n'
            "response = function(status, headers, body)\n"
            '  if status >= 300 then io.write("failed: ", status, " ", body:sub(1, 200), "\\n") end\nend\n')


def _writes(args, api, engine, login) -> None:
    """Each transition on a different task, by the person the rule lets act, 4 connections."""
    need = 400 * args.seconds * 2 * args.rounds  # more tasks than 400/s would use
    with engine.connect() as conn:
        open_tasks = conn.execute(sa.text(
            "SELECT t.id, u.username FROM tasks t JOIN users u ON u.id = t.executor_id WHERE t.control "
            "AND t.status = 'open' AND NOT t.removed AND t.executor_id IN (SELECT executor_id FROM tasks WHERE "
            "control AND status = 'open' GROUP BY executor_id ORDER BY count(*) DESC LIMIT 300) "
            "ORDER BY t.id LIMIT :n"), {"n": need}).all()
        waiting = conn.execute(sa.text(
            "SELECT t.id, u.username FROM tasks t JOIN users u ON u.id = t.reviewer_id WHERE t.status = 'reported' "
            "AND NOT t.removed AND t.reviewer_id IN (SELECT reviewer_id FROM tasks WHERE status = 'reported' "
            "GROUP BY reviewer_id ORDER BY count(*) DESC LIMIT 300) ORDER BY t.id LIMIT :n"), {"n": 2 * need}).all()
    tokens: dict[str, str] = {}
    for username in sorted({u for _, u in open_tasks} | {u for _, u in waiting}):
        tokens[username] = login(username)
    print(f"\nwrites: {len(open_tasks)} open tasks of {len({u for _, u in open_tasks})} executors, {len(waiting)} "
          f"reports waiting for {len({u for _, u in waiting})} reviewers ({len(tokens)} sign-ins)", flush=True)
    half = len(waiting) // 2
    plans_ = {"report": ("report", open_tasks, {"text": "Ответ направлен заявителю"}),
              "accept": ("accept", waiting[:half], {"comment": "Принято"}),
              "return": ("return", waiting[half:], {"comment": "Дополнить расчётами"})}
    for label, (action, items, body) in plans_.items():
        per_round = len(items) // args.rounds
        runs = []
        for n in range(args.rounds):
            chunk = [(f"/api/v1/tasks/{task}/{action}", tokens[user])
                     for task, user in items[n * per_round:(n + 1) * per_round]]
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
                lua.write(_script("POST", chunk, body))
            runs.append(measure(api, chunk[0][0], args.seconds * 2, None, lua.name))
        mid = {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99", "cpu_ms", "db_ms")}
        rates = sorted(r["rps"] for r in runs)
        print(f"{label}: {mid['rps']:.0f}/s, median of {len(runs)} runs ({rates[0]:.0f}-{rates[-1]:.0f}; target 200), "
              f"p50 {mid['p50']:.1f} ms, p99 {mid['p99']:.1f} ms, CPU {mid['cpu_ms']:.2f} ms each "
              f"(DB {mid['db_ms']:.2f} ms), non-2xx {sum(r['bad'] for r in runs)} of "
              f"{sum(r['requests'] for r in runs)}", flush=True)
        for failure in sorted({f for r in runs for f in r["failed"]})[:5]:
            print(f"  answered {failure}", flush=True)


def _race(api, engine, login) -> None:
    """10 accepts of one waiting report, released together."""
    with engine.connect() as conn:
        task, user = conn.execute(sa.text(
            "SELECT t.id, u.username FROM tasks t JOIN users u ON u.id = t.reviewer_id WHERE t.status = 'reported' "
            "ORDER BY t.id DESC LIMIT 1")).one()
    token = login(user)
    start, answers = threading.Barrier(10), []

    def accept():
        start.wait()
        try:
            answers.append(call(api.port, "POST", f"/api/v1/tasks/{task}/accept", token, body={})[0])
        except Exception as exc:  # urllib raises on 409
            answers.append(getattr(exc, "code", str(exc)))
    threads = [threading.Thread(target=accept) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        decided = conn.execute(sa.text("SELECT count(*) FROM task_reports WHERE task_id = :t AND outcome = "
                                       "'accepted'"), {"t": task}).scalar()
    print(f"\n10 simultaneous accepts of one report: answers {sorted(answers, key=str)}; "
          f"{answers.count(200)} answered 200, {decided} report accepted (target: exactly one)", flush=True)


if __name__ == "__main__":
    main()
