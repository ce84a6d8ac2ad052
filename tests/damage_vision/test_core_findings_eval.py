"""One capability's tests, sharing its fixtures: finding-level evaluation from its scoring rules to
`evaluate --task findings` and `calibrate`, on the module-scoped planted model and labelled set.

Finding-level evaluation: the correct / correct_any / found rules on hand-made masks, and
`evaluate --task findings` and `calibrate` end to end on a tiny labelled set whose
segmentation logits are planted (red blobs are dents, green blobs scratches)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from damage_vision import cli
from damage_vision.evaluation.calibrate import calibrate_version
from damage_vision.evaluation.findings import (
    RULE,
    FindingRecord,
    InstanceRecord,
    run_findings_task,
    score_photo,
)
from damage_vision.pipeline.backends import OnnxBackend
from damage_vision.pipeline.calibration import load_calibrator
from damage_vision.pipeline.predictor import Predictor
from damage_vision.pipeline.risk_control import ThresholdChoice
from damage_vision.pipeline.types import (
    DamagedPart,
    ModelInfo,
    PhotoQuality,
    PhotoResult,
    SeverityTerms,
    StageTimings,
    WeightsMismatchError,
)
from damage_vision.versions.registry import MANIFEST, file_sha256, load_manifest

CLASSES = ("no_damage", "surface_damage", "deformity", "body_damage")
SCRATCH, DENT = 1, 2
MODEL = ModelInfo("m", "1", "0" * 64, "parts_reduced_dsmlr", "damage_categorical", "onnx")


# score_photo on hand-made masks ------------------------------------------------------------


def finding(damage: str, mask: npt.NDArray[np.bool_], confidence: float = 0.7) -> DamagedPart:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    area = int(mask.sum())
    return DamagedPart(
        part="door_shell",
        damage=damage,
        mask=mask,
        box=(int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1),
        area_px=area,
        part_area_px=mask.size,
        share_of_part=area / mask.size,
        size_class="small",
        area_cm2=None,
        area_cm2_uncertainty=None,
        c_base=0.6,
        severity=SeverityTerms(area=0.0, confidence=70.0, type_weight=70.0, score=0.0),
        confidence=confidence,
        evidence={"c_base": 0.6, "q90": 0.8},
    )


def photo(
    image_size: tuple[int, int], processed_size: tuple[int, int], findings: list[DamagedPart]
) -> PhotoResult:
    w, h = processed_size
    return PhotoResult(
        image_size=image_size,
        processed_size=processed_size,
        vehicle_probability=0.9,
        quality=PhotoQuality(True, (), 100.0, 0.5),
        set_aside_reason=None,
        part_map=np.zeros((h, w), dtype=np.uint8),
        damage_map=np.zeros((h, w), dtype=np.uint8),
        visible_parts=frozenset({"door_shell"}),
        perspective="close_up",
        findings=tuple(findings),
        dsi=0.0,
        timings=StageTimings(0, 0, 0, 0, 0),
        model=MODEL,
    )


def box(shape: tuple[int, int], rows: slice, cols: slice) -> npt.NDArray[np.bool_]:
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def test_a_finding_in_a_2x_smaller_grid_is_scored_at_the_photo_size() -> None:
    # processed 10 x 5, photo 20 x 10: the 2 x 2 finding is 4 x 4 = 16 photo pixels
    dent = finding("deformity", box((5, 10), slice(1, 3), slice(1, 3)), confidence=0.8)
    half = box((10, 20), slice(2, 6), slice(2, 4))  # the left half of it: 8 of 16
    findings, instances = score_photo(
        "a.jpg", photo((20, 10), (10, 5), [dent]), [(DENT, half)], CLASSES
    )
    assert findings == [
        FindingRecord(
            photo="a.jpg",
            part="door_shell",
            damage="deformity",
            confidence=0.8,
            c_base=0.6,
            area_px=4,  # in the processed grid
            correct=True,  # exactly half on its class
            correct_any=True,
            on_class=0.5,
            on_any=0.5,
            evidence={"c_base": 0.6, "q90": 0.8},
        )
    ]
    # the instance is 8 px, all covered by the scaled-up finding
    assert instances == [InstanceRecord(photo="a.jpg", damage="deformity", area_px=8, found=True)]


def test_a_finding_just_under_half_on_its_class_is_not_correct() -> None:
    dent = finding("deformity", box((5, 10), slice(1, 3), slice(1, 3)))
    seven = box((10, 20), slice(2, 6), slice(2, 4))
    seven[5, 3] = False  # 7 of the 16 photo pixels
    (record,), (instance,) = score_photo(
        "a.jpg", photo((20, 10), (10, 5), [dent]), [(DENT, seven)], CLASSES
    )
    assert (record.correct, record.correct_any) == (False, False)
    assert (record.on_class, record.on_any) == (7 / 16, 7 / 16)
    assert instance == InstanceRecord(photo="a.jpg", damage="deformity", area_px=7, found=True)


def test_a_finding_of_the_wrong_class_is_correct_any_only() -> None:
    scratch = finding("surface_damage", box((10, 20), slice(0, 4), slice(0, 5)))
    dent_label = box((10, 20), slice(0, 4), slice(0, 5))
    (record,), (instance,) = score_photo(
        "b.jpg", photo((20, 10), (20, 10), [scratch]), [(DENT, dent_label)], CLASSES
    )
    assert (record.correct, record.correct_any) == (False, True)
    assert (record.on_class, record.on_any) == (0.0, 1.0)
    # the dent is fully covered, but by a finding of another class: not found
    assert instance == InstanceRecord(photo="b.jpg", damage="deformity", area_px=20, found=False)


@pytest.mark.parametrize(("covered", "found"), [(10, True), (9, False)])
def test_an_instance_is_found_from_ten_percent_covered_by_its_class(
    covered: int, found: bool
) -> None:
    label = box((10, 20), slice(0, 10), slice(0, 10))  # 100 px
    cover = np.zeros((10, 20), dtype=bool)
    cover.ravel()[np.flatnonzero(label.ravel())[:covered]] = True
    cover[:, 15:] = True  # 50 px off the instance
    dent = finding("deformity", cover)
    (record,), (instance,) = score_photo(
        "c.jpg", photo((20, 10), (20, 10), [dent]), [(DENT, label)], CLASSES
    )
    assert instance == InstanceRecord(photo="c.jpg", damage="deformity", area_px=100, found=found)
    assert record.on_class == covered / (covered + 50)
    assert record.correct is False


def test_findings_of_an_instances_class_add_up_to_find_it() -> None:
    label = box((10, 20), slice(0, 10), slice(0, 10))  # 100 px
    a = finding("deformity", box((10, 20), slice(0, 1), slice(0, 6)))  # 6 px on it
    b = finding("deformity", box((10, 20), slice(9, 10), slice(0, 4)))  # 4 px on it
    _, (instance,) = score_photo(
        "d.jpg", photo((20, 10), (20, 10), [a, b]), [(DENT, label)], CLASSES
    )
    assert instance.found is True


def test_a_photo_without_findings_finds_nothing() -> None:
    label = box((10, 20), slice(0, 10), slice(0, 10))
    findings, instances = score_photo(
        "e.jpg", photo((20, 10), (10, 5), []), [(DENT, label), (SCRATCH, label)], CLASSES
    )
    assert findings == []
    assert instances == [
        InstanceRecord(photo="e.jpg", damage="deformity", area_px=100, found=False),
        InstanceRecord(photo="e.jpg", damage="surface_damage", area_px=100, found=False),
    ]


def test_a_label_of_another_size_is_refused() -> None:
    label = np.zeros((5, 10), dtype=bool)
    with pytest.raises(ValueError, match="label of") as excinfo:
        score_photo("f.jpg", photo((20, 10), (10, 5), []), [(DENT, label)], CLASSES)
    assert str(excinfo.value) == "f.jpg: label of 10x5 on a photo of 20x10"
    assert not label.any()


# A tiny labelled set with planted logits ---------------------------------------------------


def planted_segment(
    self: OnnxBackend, x: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Every pixel is a door; a red pixel is a dent, a green one a scratch, as sure as it
    is blue (logit 1 at blue 0, 5 at blue 255: probability 0.73 to 0.99)."""
    n, _, h, w = x.shape
    r, g, b = x[:, 0], x[:, 1], x[:, 2]  # normalised to [-1, 1]
    parts = np.zeros((n, 10, h, w), dtype=np.float32)
    parts[:, 5] = 5.0
    damage = np.full((n, 4, h, w), -5.0, dtype=np.float32)
    damage[:, 0] = 0.0
    strength = 3.0 + 2.0 * b
    damage[:, DENT] = np.where((r > 0.5) & (g < -0.5), strength, -5.0)
    damage[:, SCRATCH] = np.where((g > 0.5) & (r < -0.5), strength, -5.0)
    return parts, damage


