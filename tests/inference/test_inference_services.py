"""The Django layer of the calibrated confidence: registration and case finalisation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from claims.models import Case, Photo
from damage_vision.pipeline.masks import mask_to_rle
from damage_vision.versions.registry import WeightFile, default_version
from inference import services
from inference.models import Finding, InferenceRun, ModelVersion
from tests import factories

pytestmark = pytest.mark.django_db

PROMISE = {
    "threshold": 0.62,
    "target_precision": 0.95,
    "confidence_level": 0.9,
    "calibration_findings": 300,
    "released_share": 0.31,
    "precision": 0.97,
    "method": "Learn-then-Test, Hoeffding-Bentkus p-values, fixed-sequence testing (MAPIE 1.6)",
}


def test_registration_stores_calibration_and_promise_from_the_manifest() -> None:
    shipped = default_version()
    calibrated = dataclasses.replace(
        shipped,
        version="9.9.9-calibrated",
        threshold=0.62,
        calibrator=WeightFile(file="calibrator-abc.json", sha256="a" * 64),
        target_precision=0.95,
        threshold_promise=PROMISE,
    )
    version = services.model_version_register(manifest=calibrated)
    version.refresh_from_db()
    assert (version.threshold, version.target_precision, version.calibrated) == (
        0.62,
        0.95,
        True,
    )
    assert version.threshold_promise == PROMISE

    # A manifest without a calibrator or a promise: confidence = C_base, nothing promised.
    plain = services.model_version_register(
        manifest=dataclasses.replace(
            shipped,
            version="9.9.9-plain",
            calibrator=None,
            target_precision=0.9,
            threshold_promise={},
        )
    )
    plain.refresh_from_db()
    assert (plain.target_precision, plain.calibrated, plain.threshold_promise) == (0.9, False, {})
    # Registering again changes nothing.
    assert services.model_version_register(manifest=calibrated).pk == version.pk
    assert ModelVersion.objects.count() == 2


def _finding(
    part: str, damage: str, c_base: float, confidence: float, x0: int, shape: str | None = None
) -> dict[str, Any]:
    mask = np.zeros((24, 32), dtype=bool)
    mask[4:12, x0 : x0 + 6] = True
    return {
        "part": part,
        "damage": damage,
        # Results written before detector boxes existed have no "shape".
        **({"shape": shape} if shape is not None else {}),
        "mask_rle": mask_to_rle(mask),
        "box": [x0, 4, x0 + 6, 12],
        "area_px": 48,
        "part_area_px": 200,
        "share_of_part": 0.24,
        "size_class": "small",
        "area_cm2": None,
        "area_cm2_uncertainty": None,
        "c_base": c_base,
        "confidence": confidence,
        "fragments": 1,
        "severity": {
            "area": 6.25,
            "confidence": 100 * confidence,
            "type_weight": 70.0,
            "score": 50.0,
        },
    }


def _record(visible: list[str], findings: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's stored result, as `inference.services.records.photo_record` writes it."""
    return {
        "image_size": [128, 96],
        "processed_size": [32, 24],
        "vehicle_probability": 0.99,
        "usable": True,
        "quality": {"reasons": [], "blur_score": 300.0, "brightness": 0.5},
        "set_aside_reason": None,
        "visible_parts": visible,
        "perspective": "partial_view",
        "findings": findings,
        "dsi": 50.0,
        "timings_ms": {
            "preprocess_ms": 1.0,
            "vehicle_ms": 1.0,
            "segmentation_ms": 1.0,
            "postprocess_ms": 1.0,
            "total_ms": 4.0,
        },
        "model": {
            "name": "seed",
            "version": "1",
            "weights_sha256": "0" * 64,
            "part_taxonomy": "parts_reduced_dsmlr",
            "damage_taxonomy": "damage_categorical",
            "backend": "torch",
            "calibrated": True,
        },
    }


