"""Health, readiness and Prometheus metrics for operators."""
import hmac
import ipaddress
import os
import time

import sqlalchemy as sa
from flask import Response, current_app, g, request
from marshmallow import Schema, fields
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from models import Job, OutboxMessage, ProcessHeartbeat, db
from models.queue import read_db_now

from ..blueprint import Blueprint
from ..errors import ApiError, problem
from ..openapi import declare, errors

blp = Blueprint("ops", __name__, description="Operations")


class Health(Schema):
    status = fields.String(metadata={"enum": ["ok"]})


class Readiness(Schema):
    status = fields.String(metadata={"enum": ["ready"]})
    checks = fields.Dict(keys=fields.String(), values=fields.String(metadata={"enum": ["ok"]}))


@blp.route("/healthz", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, Health)
def healthz():
    """The process is up."""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, Readiness)
@errors("not_ready")
def readyz():
    """Ready when the database answers, a transcription worker and a push dispatcher (and, with TSA_URL, a
    time-stamp worker) are alive, and none of their loops is dead or stalled (each loop keeps its own
    heartbeat in the database)."""
    checks = {}
    try:
        checks.update(_background_checks())
        checks = {"database": "ok", **checks}
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        checks["database"] = "unreachable"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks}
    reason = "Not ready: " + "; ".join(f"{k} {v}" for k, v in checks.items() if v != "ok")
    return problem(503, "not_ready", reason, headers={"Retry-After": "5"})


def _background_checks() -> dict[str, str]:
    """Per kind of background process: 'ok', or why not, judged by the database's clock."""
    now = read_db_now()
    cap = current_app.config["READY_MAX_SILENCE_S"]
    rows = db.session.scalars(sa.select(ProcessHeartbeat).order_by(ProcessHeartbeat.name)).all()

    def silent(row) -> float:
        return (now - row.seen_at).total_seconds()

    live = {r.name for r in rows if r.process in (None, r.name) and silent(r) <= min(r.silence_s, cap)}
    checks = {}
    # With a TSA, the time-stamp process must be there too: it attaches the tokens requests did not get in time.
    for kind in ("worker", "push", *(("timestamps",) if current_app.config.get("TSA_URL") else ())):
        if not any(r.kind == kind and r.name in live for r in rows):
            checks[kind] = "not seen recently (no live process)"
            continue
        stalled = [f"{r.name} silent for {silent(r):.0f} s ({r.state or 'no state'})" for r in rows
                   if r.kind == kind and r.process in live and r.name != r.process and silent(r) > r.silence_s]
        checks[kind] = "ok" if not stalled else "loop stalled or dead: " + ", ".join(stalled)
    return checks


class _QueueCollector:
    """Queue depths read from the database at scrape time, correct whatever process serves it."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        with self.app.app_context():
            for name, model in (("jobs", Job), ("outbox", OutboxMessage)):
                gauge = GaugeMetricFamily(f"mobile_{name}", f"Rows in the {name} table by status", labels=["status"])
                for status, count in db.session.execute(
                        sa.select(model.status, sa.func.count()).group_by(model.status)):
                    gauge.add_metric([status], count)
                yield gauge


def init_metrics(app) -> None:
    """Count requests and their latency per endpoint; expose queue depths.

    Under gunicorn (PROMETHEUS_MULTIPROC_DIR set by gunicorn.conf.py) every worker writes its
    counts to files in that directory and /metrics sums all workers, whichever one answers.
    """
    registry = CollectorRegistry()
    requests_total = Counter("mobile_http_requests_total", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("mobile_http_request_seconds", "HTTP request latency", ["endpoint"], registry=registry)
    app.extensions["metrics_registry"] = registry
    app.extensions["metrics_queues"] = _QueueCollector(app)

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    # Each series' child, found once: `labels` checks and converts its values on every call.
    counted, timed = {}, {}

    @app.after_request
    def _observe(resp):
        endpoint, status = request.endpoint or "unmatched", resp.status_code
        counter = counted.get((endpoint, status))
        if counter is None:
            counter = counted[endpoint, status] = requests_total.labels(endpoint, str(status))
        counter.inc()
        if "started" in g:
            timer = timed.get(endpoint)
            if timer is None:
                timer = timed[endpoint] = latency.labels(endpoint)
            timer.observe(time.perf_counter() - g.started)
        return resp


def _scrape_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = current_app.extensions["metrics_registry"]
    return registry


class _Both:
    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def _from_this_machine(address: str | None) -> bool:
    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:  # a unix socket's peer has no address: it is on this machine
        return address == ""
    return (getattr(peer, "ipv4_mapped", None) or peer).is_loopback


def _check_scraper() -> None:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise ApiError(401, "unauthorized", "Send the metrics token as a bearer token.",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    elif not _from_this_machine(request.remote_addr):
        raise ApiError(403, "forbidden", "Metrics answer this machine only; set METRICS_TOKEN to scrape from afar.")


@blp.route("/metrics", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, description="Prometheus text format", content_type="text/plain")
@declare(responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
@errors("unauthorized", "forbidden")
def metrics():
    """Prometheus metrics: for the machine itself, or with `Authorization: Bearer $METRICS_TOKEN`."""
    _check_scraper()
    return Response(generate_latest(_Both(_scrape_registry(), current_app.extensions["metrics_queues"])),
                    mimetype="text/plain; version=0.0.4")