# Each photo (128 x 96, so the 64 px model works on a 2x smaller grid): blob A at x 16-31,
# y 16-31; blob B at x 80-95, y 48-63. (class, blue, label) for A and B; a label of None
# means the blob is not labelled (the finding is wrong).
DENT_NAME, SCRATCH_NAME = "deformity", "surface_damage"
Blob = tuple[str, int, str | None]
PHOTOS: dict[str, tuple[Blob, Blob]] = {}
for i in range(10):  # the fit half: 10 correct, 10 wrong
    PHOTOS[f"fit{i:02d}.png"] = (
        (DENT_NAME, 255 - 12 * i, None if i == 3 else DENT_NAME),
        (SCRATCH_NAME, 12 * i, SCRATCH_NAME if i == 6 else DENT_NAME if i == 8 else None),
    )
for i in range(6):  # the threshold half
    PHOTOS[f"thr{i:02d}.png"] = (
        (DENT_NAME, 250 - 20 * i, DENT_NAME),
        (SCRATCH_NAME, 20 * i, SCRATCH_NAME if i == 5 else None),
    )
FIT = [name for name in PHOTOS if name.startswith("fit")]
THRESHOLD = [name for name in PHOTOS if name.startswith("thr")]
BOXES = ((16, 16), (80, 48))  # top-left corners of A and B, 16 x 16 each


