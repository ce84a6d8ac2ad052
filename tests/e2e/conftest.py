"""A real browser (Debian's chromium through Playwright) and a real Celery worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import CHROMIUM, chromium_available

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not chromium_available():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def celery_worker_thread(transactional_db: None) -> Iterator[Any]:
    """A worker consuming the configured broker (files by default, Redis in CI)."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, queues=["cpu"], loglevel="WARNING"
    ) as worker:
        yield worker
