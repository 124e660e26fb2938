"""Health, readiness and Prometheus metrics for operators."""
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Response, current_app, g, request
from flask_smorest import Blueprint
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from models import Job, OutboxMessage, ProcessHeartbeat, db, utcnow

from ..errors import problem

blp = Blueprint("ops", __name__, description="Operations")


@blp.route("/healthz", methods=["GET"])
@blp.doc(security=[])
@blp.response(200)
def healthz():
    """The process is up."""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.doc(security=[])
@blp.response(200)
@blp.alt_response(503, description="not ready")
def readyz():
    """Ready when the database answers and a transcription worker and a push dispatcher were seen lately."""
    checks = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
        since = utcnow() - timedelta(seconds=current_app.config["READY_MAX_SILENCE_S"])
        for kind in ("worker", "push"):
            seen = db.session.scalar(
                sa.select(sa.func.max(ProcessHeartbeat.seen_at)).where(ProcessHeartbeat.kind == kind))
            checks[kind] = "ok" if seen is not None and seen >= since else "not seen recently"
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        checks["database"] = "unreachable"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ready", "checks": checks}
    resp = problem(503, "not_ready", "Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items() if v != "ok"))
    return resp


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
    """Count requests and their latency per endpoint; expose queue depths."""
    registry = CollectorRegistry()
    requests_total = Counter("mobile_http_requests_total", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("mobile_http_request_seconds", "HTTP request latency", ["endpoint"], registry=registry)
    registry.register(_QueueCollector(app))
    app.extensions["metrics_registry"] = registry

    @app.before_request
    def _start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def _observe(resp):
        endpoint = request.endpoint or "unmatched"
        requests_total.labels(endpoint, str(resp.status_code)).inc()
        if "started" in g:
            latency.labels(endpoint).observe(time.perf_counter() - g.started)
        return resp


@blp.route("/metrics", methods=["GET"])
@blp.doc(security=[])
@blp.response(200, description="Prometheus text format")
def metrics():
    """Prometheus metrics."""
    return Response(generate_latest(current_app.extensions["metrics_registry"]),
                    mimetype="text/plain; version=0.0.4")
