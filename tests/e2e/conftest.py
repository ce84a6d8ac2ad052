"""A real browser (Debian's chromium through Playwright), a real server and a real Celery worker."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from django.db import connection, connections


def _asgi_application() -> Any:
    from channels.routing import get_default_application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(get_default_application())


@pytest.fixture
def server_url(
    request: pytest.FixtureRequest, settings: Any, transactional_db: None
) -> Iterator[str]:
    """Daphne (ASGI, WebSockets) when pages get pushes over Redis, else Django's live server.

    Pushes need a channel layer shared between processes (REDIS_URL) and a server that
    speaks WebSockets; Daphne runs in a child process, so the database must not be an
    in-memory SQLite one. Without those the page polls, which the live server covers.
    """
    if not settings.CLAIMS_LIVE_PUSH or connection.vendor == "sqlite":
        settings.CLAIMS_LIVE_PUSH = False  # the page polls: no socket to wait for
        yield request.getfixturevalue("live_server").url
        return
    from daphne.testing import DaphneProcess

    server = DaphneProcess("127.0.0.1", partial(_asgi_application))
    server.start()
    try:
        if not server.ready.wait(timeout=30):
            raise RuntimeError("Daphne did not start within 30 s")
        yield f"http://127.0.0.1:{server.port.value}"
    finally:
        server.terminate()
        server.join(timeout=10)


def _worker(queues: list[str]) -> Iterator[Any]:
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.control.purge()  # messages other tests left for ids that no longer exist
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=queues,
        loglevel="WARNING",
    ) as worker:
        yield worker
    connections.close_all()


@pytest.fixture
def celery_worker_thread(transactional_db: None) -> Iterator[Any]:
    """A worker consuming the configured broker (files by default, Redis in CI)."""
    yield from _worker(["cpu"])


@pytest.fixture
def celery_worker_training(transactional_db: None) -> Iterator[Any]:
    """A worker of the photo queue and of the training queue (bin/run runs two)."""
    yield from _worker(["cpu", "training"])
