"""The training run page in a real browser, as the admin who started the run sees it while
it finishes: the "queued" message goes once the run has left the queue, and a long log line
wraps instead of widening the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from learning.models import TrainingRun
from tests.conftest import page_as
from tests.learning.conftest import make_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "validation-figures:" + "0123456789" * 150  # one unbroken 1,519-character line


def test_queued_message_goes_and_a_long_log_line_wraps(
    browser: Any, live_server: Any, admin_user: Any, shipped_model: Any, tmp_path: Path, sent: Any
) -> None:
    make_snapshot(root=tmp_path / "exports")
    page = page_as(browser, live_server.url, admin_user)
    page.goto(f"{live_server.url}{reverse('learning:new')}")
    page.select_option("#id_start_version", str(shipped_model.pk))
    page.check("#id_snapshots_0")
    page.fill("#id_epochs", "1")
    page.click("#start-training")
    page.locator("#training-run").wait_for()
    run = TrainingRun.objects.get()
    assert sent == [run.pk]
    queued = page.locator("ul.messages li")
    assert queued.inner_text() == f"Training run {run.pk} is queued for the training worker."
    assert page.locator("#progress-phase").inner_text() == "queued"

    # The worker trains the run and finishes it (rows and log as it leaves them).
    Path(run.out_dir).mkdir(parents=True)
    Path(run.log_path).write_text(
        f"2026-12-01T10:00:00+00:00 attempt 1: starting\n{LONG}\n"
        "epoch 1: loss 0.4210, parts: no part labels, damage mIoU 0.1746 (best)\n"
    )
    TrainingRun.objects.filter(pk=run.pk).update(
        status=TrainingRun.Status.DONE,
        progress={"phase": "done", "epoch": 1, "epochs": 1, "step": 1, "steps": 1},
    )
    page.locator("#run-status", has_text="Done").wait_for()
    assert page.locator("#progress-phase").inner_text() == "done"
    assert queued.count() == 0  # the message that the run is queued is gone
    assert "no part labels" in page.locator("#run-log").inner_text()
    widths = page.evaluate(
        """() => { const log = document.getElementById("run-log");
                   return [document.documentElement.scrollWidth, window.innerWidth,
                           log.scrollWidth, log.clientWidth]; }"""
    )
    assert widths[0] <= widths[1]  # the page is not widened by the log
    assert widths[2] <= widths[3]  # nor is the log box: its long line wraps
    page.context.close()
