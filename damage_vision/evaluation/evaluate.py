"""The evaluation harness behind `python -m damage_vision evaluate` and `compare`. Long and one
piece: each task (parts, damage, findings, detector) loads weights and data the same way.

Weights are a model version (directory, manifest path or shipped version name; None = the
shipped default) or a training checkpoint (`best.pt` of a run). Segmentation predictions
are made like the predictor makes them (long side resized to the model's input size,
padded to 32) and the logits resized bilinearly to the label map's full size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from damage_vision.data.coco import (
    IGNORE_INDEX,
    category_lookup,
    load_coco,
    load_mapping,
    rasterise,
)
from damage_vision.data.paths import CONFIGS_DIR
from damage_vision.evaluation.metrics import (
    SetScores,
    binary_accuracy,
    count_accuracy,
    mean_iou,
    miou_by_group,
    per_class_iou,
    pixel_accuracy,
    roc_auc,
    set_precision_recall,
    visible_count,
)
from damage_vision.networks.classifier import VehicleClassifier, VehiclePresence
from damage_vision.networks.pretrained import LITE_MEAN, LITE_STD
from damage_vision.networks.segmentation import SegmentationModel, build_segmentation_model
from damage_vision.pipeline.images import classifier_input, load_image, normalise
from damage_vision.pipeline.settings import PipelineSettings
from damage_vision.taxonomy import Taxonomy, load_taxonomy
from damage_vision.versions.registry import ManifestError, resolve_model

DAMAGED_PARTS_MAPPING = CONFIGS_DIR / "mappings" / "damaged-parts-cardiag.yaml"


@dataclass
class LoadedSegmenter:
    model: SegmentationModel
    parts: Taxonomy
    damage: Taxonomy
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str


def _is_checkpoint(path: Path) -> bool:
    return path.is_file() and path.suffix == ".pt"


def load_segmenter(weights: str | Path | None) -> LoadedSegmenter:
    """A segmentation model from a model version or a training checkpoint (`best.pt`)."""
    if weights is not None and _is_checkpoint(Path(weights)):
        state = torch.load(weights, map_location="cpu", weights_only=False)
        spec = state["spec"]
        parts, damage = load_taxonomy(spec["part_taxonomy"]), load_taxonomy(spec["damage_taxonomy"])
        model = build_segmentation_model(
            spec["arch"], spec["encoder"], parts, damage, joint=spec["joint"]
        )
        model.load_state_dict(state["model"])
        return LoadedSegmenter(
            model.eval(), parts, damage, int(spec["input_size"]), LITE_MEAN, LITE_STD, str(weights)
        )
    from damage_vision.pipeline.torch_backend import load_models

    manifest = resolve_model(weights)
    model, _ = load_models(manifest)
    return LoadedSegmenter(
        model,
        load_taxonomy(manifest.part_taxonomy),
        load_taxonomy(manifest.damage_taxonomy),
        manifest.input_size,
        manifest.mean,
        manifest.std,
        f"{manifest.version} ({manifest.directory})",
    )


@torch.inference_mode()
def predict_maps(
    seg: LoadedSegmenter, image: Path, height: int, width: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Argmax part and damage maps of one photo at (height, width)."""
    loaded = load_image(image, seg.input_size)
    h, w = loaded.rgb.shape[:2]
    x = torch.from_numpy(normalise(loaded.rgb, seg.mean, seg.std, 32))
    out = seg.model(x)
    maps = []
    for logits in out:
        resized = F.interpolate(
            logits[:, :, :h, :w], size=(height, width), mode="bilinear", align_corners=False
        )
        maps.append(resized[0].argmax(0).numpy().astype(np.uint8))
    return maps[0], maps[1]


