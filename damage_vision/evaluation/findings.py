"""Finding-level evaluation: what a customer reads and an adjuster decides on.

`python -m damage_vision evaluate --task findings --coco ANNOTATIONS --images DIR --out R.json`
runs a model version's whole per-photo pipeline (vehicle check, segmentation, grouping,
confidence) on labelled photos and scores its findings against the labelled damage
instances, mapped to the version's damage taxonomy:

- a finding is **correct** when at least half of its mask (at the photo's resolution)
  lies on labelled damage of its own class (`correct_any`: of any damage class);
- a labelled instance is **found** when at least 10% of it is covered by findings of its
  class;
- photos set aside by the pipeline (no vehicle, blurred, too close...) have no findings.

With `rule="box"` (`--rule box`) the same shares are measured on boxes: every labelled
instance becomes its bounding box and every finding its box (a detector box, or the
bounding box of a mask finding), so that a box back end and a mask back end are scored
on the same footing.

The per-finding records (confidence, C_base, evidence, outcome) are also what a
calibrator is fitted on (`python -m damage_vision calibrate`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from damage_vision.data.coco import (
    IGNORE_INDEX,
    CocoDataset,
    category_lookup,
    decode_segmentation,
    load_coco,
    load_mapping,
)
from damage_vision.pipeline.grouping import mask_box
from damage_vision.pipeline.masks import resize_mask
from damage_vision.pipeline.predictor import Predictor
from damage_vision.pipeline.types import PhotoResult
from damage_vision.release import released_mask

CORRECT_SHARE = 0.5  # of a finding's pixels on labelled damage of its class
FOUND_SHARE = 0.1  # of an instance's pixels covered by findings of its class
RULE = (
    "a finding is correct when at least 50% of its mask (at the photo's resolution) lies on "
    "labelled damage of its own class (correct_any: of any damage class); a labelled "
    "instance is found when at least 10% of it is covered by findings of its class; photos "
    "the pipeline sets aside have no findings"
)
BOX_RULE = (
    "a finding is correct when at least 50% of its box (a detector box, or the bounding box "
    "of a mask finding, at the photo's resolution) lies on the boxes of labelled damage of "
    "its own class (correct_any: of any damage class); a labelled instance is found when at "
    "least 10% of its box is covered by boxes of findings of its class; photos the pipeline "
    "sets aside have no findings"
)
RULES = {"mask": RULE, "box": BOX_RULE}


def filled_box(mask: np.ndarray) -> np.ndarray:
    """A mask of the same shape holding the bounding box of `mask` (empty stays empty)."""
    out = np.zeros_like(mask, dtype=bool)
    if mask.any():
        x0, y0, x1, y1 = mask_box(mask)
        out[y0:y1, x0:x1] = True
    return out


@dataclass(frozen=True)
class FindingRecord:
    photo: str
    part: str
    damage: str
    confidence: float
    c_base: float
    area_px: int  # in the processed grid
    correct: bool
    correct_any: bool
    on_class: float  # share of the finding on labelled damage of its class
    on_any: float  # share of the finding on labelled damage of any class
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceRecord:
    photo: str
    damage: str
    area_px: int  # at the photo's resolution
    found: bool


@dataclass
class FindingEvaluation:
    """Everything measured on one labelled set, before it is summarised."""

    photos: list[str]
    findings: list[FindingRecord]
    instances: list[InstanceRecord]
    set_aside: Counter[str]
    model: dict[str, Any]
    settings: dict[str, Any]
    rule: str = "mask"


def _labelled_instances(
    dataset: CocoDataset, image_id: int, lut: dict[int, int], height: int, width: int
) -> list[tuple[int, np.ndarray]]:
    out = []
    for ann in dataset.annotations[image_id]:
        cls = lut.get(ann.category_id, IGNORE_INDEX)
        if cls == IGNORE_INDEX or cls == 0:
            continue
        mask = decode_segmentation(ann.segmentation, height, width)
        if mask.any():
            out.append((cls, mask))
    return out


def score_photo(
    name: str,
    result: PhotoResult,
    instances: Sequence[tuple[int, np.ndarray]],
    classes: Sequence[str],
    rule: str = "mask",
) -> tuple[list[FindingRecord], list[InstanceRecord]]:
    """Outcomes of one photo's findings and labelled instances (class indices into
    `classes`, masks at the photo's resolution after EXIF orientation), by `rule`
    ("mask" or "box", see RULES)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
    if rule == "box":
        instances = [(cls, filled_box(mask)) for cls, mask in instances]
    width, height = result.image_size
    union = np.zeros((len(classes), height, width), dtype=bool)
    for cls, mask in instances:
        if mask.shape != (height, width):
            raise ValueError(
                f"{name}: label of {mask.shape[1]}x{mask.shape[0]} on a photo of {width}x{height}"
            )
        union[cls] |= mask
    any_damage = union[1:].any(axis=0)
    covered = np.zeros_like(union)
    findings = []
    for f in result.findings:
        full = resize_mask(f.mask, (width, height))
        if rule == "box":
            full = filled_box(full)
        cls = classes.index(f.damage)
        area = int(full.sum())
        covered[cls] |= full
        on_class = int((full & union[cls]).sum()) / area if area else 0.0
        on_any = int((full & any_damage).sum()) / area if area else 0.0
        findings.append(
            FindingRecord(
                photo=name,
                part=f.part,
                damage=f.damage,
                confidence=float(f.confidence),
                c_base=float(f.c_base),
                area_px=f.area_px,
                correct=area > 0 and on_class >= CORRECT_SHARE,
                correct_any=area > 0 and on_any >= CORRECT_SHARE,
                on_class=on_class,
                on_any=on_any,
                evidence={k: float(v) for k, v in f.evidence.items()},
            )
        )
    found = [
        InstanceRecord(
            photo=name,
            damage=classes[cls],
            area_px=int(mask.sum()),
            found=int((mask & covered[cls]).sum()) >= FOUND_SHARE * int(mask.sum()),
        )
        for cls, mask in instances
    ]
    return findings, found


