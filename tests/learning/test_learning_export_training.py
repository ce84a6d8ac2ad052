"""The label snapshot of a real reviewed claim feeds `python -m damage_vision train`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from claims.models import Case
from damage_vision import cli
from inference.models import Finding
from learning.models import DatasetSnapshot
from review import rle as rle_codec
from review import services
from review.models import ReviewDecision
from tests.conftest import claim_processed

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _review_everything(case: Case, adjuster: Any) -> dict[str, int]:
    """Reject every other finding, redraw one as a square, accept the rest."""
    services.lease_claim(case=case, user=adjuster)
    findings = list(Finding.objects.filter(case=case).order_by("pk"))
    photo = case.photos.get()
    square = np.zeros((photo.height, photo.width), dtype=bool)
    square[100:140, 50:90] = True
    services.finding_edit(
        finding=findings[0],
        user=adjuster,
        mask=rle_codec.encode(square).as_coco(),
        damage_type="deformity",
        part="bumper",  # the model put this one on "background", which is no part
    )
    for i, finding in enumerate(findings[1:], start=1):
        action = "reject" if i % 2 else "accept"
        services.finding_decide(finding=finding, user=adjuster, action=action)
    services.case_finish_review(case=case, user=adjuster)
    kept = 1 + sum(1 for i in range(1, len(findings)) if i % 2 == 0)
    return {"findings": len(findings), "kept": kept}


def test_exported_snapshot_trains_a_segmentation_model(
    customer, adjuster, active_model, vehicle_jpeg, settings, tmp_path, monkeypatch, torch_threads
) -> None:
    # Every finding below the threshold: the whole claim goes through a person.
    active_model.threshold = 1.0
    active_model.save(update_fields=["threshold"])
    case = claim_processed(customer, vehicle_jpeg)
    assert case.status == Case.Status.NEEDS_REVIEW
    counts = _review_everything(case, adjuster)
    assert counts["findings"] > 2
    case.refresh_from_db()
    assert case.status == Case.Status.REVIEWED
    assert ReviewDecision.objects.filter(case=case).count() == counts["findings"]

    call_command("export_labels", "--snapshot", "bus-1")
    export_root = Path(settings.REVIEW_EXPORT_ROOT)
    snapshot = export_root / "bus-1"
    assert DatasetSnapshot.objects.get().path == str(snapshot)
    document = json.loads((snapshot / "annotations.json").read_text())
    assert document["images"] == [
        {"id": 1, "file_name": document["images"][0]["file_name"], "width": 360, "height": 480}
    ]
    assert len(document["annotations"]) == counts["kept"]
    png = np.array(
        Image.open(snapshot / "masks" / f"{Path(document['images'][0]['file_name']).stem}.png")
    )
    assert png.shape == (480, 360)
    assert (png == 2).any()  # the redrawn square is a deformity (category id 2)

    # A training config as a person would write it: sources relative to the data root.
    monkeypatch.setenv("DAMAGE_DATA_DIR", str(export_root))
    monkeypatch.setenv("DAMAGE_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    config = tmp_path / "snapshot.yaml"
    config.write_text(
        "task: segmentation\n"
        "name: snapshot-smoke\n"
        f"out: {out}\n"
        "model: {arch: deeplabv3plus, encoder: timm-efficientnet-lite0, joint: true,"
        " pretrained_encoder: false}\n"
        "taxonomies: {parts: parts_reduced_dsmlr, damage: damage_categorical}\n"
        "data:\n"
        "  resize: 64\n"
        "  crop: 64\n"
        "  train:\n"
        # DeepLabV3+'s image-pooling branch has a BatchNorm that needs two samples a
        # batch; the one photo is repeated to make one batch of two.
        "    - {head: damage, coco: bus-1/annotations.json, repeat: 2}\n"
        "  val:\n"
        "    - {head: damage, coco: bus-1/annotations.json}\n"
        "train: {epochs: 1, max_steps_per_epoch: 1, batch_size: 2, lr: 1.0e-4,"
        " warmup_epochs: 1, loss: dice, seed: 0, workers: 0, threads: 1}\n"
    )
    assert cli.main(["train", "--config", str(config), "--no-progress"]) == 0

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["steps"]) for r in rows] == [(1, 1)]
    assert np.isfinite(rows[0]["train_loss"])
    assert 0.0 <= rows[0]["damage_miou"] <= 1.0
    assert "parts_miou" not in rows[0]  # the snapshot labels the damage head only
    assert (out / "best.pt").is_file()
    assert (out / "last.pt").is_file()
    # The label map training rasterised is the snapshot's: damage exactly where the PNG
    # has it (overlaps are resolved differently, so compare damage versus background).
    cached = list((tmp_path / "cache" / "masks").rglob("*.png"))
    assert len(cached) == 1
    label = np.array(Image.open(cached[0]))
    assert label.shape == (480, 360)
    assert np.array_equal(label > 0, png > 0)