@pytest.fixture(scope="module", autouse=True)
def planted() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OnnxBackend, "segment", planted_segment)
        yield


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The photos and a COCO file labelling the blobs (categories named like the damage
    taxonomy's classes, so no mapping is needed)."""
    root = tmp_path_factory.mktemp("labelled")
    (root / "images").mkdir()
    categories = [{"id": 1, "name": SCRATCH_NAME}, {"id": 2, "name": DENT_NAME}]
    ids = {c["name"]: c["id"] for c in categories}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (name, blobs) in enumerate(PHOTOS.items(), start=1):
        rgb = np.full((96, 128, 3), 128, dtype=np.uint8)
        for (x, y), (cls, blue, label) in zip(BOXES, blobs, strict=True):
            rgb[y : y + 16, x : x + 16] = (255, 0, blue) if cls == DENT_NAME else (0, 255, blue)
            if label is not None:
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": ids[label],
                        "segmentation": [[x, y, x + 16, y, x + 16, y + 16, x, y + 16]],
                        "bbox": [x, y, 16, 16],
                        "area": 256,
                        "iscrowd": 0,
                    }
                )
        Image.fromarray(rgb).save(root / "images" / name)
        images.append({"id": image_id, "file_name": name, "width": 128, "height": 96})
    doc = {"images": images, "annotations": annotations, "categories": categories}
    (root / "annotations.json").write_text(json.dumps(doc), encoding="utf-8")
    return root


