"""Gunicorn for production: several Uvicorn (ASGI) worker processes.

    gunicorn config.asgi:application -c config/gunicorn.py

One Django ASGI process runs every synchronous view on a single thread, so one process
serves one page at a time; several processes serve several. `WEB_CONCURRENCY` sets their
number (default: one per core, at least 2: on a 2-core machine that also runs PostgreSQL
and the inference worker, 2 workers gave the lowest p95 and 3 or 4 no more throughput in
benchmarks/load.py; see benchmarks/README.md). WebSockets (live case pages) work in
every worker: they meet through the Redis channel layer (REDIS_URL).
"""

import os

# Read by config/settings/base.py in each worker (they load the app after the fork).
os.environ.setdefault("DATABASE_POOL_MAX", "4")

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(max(2, os.cpu_count() or 1))))
worker_class = "uvicorn_worker.UvicornWorker"
# A slow request (a 5-photo upload on a slow link) is not a hung worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, so a slow leak cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG") else None