def _plot_confusion(
    cm: npt.NDArray[np.int64], classes: Sequence[str], path: Path, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
    size = 1.0 + 0.55 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _floats(values: npt.NDArray[np.float64], names: Sequence[str]) -> dict[str, float | None]:
    return {
        n: (None if np.isnan(v) else round(float(v), 6)) for n, v in zip(names, values, strict=True)
    }


def evaluate_segmentation(
    task: str,
    coco: Path,
    images: Path | None,
    weights: str | Path | None = None,
    mapping: Path | None = None,
    include: Sequence[str] | None = None,
    out: Path | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Per-class IoU, `miou`, pixel confusion matrix (+ PNG), and for parts the
    number-of-parts accuracy and the IoU by number of visible parts. Per-image confusion
    matrices go to `<out>.npz` for `compare`."""
    if task not in ("parts", "damage"):
        raise ValueError(f"segmentation task must be parts or damage, got {task!r}")
    seg = load_segmenter(weights)
    taxonomy = seg.parts if task == "parts" else seg.damage
    dataset = load_coco(coco, images)
    if include is not None:
        dataset = dataset.subset(include)
    lut = category_lookup(dataset, taxonomy, load_mapping(mapping) if mapping else None)
    k = taxonomy.num_classes
    settings = PipelineSettings()
    cms: list[npt.NDArray[np.int64]] = []
    true_counts: list[int] = []
    pred_counts: list[int] = []
    names: list[str] = []
    chosen = dataset.images[:limit] if limit else dataset.images
    for image in chosen:
        truth = rasterise(image, dataset.annotations.get(image.id, []), lut)
        parts_map, damage_map = predict_maps(seg, image.path, image.height, image.width)
        pred = parts_map if task == "parts" else damage_map
        t = truth.ravel().astype(np.int64)
        keep = t != IGNORE_INDEX
        cm = np.bincount(t[keep] * k + pred.ravel()[keep], minlength=k * k).reshape(k, k)
        cms.append(cm)
        names.append(image.file_name)
        if task == "parts":
            true_counts.append(visible_count(truth, k, settings.min_part_share))
            pred_counts.append(
                visible_count(
                    np.where(truth == IGNORE_INDEX, IGNORE_INDEX, pred), k, settings.min_part_share
                )
            )
    total = np.sum(cms, axis=0) if cms else np.zeros((k, k), dtype=np.int64)
    report: dict[str, Any] = {
        "task": task,
        "model": seg.name,
        "taxonomy": taxonomy.name,
        "annotations": str(coco),
        "images": len(cms),
        "input_size": seg.input_size,
        "miou": round(mean_iou(total), 6),
        "per_class_iou": _floats(per_class_iou(total), taxonomy.classes),
        "pixel_accuracy": round(pixel_accuracy(total), 6),
        "classes": list(taxonomy.classes),
        "confusion_matrix": total.tolist(),
    }
    if task == "parts":
        acc = count_accuracy(true_counts, pred_counts)
        report["parts_count_accuracy"] = {
            "exact": acc.exact,
            "within_one": acc.within_one,
            "min_part_share": settings.min_part_share,
        }
        report["iou_by_visible_parts"] = {
            str(g): v for g, v in miou_by_group(cms, true_counts).items()
        }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        png = out.with_suffix(".confusion.png")
        _plot_confusion(total, taxonomy.classes, png, f"{task}: {seg.name}")
        report["confusion_png"] = str(png)
        npz = out.with_suffix(".npz")
        np.savez_compressed(
            npz, confusion=np.stack(cms) if cms else np.zeros((0, k, k)), images=np.array(names)
        )
        report["per_image"] = str(npz)
    return report


# ----------------------------------------------------------------------------- vehicle


def load_vehicle(weights: str | Path | None) -> tuple[VehiclePresence, int, int | None, str]:
    """(model, classifier input size, segmentation input size or None, name)."""
    if weights is not None and _is_checkpoint(Path(weights)):
        state = torch.load(weights, map_location="cpu", weights_only=False)
        spec = state["spec"]
        classifier = VehicleClassifier(spec["arch"], spec["head"])
        classifier.load_state_dict(state["model"])
        return VehiclePresence(classifier).eval(), int(spec["input_size"]), None, str(weights)
    from damage_vision.pipeline.torch_backend import load_models

    manifest = resolve_model(weights)
    _, vehicle = load_models(manifest)
    return (
        vehicle,
        manifest.vehicle.input_size,
        manifest.input_size,
        f"{manifest.version} ({manifest.directory})",
    )


@torch.inference_mode()
def evaluate_vehicle(
    samples: Sequence[tuple[Path, int]], weights: str | Path | None = None, threshold: float = 0.5
) -> dict[str, Any]:
    """Accuracy (key `accuracy`) and ROC AUC of vehicle presence on (path, label) pairs."""
    model, size, seg_size, name = load_vehicle(weights)
    probs = []
    for path, _ in samples:
        if seg_size is None:
            from PIL import Image

            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
        else:
            rgb = load_image(path, seg_size).rgb  # the predictor's path: photo first, then squeeze
        x = torch.from_numpy(classifier_input(rgb, size, LITE_MEAN, LITE_STD))
        probs.append(float(model(x)[0]))
    labels = np.array([y for _, y in samples])
    scores = np.array(probs)
    groups: dict[str, list[int]] = {}
    for i, (path, _) in enumerate(samples):
        groups.setdefault(_source_of(path), []).append(i)
    return {
        "task": "vehicle",
        "model": name,
        "images": len(samples),
        "positives": int(labels.sum()),
        "threshold": threshold,
        "accuracy": round(binary_accuracy(labels, scores, threshold), 6),
        "roc_auc": round(roc_auc(labels, scores), 6),
        "accuracy_by_source": {
            g: round(binary_accuracy(labels[idx], scores[idx], threshold), 6)
            for g, idx in sorted(groups.items())
        },
    }


def _source_of(path: Path) -> str:
    from damage_vision.data.paths import data_root

    try:
        return path.resolve().relative_to(data_root().resolve()).parts[0]
    except (ValueError, FileNotFoundError):
        return path.parent.name


def vehicle_samples(
    list_file: Path | None, images: Path | None, coco: Path | None
) -> list[tuple[Path, int]]:
    """Labelled photos: a `label<TAB>path` list, or UIUC-named files (`pos-*`, `neg-*`) in
    `images`, or every photo of a COCO file (all vehicle photos: label 1)."""
    from damage_vision.training.vehicle import read_vehicle_list, uiuc_label

    if list_file is not None:
        return [(s.path, s.label) for s in read_vehicle_list(list_file)]
    if coco is not None:
        return [(im.path, 1) for im in load_coco(coco, images).images]
    if images is not None:
        pairs = [(p, uiuc_label(p)) for p in sorted(images.iterdir())]
        return [(p, y) for p, y in pairs if y is not None]
    raise ValueError(
        "vehicle evaluation needs --list FILE, --coco FILE or --images DIR (pos-*/neg-*)"
    )


# ------------------------------------------------------------------------ damaged parts


DAMAGED_PART_FLOORS = tuple(round(0.05 * i, 2) for i in range(20))


def evaluate_damaged_parts(
    coco: Path,
    images: Path | None,
    weights: str | Path | None = None,
    mapping: Path | None = None,
    limit: int | None = None,
    backend: str = "onnx",
    min_confidence: float = 0.0,
) -> dict[str, Any]:
    """Precision, recall and F1 of the set of damaged parts the whole pipeline names per
    photo against the damaged-part boxes (damaged-parts-cardiag).

    The mapping file sends each box category to a part of the model's taxonomy or to null
    (no counterpart, e.g. fender, or ambiguous, e.g. rear): photos with such a box are left
    out, and predictions are compared only on the parts the mapping can name. A part is
    named when one of its findings has a confidence of at least `min_confidence`; the
    report also gives the scores for every floor of `DAMAGED_PART_FLOORS` (the `floors`
    curve), from the same run, to choose a floor on one split and report it on another.
    """
    from damage_vision.pipeline.predictor import Predictor

    names = load_mapping(mapping or DAMAGED_PARTS_MAPPING)
    predictor = Predictor.from_manifest(weights, backend=backend)  # type: ignore[arg-type]
    comparable = sorted({v for v in names.values() if v is not None})
    dataset = load_coco(coco, images)
    truth_sets: list[set[str]] = []
    pred_confidence: list[dict[str, float]] = []  # part -> its most confident finding
    skipped = 0
    unknown = sorted(set(dataset.used_categories()) - set(names))
    if unknown:
        raise ValueError(
            f"the mapping {mapping or DAMAGED_PARTS_MAPPING} does not name {unknown}; "
            "add them (null = no counterpart)"
        )
    chosen = dataset.images[:limit] if limit else dataset.images
    for image in chosen:
        cats = {dataset.categories[a.category_id] for a in dataset.annotations.get(image.id, [])}
        if any(names[c] is None for c in cats):
            skipped += 1
            continue
        photo = predictor.predict([image.path])[0]
        truth_sets.append({str(names[c]) for c in cats})
        best: dict[str, float] = {}
        for f in photo.findings:
            if f.part in comparable:
                best[f.part] = max(best.get(f.part, 0.0), float(f.confidence))
        pred_confidence.append(best)

    def named(floor: float) -> list[set[str]]:
        return [{p for p, c in best.items() if c >= floor} for best in pred_confidence]

    scores: SetScores = set_precision_recall(truth_sets, named(min_confidence))
    floors = []
    for floor in DAMAGED_PART_FLOORS:
        at = set_precision_recall(truth_sets, named(floor))
        floors.append(
            {
                "min_confidence": floor,
                "precision": round(at.precision, 6),
                "recall": round(at.recall, 6),
                "f1": round(at.f1, 6),
            }
        )
    return {
        "task": "damaged-parts",
        "model": f"{predictor.manifest.version} ({predictor.manifest.directory})",
        "images": len(truth_sets),
        "skipped_images": skipped,
        "compared_parts": comparable,
        "precision": round(scores.precision, 6),
        "recall": round(scores.recall, 6),
        "f1": round(scores.f1, 6),
        "true_positives": scores.true_positives,
        "false_positives": scores.false_positives,
        "false_negatives": scores.false_negatives,
        "min_confidence": min_confidence,
        "floors": floors,
    }


def json_safe(value: Any) -> Any:
    """NaN (an undefined metric) as null, so that reports are strict JSON."""
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_report(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json_safe(report), indent=2) + "\n", encoding="utf-8")


__all__ = [
    "ManifestError",
    "evaluate_damaged_parts",
    "evaluate_segmentation",
    "evaluate_vehicle",
    "load_segmenter",
    "vehicle_samples",
    "write_report",
]