def test_the_planted_model_finds_both_blobs_of_every_photo(
    tiny_version: Path, labelled: Path
) -> None:
    report = run_findings_task(
        weights=str(tiny_version),
        coco=labelled / "annotations.json",
        images=labelled / "images",
        include=FIT,
    )
    assert report["task"] == "findings"
    assert report["rule"] == RULE
    assert report["photos"] == 10
    assert report["findings"] == 20
    assert report["findings_per_photo"] == {"median": 2.0, "p90": 2.0, "mean": 2.0}
    assert (report["correct"], report["correct_any"]) == (10, 11)  # fit08's B: a dent label
    assert report["precision"] == 0.5
    assert report["precision_any"] == 0.55
    # 11 labels: 9 A blobs, fit06 B (a scratch, found) and fit08 B (a dent label under a
    # scratch finding: not found)
    assert (report["instances"], report["instances_found"], report["recall"]) == (11, 10, 0.909091)
    assert report["model"] == {
        "version": "9.9.9-tiny",
        "directory": str(tiny_version),
        "calibrated": False,
        "threshold": 0.5,
        "damage_backend": "segmentation",
    }
    assert report["grouping"] == "whole"
    assert report["settings_overrides"] == {}
    assert report["photo_list"] == "10 listed photos"
    assert set(report["per_class"]) == {DENT_NAME, SCRATCH_NAME}
    assert report["per_class"][DENT_NAME]["precision"] == 0.9
    assert report["per_class"][SCRATCH_NAME]["precision"] == 0.1
    # uncalibrated: the reported confidence is C_base, and the threshold is the version's
    assert report["at_threshold"]["threshold"] == 0.5


def test_recall_counts_an_instance_missed_by_its_class(tiny_version: Path, labelled: Path) -> None:
    report = run_findings_task(
        weights=str(tiny_version),
        coco=labelled / "annotations.json",
        images=labelled / "images",
        include=["fit08.png"],
    )
    # fit08's scratch blob is labelled a dent: the dent label is not found by a scratch
    assert (report["instances"], report["instances_found"]) == (2, 1)
    assert report["correct_any"] == 2
    assert report["correct"] == 1


# calibrate_version ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(
    tiny_version: Path, labelled: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("calibrated") / "9.9.10-calibrated"
    summary = calibrate_version(
        weights=str(tiny_version),
        coco=labelled / "annotations.json",
        images=labelled / "images",
        fit_photos=FIT,
        threshold_photos=THRESHOLD,
        out=out,
        version="9.9.10-calibrated",
        threads=1,
    )
    return out, summary


def test_calibrate_writes_a_version_that_loads_with_its_calibrator(
    tiny_version: Path, calibrated: tuple[Path, dict[str, Any]]
) -> None:
    out, summary = calibrated
    manifest = load_manifest(out)
    source = load_manifest(tiny_version)
    assert manifest.version == "9.9.10-calibrated"
    assert manifest.status == "candidate"
    assert manifest.raw["provenance"]["calibrated_from"] == "9.9.9-tiny"
    # the source's overrides are kept (the finding settings may be pinned beside them)
    assert {k: manifest.settings[k] for k in source.settings} == source.settings
    new_settings = Predictor.from_manifest(out, threads=1).settings
    assert new_settings == Predictor.from_manifest(tiny_version, threads=1).settings
    assert manifest.weights == source.weights  # the same files, by name and hash
    for role in manifest.weights.values():
        for entry in role.values():
            assert file_sha256(out / entry.file) == entry.sha256
    assert manifest.calibrator is not None
    path = manifest.calibrator_path()
    assert path is not None
    assert path.name == f"calibrator-{manifest.calibrator.sha256}.json"
    assert file_sha256(path) == manifest.calibrator.sha256
    calibrator = load_calibrator(path)
    assert calibrator.classes == CLASSES[1:]
    assert dict(calibrator.meta)["findings"] == 20
    assert dict(calibrator.meta)["correct"] == 10
    assert dict(calibrator.meta)["photos"] == 10
    assert summary["fit_findings"] == 20
    assert summary["threshold_findings"] == 12
    assert summary["version"] == "9.9.10-calibrated"
    assert summary["directory"] == str(out)


def test_calibrate_stores_a_threshold_and_its_promise(
    calibrated: tuple[Path, dict[str, Any]],
) -> None:
    out, summary = calibrated
    manifest = load_manifest(out)
    promise = dict(manifest.threshold_promise)
    choice = ThresholdChoice(**promise)
    assert choice.calibration_findings == 12
    assert (choice.target_precision, choice.confidence_level) == (0.9, 0.9)
    expected = 1.0 if choice.threshold is None else choice.threshold
    assert manifest.threshold == summary["threshold"] == expected
    assert 0.0 <= manifest.threshold <= 1.0
    assert manifest.target_precision == 0.9
    assert summary["promise"] == choice.promise()
    split = manifest.metrics["findings_threshold_split"]
    assert (split["photos"], split["findings"]) == (6, 12)
    assert split["at_threshold"]["threshold"] == manifest.threshold


