"""Training-run fixtures: run folders under tmp, one torch thread, a reviewed snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from claims.models import Case
from inference.models import Finding
from learning import services
from learning.models import DatasetSnapshot
from review import services as review_services

TINY = {
    "epochs": 1,
    "max_steps_per_epoch": 1,
    "batch_size": 2,
    "resize": 64,
    "crop": 64,
    "lr": 1e-4,
}


@pytest.fixture(autouse=True)
def _training_settings(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.REVIEW_EXPORT_ROOT = tmp_path / "exports"
    settings.TRAINING_ROOT = tmp_path / "training"
    settings.TRAINING_THREADS = 1
    # No beat during a test: the heartbeat thread would write to SQLite beside the run.
    settings.TRAINING_HEARTBEAT_S = 3600
    monkeypatch.setenv("DAMAGE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def torch_threads() -> Iterator[None]:
    """Training sets torch's thread count for the whole process; put it back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Run ids sent to the training queue (the broker is outside the tests)."""
    from learning import tasks

    ids: list[int] = []
    monkeypatch.setattr(tasks.training_run_task, "delay", lambda run_id: ids.append(run_id))
    return ids


def make_snapshot(
    *, root: Path, version: str = "labels-1", categories: list[str] | None = None
) -> DatasetSnapshot:
    """A snapshot row with a minimal COCO (no photo): enough for the form and the rules."""
    folder = root / version
    folder.mkdir(parents=True)
    categories = categories or ["surface_damage", "deformity", "body_damage"]
    (folder / "annotations.json").write_text(
        json.dumps(
            {
                "images": [],
                "annotations": [],
                "categories": [{"id": i + 1, "name": n} for i, n in enumerate(categories)],
            }
        )
    )
    return DatasetSnapshot.objects.create(
        version=version,
        path=str(folder),
        images=0,
        annotations=0,
        categories=categories,
        cases=[],
    )


def review_and_export(
    case: Case, adjuster: Any, admin: Any, version: str = "bus-1"
) -> DatasetSnapshot:
    """Accept every finding of the case, finish its review, export the labels."""
    review_services.lease_claim(case=case, user=adjuster)
    for finding in Finding.objects.filter(case=case).order_by("pk"):
        review_services.finding_decide(finding=finding, user=adjuster, action="accept")
    review_services.case_finish_review(case=case, user=adjuster)
    return services.snapshot_export(user=admin, version=version)
