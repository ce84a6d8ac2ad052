"""Reads of training runs for the pages."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from learning.models import TrainingRun

LOG_TAIL_LINES = 40


def training_runs() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("start_version", "candidate", "created_by")


def log_tail(*, run: TrainingRun, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of the run's log ("" before it has one)."""
    if not run.log_path:
        return ""
    path = Path(run.log_path)
    if not path.is_file():
        return ""
    with path.open(encoding="utf-8", errors="replace") as fh:
        return "".join(deque(fh, maxlen=lines))


def progress_document(*, run: TrainingRun) -> dict[str, Any]:
    """What the run page polls: status, progress, the log tail, the candidate when done."""
    from django.urls import reverse

    return {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "finished": run.finished,
        "progress": run.progress or {},
        "error": run.error,
        "attempts": run.attempts,
        "log_tail": log_tail(run=run),
        "candidate": (
            {
                "name": str(run.candidate),
                "url": reverse("learning:model_version", args=[run.candidate_id]),
            }
            if run.candidate_id
            else None
        ),
    }