def test_the_calibrated_version_reports_calibrated_confidences(
    tiny_version: Path, calibrated: tuple[Path, dict[str, Any]], labelled: Path
) -> None:
    out, _ = calibrated
    new = Predictor.from_manifest(out, threads=1)
    old = Predictor.from_manifest(tiny_version, threads=1)
    assert new.model_info.calibrated is True
    assert old.model_info.calibrated is False
    photo_path = labelled / "images" / "thr00.png"
    (result,) = new.predict([photo_path])
    (before,) = old.predict([photo_path])
    assert len(result.findings) == len(before.findings) == 2
    assert result.model.calibrated is True
    for f, b in zip(result.findings, before.findings, strict=True):
        assert f.c_base == b.c_base == b.confidence
        assert f.confidence != f.c_base
        assert 0.0 <= f.confidence <= 1.0
        assert new.calibrator is not None
        assert f.confidence == new.calibrator.confidence(f.evidence, f.damage)


def test_a_corrupted_calibrator_is_refused_at_load(
    calibrated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _ = calibrated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    manifest = load_manifest(copy)
    assert manifest.calibrator is not None
    path = copy / manifest.calibrator.file
    path.write_text(path.read_text(encoding="utf-8") + " ", encoding="utf-8")
    manifest_text = (copy / MANIFEST).read_text(encoding="utf-8")
    with pytest.raises(WeightsMismatchError) as excinfo:
        Predictor.from_manifest(copy, threads=1)
    assert str(excinfo.value) == (
        f"{path.name} does not match its sha256 in the manifest: the calibrator is "
        "corrupted or was replaced; restore it or register a new version"
    )
    assert (copy / MANIFEST).read_text(encoding="utf-8") == manifest_text


def test_overlapping_photo_lists_are_refused(
    tiny_version: Path, labelled: Path, tmp_path: Path
) -> None:
    out = tmp_path / "new"
    with pytest.raises(ValueError, match="overlap") as excinfo:
        calibrate_version(
            weights=str(tiny_version),
            coco=labelled / "annotations.json",
            images=labelled / "images",
            fit_photos=FIT,
            threshold_photos=[*THRESHOLD, FIT[0]],
            out=out,
            version="x",
        )
    assert str(excinfo.value) == "the fit and threshold photo lists overlap; they must be disjoint"
    assert not out.exists()


def test_an_existing_output_directory_is_refused(
    tiny_version: Path, labelled: Path, tmp_path: Path
) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError) as excinfo:
        calibrate_version(
            weights=str(tiny_version),
            coco=labelled / "annotations.json",
            images=labelled / "images",
            fit_photos=FIT,
            threshold_photos=THRESHOLD,
            out=out,
            version="x",
        )
    assert str(excinfo.value) == f"{out} exists; choose a new directory for the new version"
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"


# The command line -------------------------------------------------------------------------


