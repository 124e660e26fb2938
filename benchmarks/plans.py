"""The plans of the statements the API sends for a read, as PostgreSQL runs them.

Each read is replayed in this process against the benchmark's database and its statements recorded as
sent; each is then prepared and run on its generic plan, as the polled reads run theirs (models.raw),
under EXPLAIN ANALYZE with the values it was sent with. What is shown is what runs: the session check
and the change horizon that ride in a page's statement, the joins of a task line, the 304's version.
"""
import os
import re
from datetime import datetime

import sqlalchemy as sa
from psycopg import sql as pgsql

# PostgreSQL types of the parameters, from the values sent (psycopg sends them typed too).
_TYPES = {bool: "boolean", int: "bigint", str: "text", datetime: "timestamp"}


def statements_of(url: str, reads: dict[str, tuple[str, dict]]) -> dict[str, list[tuple[str, tuple]]]:
    """Per read (its path and headers), the statements the API sends for it, with their parameters."""
    os.environ["DATABASE_URL"] = url
    from mobile_api import create_app
    from models import db

    app = create_app()
    seen: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, dict(parameters) if isinstance(parameters, dict) else tuple(parameters or ())))

    with app.app_context():
        engines = list(db.engines.values())  # the reader engine's, where the polled reads run, too
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", record)
    client, sent = app.test_client(), {}
    for name, (path, headers) in reads.items():
        seen.clear()
        status = client.get(path, headers=headers).status_code
        if status >= 400:
            raise RuntimeError(f"{name}: {path} answered {status}")
        sent[name] = list(seen)
    return sent


def explain_generic(engine: sa.Engine, statement: str, params: tuple) -> str:
    """EXPLAIN ANALYZE of a statement sent with `%s` parameters, prepared and run on its generic plan."""
    numbered = statement.split("%s")
    text = numbered[0] + "".join(f"${i}{rest}" for i, rest in enumerate(numbered[1:], 1))
    types = ", ".join(_TYPES[type(p)] for p in params)
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        values = ", ".join(pgsql.Literal(p).as_string(driver) for p in params)
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE shown{f'({types})' if params else ''} AS {text}")
        try:
            run = f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE shown{f'({values})' if params else ''}"
            return "\n".join(conn.exec_driver_sql(run).scalars())
        finally:
            conn.exec_driver_sql("DEALLOCATE shown")


def print_plans(url: str, engine: sa.Engine, reads: dict[str, tuple[str, dict]]) -> None:
    """Each read's statements and their plans; whether any scans a whole table."""
    for name, statements in statements_of(url, reads).items():
        for n, (statement, params) in enumerate(statements, 1):
            plan = explain_generic(engine, statement, params)
            verdict = _verdict(engine, plan)
            print(f"\n{name}, statement {n} of {len(statements)} (generic plan): {verdict}\n{statement}\n{plan}",
                  flush=True)


def _verdict(engine: sa.Engine, plan: str) -> str:
    """Whether the plan reads every row of a table that has more than a few: a small table (the seed
    leaves some empty) is read whole because that is cheaper than its index; a catalog is not ours."""
    scanned = set(re.findall(r"Seq Scan on (?!pg_)(\w+)", plan))
    if not scanned:
        return "indexed"
    with engine.connect() as conn:
        rows = {name: int(conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE relname = :n"),
                                       {"n": name}).scalar()) for name in sorted(scanned)}
    small = ", ".join(f"{name} ({max(n, 0)} rows)" for name, n in rows.items())
    return "SCANS A TABLE: " + small if max(rows.values()) > 1000 else f"indexed; read whole, being small: {small}"
