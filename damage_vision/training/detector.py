"""Damage detector training through Ultralytics (YOLOv9-CS of paper 2 by default).

COCO boxes are converted once to an Ultralytics dataset under the cache (`yolo_dataset`):
images are symlinked, labels written as `class cx cy w h` (normalised), the class being the
taxonomy index minus 1 (class 0 of a damage taxonomy is "no damage"). Ultralytics keeps its
own HSV and mosaic augmentations (paper 2).

    task: detector
    name: yolov9t-cs-bilgi
    model: {cfg: yolov9t-cs, box_loss: siou}     # or any Ultralytics model YAML
    taxonomies: {damage: damage_bilgi}
    data: {imgsz: 320, train: {coco: damage-bilgi/train/_annotations.coco.json},
           val: {coco: damage-bilgi/valid/_annotations.coco.json}}
    train: {epochs: 30, batch_size: 8, seed: 0, workers: 0}
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from damage_vision.data.coco import category_lookup, load_coco, load_mapping
from damage_vision.data.paths import cache_root, resolve_data_path
from damage_vision.taxonomy import Taxonomy, load_taxonomy
from damage_vision.training.config import TrainConfig, read_list, select_device


def coco_to_yolo(
    coco: Path,
    taxonomy: Taxonomy,
    out: Path,
    images: Path | None = None,
    mapping: Mapping[str, str | None] | None = None,
    include: Sequence[str] | None = None,
) -> int:
    """Write `out/images/*` (symlinks) and `out/labels/*.txt`; returns the number of boxes.
    Boxes of ignored (null-mapped) or background-mapped categories are dropped; with
    `include`, only those file names are written."""
    dataset = load_coco(coco, images)
    if include is not None:
        dataset = dataset.subset(include)
    lut = category_lookup(dataset, taxonomy, mapping)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    boxes = 0
    for image in dataset.images:
        link = out / "images" / image.path.name
        if not link.exists():
            os.symlink(image.path.resolve(), link)
        lines = []
        for ann in dataset.annotations.get(image.id, []):
            cls = lut.get(ann.category_id, 0)
            x, y, w, h = ann.bbox
            if cls in (0, 255) or w <= 0 or h <= 0:
                continue
            cx, cy = (x + w / 2) / image.width, (y + h / 2) / image.height
            lines.append(
                f"{cls - 1} {cx:.6f} {cy:.6f} {w / image.width:.6f} {h / image.height:.6f}"
            )
        (out / "labels" / f"{Path(image.path.name).stem}.txt").write_text(
            "\n".join(lines) + ("\n" if lines else "")
        )
        boxes += len(lines)
    return boxes


def yolo_dataset(
    train: Path,
    val: Path,
    taxonomy: Taxonomy,
    mapping: Mapping[str, str | None] | None = None,
    root: Path | None = None,
    val_include: Sequence[str] | None = None,
) -> Path:
    """An Ultralytics `data.yaml` for COCO train / val files (built once under the cache);
    `val_include` keeps only those validation file names (a split list)."""
    listed = "|".join(sorted(val_include)) if val_include is not None else "*"
    key = hashlib.sha256(
        f"{train.resolve()}|{val.resolve()}|{taxonomy.name}|{sorted((mapping or {}).items())}"
        f"|{listed}".encode()
    ).hexdigest()[:16]
    base = (root or cache_root() / "yolo") / key
    data_yaml = base / "data.yaml"
    if not data_yaml.is_file():
        coco_to_yolo(train, taxonomy, base / "train", mapping=mapping)
        coco_to_yolo(val, taxonomy, base / "val", mapping=mapping, include=val_include)
        names = {i: name for i, name in enumerate(taxonomy.classes[1:])}
        data = {"path": str(base), "train": "train/images", "val": "val/images", "names": names}
        data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml


def _model_yaml(name: str) -> str:
    from damage_vision.networks.detector import MODEL_DIR

    candidate = MODEL_DIR / f"{name}.yaml"
    return str(candidate) if candidate.is_file() else name


def train_detector(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train with Ultralytics; returns `out/best_state.pt` (a plain state dict that
    `YoloDamageDetector(weights=...)` loads) next to Ultralytics' own `weights/best.pt`."""
    import torch
    from ultralytics import YOLO

    from damage_vision.networks.detector import SIoUDetectionTrainer, preserve_torch_threads

    taxonomy = load_taxonomy(cfg.taxonomies.get("damage", "damage_bilgi"))
    train_src: dict[str, Any] = cfg.data["train"]
    val_src: dict[str, Any] = cfg.data["val"]
    mapping = load_mapping(cfg.relative(train_src["mapping"])) if train_src.get("mapping") else None
    val_include: list[str] | None = None
    for listed in val_src.get("include", []) or []:
        val_include = (val_include or []) + read_list(cfg.relative(listed))
    data_yaml = yolo_dataset(
        resolve_data_path(train_src["coco"]),
        resolve_data_path(val_src["coco"]),
        taxonomy,
        mapping,
        val_include=val_include,
    )
    s = cfg.train
    box_loss = str(cfg.model.get("box_loss", "siou"))
    out = cfg.out
    last = out / "ultralytics" / "weights" / "last.pt"
    with preserve_torch_threads():
        if resume and last.is_file():
            model = YOLO(str(last))
            model.train(resume=True)
        else:
            model = YOLO(_model_yaml(str(cfg.model.get("cfg", "yolov9t-cs"))))
            # Ultralytics sets torch's threads to cores - 1 (1 on a 2-core machine) when
            # it selects the device; give the training the threads the config asks for.
            model.add_callback("on_train_start", lambda _trainer: torch.set_num_threads(s.threads))
            model.train(
                data=str(data_yaml),
                epochs=s.epochs,
                imgsz=int(cfg.data.get("imgsz", 640)),
                batch=s.batch_size,
                device=ultralytics_device(cfg),
                workers=s.workers,
                seed=s.seed,
                project=str(out),
                name="ultralytics",
                exist_ok=True,
                plots=False,
                verbose=False,
                close_mosaic=int(cfg.data.get("close_mosaic", 10)),
                trainer=SIoUDetectionTrainer if box_loss == "siou" else None,
            )
    state = checkpoint_state(out / "ultralytics" / "weights" / "best.pt")
    torch.save(state, out / "best_state.pt")
    return out / "best_state.pt"


def checkpoint_state(path: Path) -> dict[str, Any]:
    """The weights in a detector checkpoint as a state dict: Ultralytics' best.pt or
    last.pt (its module under "model", or, mid-training, its moving average under "ema")
    as fp32 tensors, or a plain state dict as it is."""
    import torch

    import damage_vision.networks.detector  # noqa: F401 (the CBAM, SIoU classes it pickles)

    loaded = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(loaded, dict):
        for key in ("model", "ema"):
            if hasattr(loaded.get(key), "state_dict"):
                return dict(loaded[key].float().state_dict())
        if all(isinstance(v, torch.Tensor) for v in loaded.values()):
            return loaded
    raise ValueError(f"{path} holds neither a state dict nor an Ultralytics checkpoint")


def ultralytics_device(cfg: TrainConfig) -> str:
    """`train.device` in Ultralytics' words: `cpu` or a GPU index."""
    device = select_device(cfg.train.device)
    return "cpu" if device.type == "cpu" else str(device.index or 0)