def test_c_refined_is_the_calibrated_confidence_times_k_agree(customer) -> None:  # type: ignore[no-untyped-def]
    version = factories.model_version_create(threshold=0.45, calibrated=True)
    ModelVersion.objects.filter(pk=version.pk).update(
        manifest_path=str(default_version().directory)
    )
    case = Case.objects.create(
        customer=customer,
        policy_number="P-1",
        loss_date=dt.date(2026, 1, 2),
        loss_place="Lyon",
        description="calibrated",
        status=Case.Status.PROCESSING,
        model_version=version,
    )
    records = [
        # Photo 1 shows a dent on the hood and a scratch on the bumper.
        _record(
            ["bumper", "hood"],
            [
                _finding("hood", "deformity", c_base=0.95, confidence=0.8, x0=2),
                _finding("bumper", "surface_damage", c_base=0.7, confidence=0.9, x0=20),
            ],
        ),
        # Photo 2 sees the hood but no dent on it: K_agree of the dent = 1/2.
        _record(["hood"], []),
    ]
    for position, record in enumerate(records):
        photo = Photo.objects.create(
            case=case,
            position=position,
            original=f"cases/x/p{position}.jpg",
            original_name=f"p{position}.jpg",
            extension="jpg",
            content_type="image/jpeg",
            size_bytes=10,
            sha256="0" * 64,
            width=128,
            height=96,
            status=Photo.Status.DONE,
        )
        InferenceRun.objects.create(
            photo=photo, model_version=version, status=InferenceRun.Status.DONE, result=record
        )

    services.case_finalise(case_id=case.pk)

    rows = list(
        Finding.objects.filter(case=case)
        .order_by("index")
        .values_list("part", "c_base", "confidence", "k_agree", "c_refined", "needs_review")
    )
    # The dent: 0.8 * 0.5 = 0.4 < 0.45 goes to review (C_base * K_agree = 0.475 would not);
    # the scratch: 0.9 * 1 = 0.9 is released (C_base 0.7 alone would be too).
    assert rows == [
        ("hood", 0.95, 0.8, 0.5, 0.4, True),
        ("bumper", 0.7, 0.9, 1.0, 0.9, False),
    ]
    case.refresh_from_db()
    assert case.status == Case.Status.NEEDS_REVIEW


def test_an_active_version_whose_files_are_gone_is_retired_on_registration(tmp_path) -> None:
    # An upgrade shipped 0.3.0 and dropped the files of the version that was active.
    gone = factories.model_version_create(name="deeplabv3plus-lite0-joint", version="0.2.1")
    ModelVersion.objects.filter(pk=gone.pk).update(
        status=ModelVersion.Status.ACTIVE, manifest_path=str(tmp_path / "0.2.1" / "manifest.json")
    )
    registered = services.models_register_shipped()
    gone.refresh_from_db()
    assert gone.status == ModelVersion.Status.RETIRED
    active = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert active.pk == registered[-1].pk
    assert active.version == default_version().version
    from claims.models import AuditEvent

    retired = AuditEvent.objects.get(verb="model_version.retired")
    assert retired.data["model_version"] == str(gone)
    # An active version whose files are there is left alone on the next registration.
    services.models_register_shipped()
    assert ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE).pk == active.pk
    assert AuditEvent.objects.filter(verb="model_version.retired").count() == 1


def test_registration_stores_the_damage_backend() -> None:
    shipped = default_version()
    segmentation = services.model_version_register(manifest=shipped)
    detection = services.model_version_register(
        manifest=dataclasses.replace(shipped, version="9.9.9-detector", damage_backend="detection")
    )
    assert ModelVersion.objects.get(pk=segmentation.pk).damage_backend == "segmentation"
    assert ModelVersion.objects.get(pk=detection.pk).damage_backend == "detection"


