"""Label snapshots (`learning.services.snapshot_export`, the `export_labels` command): the
reviewed labels of every reviewed case, masks and boxes, as the training side's COCO loader
reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from pycocotools.coco import COCO

from claims.models import AuditEvent, Case
from common.errors import ApplicationError
from inference.models import Finding, ModelVersion
from learning import services
from learning.models import DatasetSnapshot
from review import rle as rle_codec
from review import services as review_services
from review.models import ReviewDecision, ReviewedReport

pytestmark = pytest.mark.django_db


def _full_mask(case: Case, x0: int, y0: int, x1: int, y1: int) -> dict[str, Any]:
    photo = case.photos.get(position=0)
    mask = np.zeros((photo.height, photo.width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return rle_codec.encode(mask).as_coco()


def _findings(case: Case) -> dict[str, Finding]:
    return {f.damage: f for f in Finding.objects.filter(case=case)}


@pytest.fixture
def box_case(make_case, version) -> Case:
    ModelVersion.objects.filter(pk=version.pk).update(damage_backend="detection")
    return make_case(
        findings=[("deformity", "door_shell", 0.3), ("surface_damage", "bumper", 0.5)],
        shape="box",
    )


def _reviewed_case(make_case, adjuster) -> Case:
    case = make_case()
    review_services.lease_claim(case=case, user=adjuster)
    f = _findings(case)
    review_services.finding_decide(finding=f["deformity"], user=adjuster, action="reject")
    review_services.finding_edit(
        finding=f["surface_damage"],
        user=adjuster,
        mask=_full_mask(case, 10, 5, 30, 25),
        damage_type="surface_damage",
        part="bumper",
    )
    review_services.case_finish_review(case=case, user=adjuster)
    return case


def test_export_writes_a_snapshot_the_coco_loader_reads(
    make_case, adjuster, admin_user, settings
) -> None:
    case = _reviewed_case(make_case, adjuster)
    snapshot = services.snapshot_export(user=admin_user, version="v1")
    root = Path(settings.REVIEW_EXPORT_ROOT) / "v1"
    assert (snapshot.images, snapshot.annotations, snapshot.cases) == (1, 2, [case.pk])
    coco = COCO(str(root / "annotations.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == [
        "surface_damage",
        "deformity",
        "body_damage",
    ]
    anns = coco.loadAnns(coco.getAnnIds())
    areas = {coco.loadCats(a["category_id"])[0]["name"]: a["area"] for a in anns}
    # edited: 20x20 at full size; hood: 8x5 grid pixels scaled x2 -> 16x10
    assert areas == {"surface_damage": 400, "body_damage": 160}
    assert int(coco.annToMask(anns[0]).sum()) in (400, 160)
    # The training side's loader reads the snapshot as it is written.
    from damage_vision.data.coco import decode_segmentation, load_coco

    dataset = load_coco(root / "annotations.json")
    assert sorted(dataset.used_categories()) == ["body_damage", "surface_damage"]
    assert [i.path.is_file() for i in dataset.images] == [True]
    seg = decode_segmentation(anns[0]["segmentation"], 48, 64)
    assert int(seg.sum()) == anns[0]["area"]
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["cases"] == [case.pk]
    assert AuditEvent.objects.filter(verb="labels.exported", case=case).count() == 1
    with pytest.raises(ApplicationError, match="exists already"):
        services.snapshot_export(user=admin_user, version="v1")
    assert DatasetSnapshot.objects.count() == 1


def test_export_command(make_case, adjuster, settings, capsys) -> None:
    _reviewed_case(make_case, adjuster)
    call_command("export_labels", "--snapshot", "cmd1")
    assert "snapshot cmd1: 1 photos, 2 labels" in capsys.readouterr().out
    assert (Path(settings.REVIEW_EXPORT_ROOT) / "cmd1" / "labels").is_dir()


def test_export_is_admin_only(adjuster) -> None:
    with pytest.raises(ApplicationError, match="Only admins"):
        services.snapshot_export(user=adjuster, version="x")
    assert not DatasetSnapshot.objects.exists()


def test_exported_labels_say_which_are_boxes(box_case, adjuster, admin_user, settings) -> None:
    review_services.lease_claim(case=box_case, user=adjuster)
    f = _findings(box_case)
    review_services.finding_decide(finding=f["deformity"], user=adjuster, action="accept")
    review_services.finding_edit(
        finding=f["surface_damage"],
        user=adjuster,
        mask=_full_mask(box_case, 30, 10, 50, 40),
        damage_type="surface_damage",
        part="bumper",
        shape="box",
    )
    review_services.damage_add(
        photo=box_case.photos.get(position=0),
        user=adjuster,
        mask=_full_mask(box_case, 0, 0, 6, 6),
        damage_type="body_damage",
        part="hood",
    )
    review_services.case_finish_review(case=box_case, user=adjuster)
    assert Case.objects.get(pk=box_case.pk).status == Case.Status.REVIEWED
    services.snapshot_export(user=admin_user, version="boxes")
    doc = json.loads((Path(settings.REVIEW_EXPORT_ROOT) / "boxes" / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in doc["categories"]}
    got = {
        names[a["category_id"]]: (a["attributes"]["source"], a["attributes"]["shape"], a["bbox"])
        for a in doc["annotations"]
    }
    # The accepted detector box: grid [2, 6, 10, 18) of 32x24, at the photo's 64x48.
    assert got == {
        "deformity": ("accepted", "box", [4, 12, 16, 24]),
        "surface_damage": ("edited", "box", [30, 10, 20, 30]),
        "body_damage": ("added", "mask", [0, 0, 6, 6]),
    }


def test_the_export_is_the_stored_kept_list_of_each_case(
    make_case, adjuster, admin_user, settings
) -> None:
    """What a finished round kept, as its report stored it: a decision's row changed
    afterwards (no new round) changes no label; a case whose report was stored without
    what it keeps (review 0009) is left out."""
    case = _reviewed_case(make_case, adjuster)
    deformity = _findings(case)["deformity"]
    ReviewDecision.objects.filter(finding=deformity, current=True).update(action="accept")
    ReviewDecision.objects.filter(action="edit", case=case).update(damage_type="deformity")
    older = _reviewed_case(make_case, adjuster)
    ReviewedReport.objects.filter(case=older).update(outcome=None)
    snapshot = services.snapshot_export(user=admin_user, version="stored")
    assert (snapshot.cases, snapshot.images, snapshot.annotations) == ([case.pk], 1, 2)
    doc = json.loads(
        (Path(settings.REVIEW_EXPORT_ROOT) / "stored" / "annotations.json").read_text()
    )
    names = {c["id"]: c["name"] for c in doc["categories"]}
    got = [
        (names[a["category_id"]], a["attributes"]["source"], a["area"]) for a in doc["annotations"]
    ]
    # The report's order: the photo's findings by number, then what was added.
    assert got == [("surface_damage", "edited", 400), ("body_damage", "auto", 160)]
    assert snapshot.summary["by_source"] == {"auto": 1, "edited": 1}