def iterate_predictions(
    predictor: Predictor,
    dataset: CocoDataset,
    include: Sequence[str] | None = None,
    limit: int | None = None,
) -> Iterator[tuple[str, int, PhotoResult]]:
    """(file name, image id, result) for the dataset's images, in file-name order."""
    wanted = None if include is None else set(include)
    images = sorted(dataset.images, key=lambda im: im.file_name)
    if wanted is not None:
        missing = sorted(wanted - {im.file_name for im in images})
        if missing:
            raise ValueError(
                f"{len(missing)} listed images are not in {dataset.annotation_file}, e.g. "
                f"{missing[0]}; is the list for another split?"
            )
        images = [im for im in images if im.file_name in wanted]
    if limit:
        images = images[:limit]
    for image in images:
        (result,) = predictor.predict(image.path)
        yield image.file_name, image.id, result


def evaluate_findings(
    predictor: Predictor,
    coco: Path,
    images: Path | None = None,
    mapping: Path | None = None,
    include: Sequence[str] | None = None,
    limit: int | None = None,
    rule: str = "mask",
) -> FindingEvaluation:
    """Run `predictor` on the labelled photos and score every finding and instance by
    `rule` ("mask" or "box")."""
    dataset = load_coco(coco, images)
    taxonomy = predictor.damage_taxonomy
    lut = category_lookup(dataset, taxonomy, load_mapping(mapping) if mapping else None)
    photos: list[str] = []
    findings: list[FindingRecord] = []
    instances: list[InstanceRecord] = []
    set_aside: Counter[str] = Counter()
    for name, image_id, result in iterate_predictions(predictor, dataset, include, limit):
        photos.append(name)
        width, height = result.image_size
        labelled = _labelled_instances(dataset, image_id, lut, height, width)
        if result.set_aside_reason is not None:
            set_aside.update(result.quality.reasons)
        f, i = score_photo(name, result, labelled, taxonomy.classes, rule)
        findings += f
        instances += i
    return FindingEvaluation(
        photos=photos,
        findings=findings,
        instances=instances,
        set_aside=set_aside,
        model={
            "version": predictor.manifest.version,
            "directory": str(predictor.manifest.directory),
            "calibrated": predictor.calibrator is not None,
            "threshold": predictor.manifest.threshold,
            "damage_backend": predictor.manifest.damage_backend,
        },
        settings=asdict(predictor.settings),
        rule=rule,
    )


