"""gunicorn settings; each can be overridden from the environment."""
import gc
import multiprocessing
import os
import shutil
import tempfile

# Loopback unless told otherwise: a web node behind a load balancer sets BIND=0.0.0.0:8000.
bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", "2"))
# A threaded worker accepts every connection it can (up to worker_connections, kept-alive ones
# included), busy or not: a few long-lived connections (a load balancer's pool, a benchmark's) may
# all land on one worker and leave the others idle. Equal to `threads`, keep-alive is off and every
# request's connection is spread by the kernel; gunicorn's default is 1000.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "1000"))
timeout = 60
graceful_timeout = 30
# Uploads of recordings travel over slow mobile links; keep-alive saves a TLS handshake per request.
keepalive = 5
accesslog = "-" if os.environ.get("ACCESS_LOG", "1") == "1" else None
# Workers are replaced now and then to bound slow leaks; MAX_REQUESTS=0 keeps them (benchmarks,
# where a restart's imports would be counted as request CPU).
max_requests = int(os.environ.get("MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10

# Prometheus counters of all workers are summed at /metrics (prometheus_client's multiprocess
# mode): each worker writes its values to files in this directory. It must be set before any
# worker imports prometheus_client, hence here, in the master.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mobile-metrics-")
    _own_metrics_dir = True
else:
    _own_metrics_dir = False


def on_starting(server):
    """Start from empty counters: files left by an earlier master would be summed in."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def child_exit(server, worker):
    """A worker that exits (max_requests, a crash) keeps its counts, but its live gauges go."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def post_worker_init(worker):
    """What the worker loaded to serve (modules, the app, its schemas and compiled statements) is kept
    out of the garbage collector's sweeps: they never become garbage, and a full sweep over them cost a
    request that happened to trigger it about 120 ms of CPU (a ministry's summary: 40 ms without)."""
    gc.freeze()
