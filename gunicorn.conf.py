"""gunicorn settings; each can be overridden from the environment."""
import multiprocessing
import os

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = 60
graceful_timeout = 30
# Uploads of recordings travel over slow mobile links; keep-alive saves a TLS handshake per request.
keepalive = 5
accesslog = "-" if os.environ.get("ACCESS_LOG", "1") == "1" else None
max_requests = 5000
max_requests_jitter = 500
