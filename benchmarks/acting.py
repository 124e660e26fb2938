"""Acting for others on the polled reads: a deputy's inbox and /sync, acting for one and for three
principals, against the same user without a substitution.

    nice -n 10 .venv/bin/python -m benchmarks.acting [--users 3000 --documents 150000] [--reuse DB] [--keep]

Seeds its own PostgreSQL database with `flask seed` (or reuses one) and serves the API on the same
gunicorn settings as benchmarks.inbox, through the machinery they share (benchmarks.serving: wrk, server
CPU per request read from /proc). The deputy is an employee; the principals are the three executives of
the deputy's organization with the largest inboxes. Each round measures the same reads three times: the
deputy alone, acting for one principal (a substitution made through the API: the principal's lines are
copied into the deputy's inbox), and acting for three; then the substitutions are deleted through the
API (the copies become tombstones, revived by the next round's). Reported: CPU per request, and the
median over rounds of each round's ratio to the deputy alone. Target: acting costs within 20%
(ratio <= 1.20).
"""
import argparse
import statistics
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from benchmarks.serving import call, measure, need_wrk, seeded_database, serve, sign_in
from tests.support.timing import Paired

READS = {"inbox p1": "/api/v1/inbox", "inbox unread p1": "/api/v1/inbox?view=unread",
         "sync from zero": "/api/v1/sync?limit=100", "sync incremental": None}
STATES = ("alone", "for 1", "for 3")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--documents", type=int, default=150_000)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", help="an already seeded database (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args()
    need_wrk()
    with seeded_database("bench_acting", args) as (url, engine):
        run(args, url, engine)


def _people(engine) -> tuple[tuple, list[tuple]]:
    """The deputy (the employee with the largest inbox) and three executives of their organization
    with the largest inboxes."""
    with engine.connect() as conn:
        deputy = conn.execute(sa.text(
            "SELECT u.id, u.username, u.organization_id FROM users u JOIN (SELECT user_id, count(*) n FROM inbox_items "
            "WHERE for_user_id IS NULL GROUP BY user_id) t ON t.user_id = u.id WHERE u.roles = 'employee' "
            "ORDER BY t.n DESC LIMIT 1")).one()
        principals = conn.execute(sa.text(
            "SELECT u.id, u.username, t.n FROM users u JOIN (SELECT user_id, count(*) n FROM inbox_items "
            "WHERE NOT removed AND for_user_id IS NULL GROUP BY user_id) t ON t.user_id = u.id "
            "WHERE u.organization_id = :o AND u.roles LIKE '%executive%' ORDER BY t.n DESC LIMIT 3"),
            {"o": deputy.organization_id}).all()
        own = conn.execute(sa.text("SELECT count(*) FROM inbox_items WHERE user_id = :u AND NOT removed"),
                           {"u": deputy.id}).scalar()
        size = conn.execute(sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in ("users", "inbox_items")}
    print(f"database: {size}; rows: {counts}")
    print(f"deputy {deputy.username}: {own} lines of their own; principals: "
          + ", ".join(f"{p.username} ({p.n} lines)" for p in principals), flush=True)
    return deputy, principals


def run(args, url, engine) -> None:
    deputy, principals = _people(engine)
    api = serve("wsgi:app", url, args.workers)
    try:
        def login(username):
            return sign_in(api, username)

        token = login(deputy.username)
        auth = {"Authorization": f"Bearer {token}"}
        tokens = {p.username: login(p.username) for p in principals}

        def deputize(principal) -> str:
            now = datetime.now(timezone.utc)
            body = {"deputy": str(deputy.id), "starts_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"), "scopes": ["inbox"]}
            status, made, _ = call(api.port, "POST", "/api/v1/substitutions", tokens[principal.username], body=body)
            assert status == 201, made
            return made["id"]

        def caught_up() -> str:
            _, synced, _ = call(api.port, "GET", "/api/v1/sync?limit=500", token)
            while synced["has_more"]:
                _, synced, _ = call(api.port, "GET", f"/api/v1/sync?limit=500&since={synced['next']}", token)
            return synced["next"]

        def measure_all(state: str, results: dict) -> None:
            since = caught_up()
            for read, path in READS.items():
                path = path or f"/api/v1/sync?since={since}"
                print(f"  {state}: {read}...", flush=True)
                results[(state, read)].append(measure(api, path, args.seconds, auth))

        results = {(state, read): [] for state in STATES for read in READS}
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            measure_all("alone", results)
            made = [deputize(principals[0])]
            measure_all("for 1", results)
            made += [deputize(p) for p in principals[1:]]
            measure_all("for 3", results)
            for substitution_id, principal in zip(made, principals):
                call(api.port, "DELETE", f"/api/v1/substitutions/{substitution_id}", tokens[principal.username])
        with engine.connect() as conn:
            copies = conn.execute(sa.text("SELECT count(*) FROM inbox_items WHERE user_id = :u AND for_user_id "
                                          "IS NOT NULL"), {"u": deputy.id}).scalar()
        print(f"\n{'read':<18}{'state':<8}{'req/s':>8}{'p50 ms':>8}{'CPU ms/req':>11}{'x alone':>9}{'DB ms/req':>10}"
              f"{'bad':>5}")
        worst = 0.0
        for read in READS:
            for state in STATES:
                runs = results[(state, read)]
                ratio = Paired(runs, results[("alone", read)]).ratio("cpu_ms")
                if state != "alone":
                    worst = max(worst, ratio)
                med = {k: statistics.median(x[k] for x in runs) for k in ("rps", "p50", "cpu_ms", "db_ms")}
                print(f"{read:<18}{state:<8}{med['rps']:>8.0f}{med['p50']:>8.2f}{med['cpu_ms']:>11.2f}{ratio:>9.2f}"
                      f"{med['db_ms']:>10.2f}{sum(x['bad'] for x in runs):>5}")
        print(f"(x alone: CPU per request of the gunicorn processes / the deputy alone's, median of {args.rounds} "
              f"paired rounds; target <= 1.20)\nworst ratio: {worst:.2f}; copies kept in the deputy's inbox "
              f"(live and tombstones): {copies}")
    finally:
        api.stop()


if __name__ == "__main__":
    main()