def summarise(evaluation: FindingEvaluation, threshold: float | None = None) -> dict[str, Any]:
    """The JSON report: the finding metrics (overall and per class), the rule, the model,
    set-aside photos, and what a threshold would release."""
    from damage_vision.evaluation.finding_metrics import (
        FindingOutcome,
        InstanceOutcome,
        finding_report,
    )

    report = finding_report(
        [
            FindingOutcome(
                photo=f.photo,
                damage=f.damage,
                confidence=f.confidence,
                correct=f.correct,
                correct_any=f.correct_any,
            )
            for f in evaluation.findings
        ],
        [
            InstanceOutcome(photo=i.photo, damage=i.damage, found=i.found)
            for i in evaluation.instances
        ],
        evaluation.photos,
    )
    out: dict[str, Any] = {
        "task": "findings",
        "rule": RULES[evaluation.rule],
        "rule_name": evaluation.rule,
        "model": evaluation.model,
        "photos": len(evaluation.photos),
        "instances": len(evaluation.instances),
        "set_aside_reasons": dict(evaluation.set_aside),
        "grouping": evaluation.settings.get("grouping"),
        **report,
    }
    if threshold is not None:
        conf = np.asarray([f.confidence for f in evaluation.findings])
        ok = np.asarray([f.correct for f in evaluation.findings], dtype=bool)
        released = released_mask(conf, threshold)
        out["at_threshold"] = {
            "threshold": threshold,
            "released_share": float(released.mean()) if conf.size else None,
            "precision_released": float(ok[released].mean()) if released.any() else None,
        }
    return out


def write_records(evaluation: FindingEvaluation, path: Path) -> None:
    """Per-finding records as JSON lines (what `calibrate` fits on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in evaluation.findings:
            fh.write(json.dumps(asdict(record)) + "\n")


def run_findings_task(
    *,
    weights: str | None,
    coco: Path,
    images: Path | None,
    mapping: Path | None = None,
    include: Sequence[str] | None = None,
    limit: int | None = None,
    settings: dict[str, Any] | None = None,
    out: Path | None = None,
    record: str | None = None,
    rule: str = "mask",
) -> dict[str, Any]:
    """`evaluate --task findings`: the report; with `out`, also the reliability diagram
    and precision-coverage PNGs beside it (`.reliability.png`, `.coverage.png`) and the
    per-finding records (`.findings.jsonl`); with `record`, the report is also stored in
    the version's manifest metrics under that name."""
    from damage_vision.evaluation.finding_metrics import (
        plot_precision_coverage,
        plot_reliability,
    )
    from damage_vision.versions.registry import MANIFEST, write_manifest

    predictor = Predictor.from_manifest(weights)
    if settings:
        predictor.settings = predictor.settings.with_overrides(settings)
    evaluation = evaluate_findings(predictor, coco, images, mapping, include, limit, rule)
    report = summarise(evaluation, predictor.manifest.threshold)
    report["settings_overrides"] = dict(settings or {})
    report["photo_list"] = None if include is None else f"{len(include)} listed photos"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        stem = out.with_suffix("")
        version = predictor.manifest.version
        plot_reliability(report, Path(f"{stem}.reliability.png"), f"{version}: reliability")
        plot_precision_coverage(
            {version: report}, Path(f"{stem}.coverage.png"), f"{version}: precision-coverage"
        )
        write_records(evaluation, Path(f"{stem}.findings.jsonl"))
    if record:
        path = predictor.manifest.directory / MANIFEST
        data = json.loads(path.read_text(encoding="utf-8"))
        stored = {k: v for k, v in report.items() if k != "model"}
        data.setdefault("metrics", {})[record] = stored
        write_manifest(data, predictor.manifest.directory)
    return report