def test_evaluate_findings_writes_the_report_plots_and_records(
    tiny_version: Path, labelled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "fit.txt"
    listed.write_text("# the fit half\n" + "\n".join(FIT) + "\n", encoding="utf-8")
    out = tmp_path / "reports" / "R.json"
    out.parent.mkdir()
    code = cli.main(
        [
            "evaluate",
            "--task",
            "findings",
            "--weights",
            str(tiny_version),
            "--coco",
            str(labelled / "annotations.json"),
            "--images",
            str(labelled / "images"),
            "--include",
            str(listed),
            "--settings",
            '{"grouping": "paper"}',
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "R.coverage.png",
        "R.findings.jsonl",
        "R.json",
        "R.reliability.png",
    ]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["task"] == "findings"
    assert report["grouping"] == "paper"
    assert report["settings_overrides"] == {"grouping": "paper"}
    assert (report["photos"], report["findings"]) == (10, 20)
    printed = json.loads(capsys.readouterr().out)
    assert printed["findings"] == 20
    for png in ("R.coverage.png", "R.reliability.png"):
        assert (out.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = (out.parent / "R.findings.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 20
    assert set(records[0]) == {
        "photo",
        "part",
        "damage",
        "confidence",
        "c_base",
        "area_px",
        "correct",
        "correct_any",
        "on_class",
        "on_any",
        "evidence",
    }
    assert sum(r["correct"] for r in records) == 10
    assert {r["photo"] for r in records} == set(FIT)


def test_evaluate_findings_creates_the_folder_of_its_report(
    tiny_version: Path, labelled: Path, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "R.json"
    run_findings_task(
        weights=str(tiny_version),
        coco=labelled / "annotations.json",
        images=labelled / "images",
        include=["thr00.png"],
        out=out,
    )
    assert out.with_suffix(".reliability.png").is_file()


def test_evaluate_findings_can_record_the_report_in_the_manifest(
    tiny_version: Path, labelled: Path, tmp_path: Path
) -> None:
    version = tmp_path / "version"
    shutil.copytree(tiny_version, version)
    before = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
    report = run_findings_task(
        weights=str(version),
        coco=labelled / "annotations.json",
        images=labelled / "images",
        include=THRESHOLD,
        record="findings_evaluation",
    )
    after = json.loads((version / MANIFEST).read_text(encoding="utf-8"))
    stored = after["metrics"].pop("findings_evaluation")
    assert after == before  # nothing else changed
    assert stored == json.loads(json.dumps({k: v for k, v in report.items() if k != "model"}))
    assert stored["findings"] == 12


def _whole_photo_scratches(tmp_path: Path, bus_jpg: Path, photos: int) -> Path:
    """Photos of which every other one is labelled as one scratch over the whole frame:
    under the box rule every scratch box there is correct, every box elsewhere wrong."""
    (tmp_path / "images").mkdir()
    images, annotations = [], []
    for i in range(photos):
        shutil.copy(bus_jpg, tmp_path / "images" / f"d{i}.jpg")
        images.append({"id": i, "file_name": f"d{i}.jpg", "width": 360, "height": 480})
        if i % 2:
            continue
        annotations.append(
            {
                "id": i,
                "image_id": i,
                "category_id": 1,
                "bbox": [0, 0, 360, 480],
                "area": 360 * 480,
                "iscrowd": 0,
                "segmentation": [[0, 0, 360, 0, 360, 480, 0, 480]],
            }
        )
    path = tmp_path / "annotations.json"
    path.write_text(
        json.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": 1, "name": "surface_damage"}],
            }
        )
    )
    return path


def test_calibrating_a_detection_version_keeps_its_references_and_scores_boxes(
    detection_version: Path, bus_jpg: Path, tmp_path: Path
) -> None:
    coco = _whole_photo_scratches(tmp_path, bus_jpg, 4)
    out = tmp_path / "9.9.11-yolo-calibrated"
    summary = calibrate_version(
        weights=str(detection_version),
        coco=coco,
        images=tmp_path / "images",
        fit_photos=["d0.jpg", "d1.jpg"],
        threshold_photos=["d2.jpg", "d3.jpg"],
        out=out,
        version="9.9.11-yolo-calibrated",
        threads=1,
        rule="box",
        method="isotonic",  # random boxes: right and wrong ones look alike to Platt
    )
    manifest = load_manifest(out)
    source = load_manifest(detection_version)
    assert manifest.damage_backend == "detection"
    # the detector is copied; the parts and vehicle models stay references, re-based
    assert (out / manifest.weights["detector"]["onnx"].file).is_file()
    for role in ("segmentation", "vehicle"):
        assert (
            manifest.weight_path(role, "onnx").resolve()
            == source.weight_path(role, "onnx").resolve()
        )
    calibrator = manifest.calibrator_path()
    assert calibrator is not None
    assert "box" in dict(load_calibrator(calibrator).meta)["rule"]
    assert summary["fit_findings"] > 0
    (photo,) = Predictor.from_manifest(out, threads=1).predict(tmp_path / "images" / "d0.jpg")
    assert photo.findings
    assert {f.shape for f in photo.findings} == {"box"}
    assert all(0.0 < f.confidence < 1.0 for f in photo.findings)
