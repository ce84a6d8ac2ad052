"""The detection damage back end: decoding, box findings, the box DSI, packaging a
detection version and running it through the Predictor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from damage_vision.evaluation.findings import filled_box, score_photo
from damage_vision.pipeline.detection import (
    box_damage_map,
    box_findings,
    decode_detections,
    detector_input,
    pixel_box,
)
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.pipeline.types import BoxDamage
from damage_vision.taxonomy import load_taxonomy
from damage_vision.versions.registry import ManifestError, load_manifest

CLASSES = ["surface_damage", "deformity", "body_damage"]
PARTS = load_taxonomy("parts_reduced_dsmlr")
DAMAGE = load_taxonomy("damage_categorical")


def _raw(*rows: tuple[float, float, float, float, int, float], anchors: int = 8) -> np.ndarray:
    """A (4 + 3, anchors) detector output with the given (cx, cy, w, h, class, score)."""
    raw = np.zeros((7, anchors), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        raw[:4, i] = (cx, cy, w, h)
        raw[4 + cls, i] = score
    return raw


def test_decoding_suppresses_overlaps_per_class_and_undoes_the_letterbox_scale() -> None:
    raw = _raw(
        (50, 50, 40, 40, 0, 0.9),
        (52, 50, 40, 40, 0, 0.6),  # same class, IoU ~0.9 with the first: suppressed
        (52, 50, 40, 40, 1, 0.5),  # another class on the same place: kept
        (150, 20, 20, 20, 2, 0.02),  # below conf
    )
    boxes = decode_detections(raw, CLASSES, scale=0.5, image_size=(400, 300), conf=0.05, iou=0.5)
    assert [(b.damage, round(b.confidence, 2)) for b in boxes] == [
        ("surface_damage", 0.9),
        ("deformity", 0.5),
    ]
    assert boxes[0].box == pytest.approx((60.0, 60.0, 140.0, 140.0))


def test_decoding_clips_to_the_photo_and_drops_boxes_outside_it() -> None:
    raw = _raw((10, 10, 40, 40, 2, 0.8), (500, 500, 10, 10, 1, 0.8))
    boxes = decode_detections(raw, CLASSES, scale=1.0, image_size=(100, 80), conf=0.1)
    assert len(boxes) == 1
    assert boxes[0].box == pytest.approx((0.0, 0.0, 30.0, 30.0))


def test_decoding_refuses_an_output_of_another_class_count() -> None:
    with pytest.raises(ValueError, match="expected"):
        decode_detections(np.zeros((9, 4), np.float32), CLASSES, 1.0, (10, 10))


def test_detector_input_is_a_letterboxed_square() -> None:
    rgb = np.full((60, 120, 3), 255, dtype=np.uint8)
    x, scale = detector_input(rgb, 64)
    assert x.shape == (1, 3, 64, 64)
    assert scale == pytest.approx(64 / 120)
    assert x[0, :, :32].min() == 1.0  # the photo, top
    assert x[0, :, 33:].max() == pytest.approx(114 / 255)  # grey padding below it
    with pytest.raises(ValueError, match="multiple of 32"):
        detector_input(rgb, 50)


def _part_map() -> np.ndarray:
    part_map = np.zeros((100, 200), dtype=np.uint8)
    part_map[20:80, 20:120] = PARTS.index("door_shell")
    part_map[20:80, 120:180] = PARTS.index("bumper")
    return part_map


def test_a_box_is_named_after_the_part_under_most_of_it_and_sized_by_its_box() -> None:
    boxes = [
        BoxDamage("deformity", (30.0, 30.0, 70.0, 50.0), 0.8),  # on the door
        BoxDamage("surface_damage", (110.0, 30.0, 150.0, 40.0), 0.6),  # 10 px door, 30 bumper
        BoxDamage("body_damage", (0.0, 85.0, 10.0, 95.0), 0.4),  # no part under it
    ]
    analysis = box_findings(boxes, _part_map(), PARTS, DAMAGE, PipelineSettings())
    by_damage = {f.damage: f for f in analysis.findings}
    door = by_damage["deformity"]
    assert door.part == "door_shell"
    assert door.shape == "box"
    assert door.area_px == 40 * 20
    assert door.box == (30, 30, 70, 50)
    assert door.mask.sum() == 800
    assert door.mask[30:50, 30:70].all()
    assert door.c_base == door.confidence == pytest.approx(0.8)  # no calibrator
    # the DSI's area term is the box's share of the photo (paper 2, Algorithm 2), in %
    assert door.severity.area == pytest.approx(800 / 20000 * 100)
    assert by_damage["surface_damage"].part == "bumper"
    assert by_damage["body_damage"].part == "other_panel"
    scores = [f.severity.score for f in analysis.findings]
    assert analysis.dsi == pytest.approx(sum(scores) / 3)
    assert analysis.perspective == "close_up"
    assert analysis.visible_parts == {"door_shell", "bumper"}


def test_no_boxes_no_findings_and_a_zero_dsi() -> None:
    analysis = box_findings([], _part_map(), PARTS, DAMAGE)
    assert analysis.findings == ()
    assert analysis.dsi == 0.0


def test_box_damage_map_puts_the_more_confident_box_on_top() -> None:
    boxes = [
        BoxDamage("deformity", (0.0, 0.0, 10.0, 10.0), 0.9),
        BoxDamage("surface_damage", (5.0, 5.0, 15.0, 15.0), 0.3),
    ]
    out = box_damage_map(boxes, (20, 20), DAMAGE)
    assert out[7, 7] == DAMAGE.index("deformity")
    assert out[12, 12] == DAMAGE.index("surface_damage")
    assert out[18, 18] == 0


def test_pixel_box_is_never_empty_and_stays_inside() -> None:
    assert pixel_box((3.2, 4.7, 3.3, 4.8), (10, 10)) == (3, 4, 4, 5)
    assert pixel_box((-5.0, -5.0, 50.0, 50.0), (10, 20)) == (0, 0, 20, 10)


def test_the_box_rule_scores_a_box_around_a_thin_scratch_as_correct() -> None:
    """A thin diagonal scratch: a box around it is mostly paint, so the mask rule calls
    it wrong, the box rule (its box on the scratch's box) right."""
    from dataclasses import replace

    from damage_vision.pipeline.types import ModelInfo, PhotoQuality, PhotoResult, StageTimings

    scratch = np.zeros((100, 100), dtype=bool)
    for i in range(10, 90):
        scratch[i, i - 1 : i + 2] = True
    analysis = box_findings(
        [BoxDamage("surface_damage", (8.0, 8.0, 92.0, 92.0), 0.7)],
        np.full((100, 100), PARTS.index("hood"), dtype=np.uint8),
        PARTS,
        DAMAGE,
    )
    photo = PhotoResult(
        image_size=(100, 100),
        processed_size=(100, 100),
        vehicle_probability=1.0,
        quality=PhotoQuality(True, (), 100.0, 0.5),
        set_aside_reason=None,
        part_map=np.zeros((100, 100), np.uint8),
        damage_map=np.zeros((100, 100), np.uint8),
        visible_parts=frozenset({"hood"}),
        perspective="close_up",
        findings=analysis.findings,
        dsi=analysis.dsi,
        timings=StageTimings(0, 0, 0, 0, 0),
        model=ModelInfo("m", "1", "0" * 64, PARTS.name, DAMAGE.name, "onnx"),
    )
    labelled = [(DAMAGE.index("surface_damage"), scratch)]
    (by_mask,), _ = score_photo("a.jpg", photo, labelled, DAMAGE.classes, "mask")
    (by_box,), (instance,) = score_photo("a.jpg", photo, labelled, DAMAGE.classes, "box")
    assert not by_mask.correct
    assert by_box.correct
    assert instance.found
    # a box of the wrong class is wrong by either rule
    wrong = replace(photo, findings=(replace(analysis.findings[0], damage="deformity"),))
    (by_box,), (instance,) = score_photo("a.jpg", wrong, labelled, DAMAGE.classes, "box")
    assert not by_box.correct
    assert by_box.correct_any
    assert not instance.found
    with pytest.raises(ValueError, match="rule"):
        score_photo("a.jpg", photo, labelled, DAMAGE.classes, "pixels")


def test_filled_box_of_an_empty_mask_is_empty() -> None:
    assert not filled_box(np.zeros((4, 4), dtype=bool)).any()
    mask = np.zeros((6, 6), dtype=bool)
    mask[1, 2] = mask[4, 3] = True
    assert filled_box(mask).sum() == 4 * 2


def test_a_detection_version_references_its_parts_model_and_ships_only_its_detector(
    detection_version: Path, tiny_version: Path
) -> None:
    manifest = load_manifest(detection_version)
    assert manifest.damage_backend == "detection"
    assert manifest.backends == ("onnx",)
    assert [p.name for p in detection_version.iterdir() if p.suffix == ".onnx"] == [
        manifest.weights["detector"]["onnx"].file
    ]
    segmentation = manifest.weight_path("segmentation", "onnx")
    assert segmentation.resolve().parent == tiny_version.resolve()
    assert manifest.detector["input_size"] == 64


def test_the_predictor_runs_a_detection_version_end_to_end(
    detection_version: Path, bus_jpg: Path
) -> None:
    from damage_vision.pipeline.predictor import Predictor
    from damage_vision.pipeline.serialize import photo_to_dict

    predictor = Predictor.from_manifest(detection_version, threads=1)
    (photo,) = predictor.predict(bus_jpg)
    assert photo.model.damage_backend == "detection"
    assert photo.quality.usable
    assert photo.timings.detection_ms > 0
    assert photo.findings, "conf 0.0001 keeps random boxes"
    assert {f.shape for f in photo.findings} == {"box"}
    for f in photo.findings:
        x0, y0, x1, y1 = f.box
        assert f.area_px == (x1 - x0) * (y1 - y0) == int(f.mask.sum())
    # the damage map is the boxes, painted with their classes
    assert photo.damage_map.any()
    data = photo_to_dict(photo)
    assert data["findings"][0]["shape"] == "box"
    assert data["model"]["damage_backend"] == "detection"
    case = predictor.synthesise([photo])
    assert case.findings


def test_a_detection_version_refuses_the_torch_back_end(detection_version: Path) -> None:
    from damage_vision.pipeline.predictor import Predictor

    with pytest.raises(ManifestError, match="ONNX Runtime only"):
        Predictor.from_manifest(detection_version, backend="torch")


def test_a_detection_version_without_its_detector_or_with_a_wrong_one_fails_clearly(
    detection_version: Path, tmp_path: Path
) -> None:
    from damage_vision.pipeline.predictor import Predictor
    from damage_vision.pipeline.types import WeightsMismatchError

    copy = tmp_path / "copy"
    shutil.copytree(detection_version, copy)
    data = json.loads((copy / "manifest.json").read_text())
    for role in ("segmentation", "vehicle"):  # keep the references valid from the copy
        entry = data["weights"][role]["onnx"]
        entry["file"] = str((detection_version / entry["file"]).resolve())
    detector = data["weights"].pop("detector")
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="detector"):
        load_manifest(copy)
    data["weights"]["detector"] = detector
    data["damage_backend"] = "boxes"
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="damage_backend"):
        load_manifest(copy)
    # a detector trained for another number of classes (CarDD's six)
    from damage_vision.networks.detector import build_detector
    from damage_vision.training.package_detector import detector_onnx_bytes
    from damage_vision.versions.registry import file_sha256

    six = copy / "detector-six.onnx"
    six.write_bytes(detector_onnx_bytes(build_detector(nc=6).state_dict(), 6, 64))
    data["damage_backend"] = "detection"
    data["weights"]["detector"] = {"onnx": {"file": six.name, "sha256": file_sha256(six)}}
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(WeightsMismatchError, match="7 channels"):
        Predictor.from_manifest(copy, threads=1)