def _finalised(customer: Any, findings: list[dict[str, Any]], backend: str) -> Case:
    version = factories.model_version_create(threshold=0.5, damage_backend=backend)
    ModelVersion.objects.filter(pk=version.pk).update(
        manifest_path=str(default_version().directory)
    )
    case = Case.objects.create(
        customer=customer,
        policy_number="P-1",
        loss_date=dt.date(2026, 1, 2),
        loss_place="Lyon",
        description="shapes",
        status=Case.Status.PROCESSING,
        model_version=version,
    )
    photo = Photo.objects.create(
        case=case,
        position=0,
        original="cases/x/p0.jpg",
        original_name="p0.jpg",
        extension="jpg",
        content_type="image/jpeg",
        size_bytes=10,
        sha256="0" * 64,
        width=128,
        height=96,
        status=Photo.Status.DONE,
    )
    record = _record(["bumper", "hood"], findings)
    record["model"]["damage_backend"] = backend
    InferenceRun.objects.create(
        photo=photo, model_version=version, status=InferenceRun.Status.DONE, result=record
    )
    return services.case_finalise(case_id=case.pk)


def test_case_finalise_stores_each_findings_shape(customer) -> None:  # type: ignore[no-untyped-def]
    case = _finalised(
        customer,
        [
            _finding("hood", "deformity", c_base=0.9, confidence=0.9, x0=2, shape="box"),
            _finding("bumper", "surface_damage", c_base=0.9, confidence=0.9, x0=20, shape="box"),
        ],
        "detection",
    )
    rows = list(
        Finding.objects.filter(case=case).order_by("index").values_list("part", "shape", "box")
    )
    assert rows == [("hood", "box", [2, 4, 8, 12]), ("bumper", "box", [20, 4, 26, 12])]


def test_case_finalise_reads_results_from_before_shapes_as_masks(customer) -> None:  # type: ignore[no-untyped-def]
    case = _finalised(
        customer,
        [_finding("hood", "deformity", c_base=0.9, confidence=0.9, x0=2)],
        "segmentation",
    )
    assert list(Finding.objects.filter(case=case).values_list("shape", flat=True)) == ["mask"]


def test_a_result_with_an_unknown_shape_is_refused() -> None:
    from inference.services.records import photo_from_record

    record = _record(["hood"], [_finding("hood", "deformity", 0.9, 0.9, x0=2, shape="ellipse")])
    with pytest.raises(ValueError, match="shape is one of \\('mask', 'box'\\), got 'ellipse'"):
        photo_from_record(record)


def test_registration_activates_the_newest_segmentation_version_not_a_detection_one(
    tmp_path: Path,
) -> None:
    """A detection version shipped beside the default is a candidate an admin promotes by
    hand; a fresh installation starts on the newest segmentation version."""
    data = json.loads((default_version().directory / "manifest.json").read_text())
    for version, backend in (("1.0.0", "segmentation"), ("2.0.0", "detection")):
        entry = dict(data, version=version, damage_backend=backend)
        if backend == "detection":
            entry["weights"] = dict(
                data["weights"], detector={"onnx": {"file": "d.onnx", "sha256": "0" * 64}}
            )
        (tmp_path / version).mkdir()
        (tmp_path / version / "manifest.json").write_text(json.dumps(entry))
    registered = services.models_register_shipped(root=tmp_path)
    assert [v.version for v in registered] == ["1.0.0", "2.0.0"]
    active = ModelVersion.objects.get(status=ModelVersion.Status.ACTIVE)
    assert (active.version, active.damage_backend) == ("1.0.0", "segmentation")


def test_case_finalise_decodes_no_mask(customer, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The synthesis and the findings writer never read a mask: the stored RLE goes to the
    finding row as it is, and nothing decodes it on the way."""
    import damage_vision.pipeline.masks as masks
    import inference.services.records as records

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a mask was decoded")

    monkeypatch.setattr(records, "rle_to_mask", refuse)
    monkeypatch.setattr(masks, "rle_to_mask", refuse)
    case = _finalised(
        customer, [_finding("hood", "deformity", c_base=0.9, confidence=0.9, x0=2)], "segmentation"
    )
    (row,) = Finding.objects.filter(case=case)
    stored = InferenceRun.objects.get(photo__case=case).result["findings"][0]["mask_rle"]
    assert row.mask_rle == stored