def test_a_detection_candidate_is_not_the_default_over_a_segmentation_one(
    detection_version: Path, tiny_version: Path
) -> None:
    from damage_vision.versions.registry import default_version, list_versions

    root = tiny_version.parent
    assert [m.version for m in list_versions(root)][-1] == "9.9.9-tiny-yolo"  # the newest
    assert default_version(root).version == "9.9.9-tiny"


def _cardiag_like(tmp_path: Path, bus_jpg: Path) -> Path:
    """Three photos with damaged-part boxes, one of which has a box the mapping cannot
    name (a fender), as damaged-parts-cardiag has them."""
    images, annotations = [], []
    for i, category in enumerate((2, 3, 4)):
        shutil.copy(bus_jpg, tmp_path / f"p{i}.jpg")
        images.append({"id": i, "file_name": f"p{i}.jpg", "width": 360, "height": 480})
        annotations.append(
            {
                "id": i,
                "image_id": i,
                "category_id": category,
                "bbox": [10, 10, 50, 50],
                "area": 2500,
                "iscrowd": 0,
                "segmentation": [],
            }
        )
    categories = [
        {"id": 1, "name": "car-damaged-parts"},
        {"id": 2, "name": "damaged bumper"},
        {"id": 3, "name": "damaged door"},
        {"id": 4, "name": "damaged fender"},
    ]
    path = tmp_path / "_annotations.coco.json"
    path.write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return path


def test_damaged_part_scores_come_with_a_curve_over_confidence_floors(
    detection_version: Path, bus_jpg: Path, tmp_path: Path
) -> None:
    from damage_vision.evaluation.evaluate import DAMAGED_PART_FLOORS, evaluate_damaged_parts

    coco = _cardiag_like(tmp_path, bus_jpg)
    report = evaluate_damaged_parts(coco, None, detection_version)
    assert (report["images"], report["skipped_images"]) == (2, 1)  # the fender photo is out
    floors = report["floors"]
    assert [f["min_confidence"] for f in floors] == list(DAMAGED_PART_FLOORS)
    assert floors[0]["f1"] == report["f1"]  # floor 0 is the plain score
    # a higher floor names fewer parts: recall can only fall
    recalls = [f["recall"] for f in floors if f["recall"] is not None]
    assert recalls == sorted(recalls, reverse=True)
    high = evaluate_damaged_parts(coco, None, detection_version, min_confidence=0.99)
    assert high["min_confidence"] == 0.99
    assert high["true_positives"] + high["false_positives"] <= (
        report["true_positives"] + report["false_positives"]
    )
