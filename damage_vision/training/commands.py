"""`python -m damage_vision train`, `package` and `pack-data` (added to the core CLI)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import yaml

from damage_vision.data.paths import CONFIGS_DIR


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--set takes KEY=VALUE (e.g. train.epochs=3), got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from damage_vision.training.config import load_config

    cfg = load_config(args.config, parse_overrides(args.set))
    if args.out:
        cfg = dataclasses.replace(cfg, out=Path(args.out).resolve())
    progress = not args.no_progress
    if cfg.task == "segmentation":
        from damage_vision.training.segmentation import train_segmentation

        best = train_segmentation(cfg, resume=args.resume, progress=progress)
    elif cfg.task == "vehicle":
        from damage_vision.training.vehicle import train_vehicle

        best = train_vehicle(cfg, resume=args.resume, progress=progress)
    else:
        from damage_vision.training.detector import train_detector

        best = train_detector(cfg, resume=args.resume)
    print(f"best checkpoint: {best}")
    return 0


def _cmd_package(args: argparse.Namespace) -> int:
    from damage_vision.training.package import package_version

    manifest = package_version(
        segmentation=Path(args.segmentation),
        vehicle=Path(args.vehicle) if args.vehicle else None,
        directory=Path(args.out),
        version=args.version,
        name=args.name,
        status=args.status,
        description=args.description or "",
        onnx=not args.no_onnx,
    )
    print(f"wrote {manifest.directory} ({manifest.version}, {manifest.status})")
    return 0


def _cmd_package_detector(args: argparse.Namespace) -> int:
    from damage_vision.training.package_detector import package_detection_version

    manifest = package_detection_version(
        detector=Path(args.detector),
        parts_from=args.parts_from,
        directory=Path(args.out),
        version=args.version,
        name=args.name,
        status=args.status,
        description=args.description or "",
        input_size=args.input_size,
        conf=args.conf,
        iou=args.iou,
        curve=Path(args.curve) if args.curve else None,
    )
    print(f"wrote {manifest.directory} ({manifest.version}, detection, {manifest.status})")
    return 0


def _cmd_pack_data(args: argparse.Namespace) -> int:
    from damage_vision.data.coco import CocoFormatError
    from damage_vision.data.paths import DataNotFoundError
    from damage_vision.training.pack import PackError, check_ignored, pack_data, travel_budget

    out = Path(args.out).resolve()
    try:
        check_ignored(out)
        budget = travel_budget(
            wheels=Path(args.wheels) if args.wheels else None,
            reserve_mib=args.reserve_mib,
            given_mib=args.budget_mib,
        )
        pack_data(
            out=out,
            source=Path(args.data) if args.data else None,
            splits=Path(args.splits),
            budget=budget,
            max_side=args.max_side,
            min_side=args.min_side,
            quality=args.quality,
            image_format=args.format,
        )
    except (PackError, DataNotFoundError, CocoFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_commands(subparsers: Any) -> None:
    """Add `train`, `package` and `pack-data` to the `python -m damage_vision` command line."""
    p = subparsers.add_parser(
        "train", help="train a model from a YAML config (damage_vision/configs/)"
    )
    p.add_argument(
        "--config",
        required=True,
        help="training config, e.g. damage_vision/configs/joint-deeplabv3plus-lite0.yaml",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--out", help="run directory (default: the config's `out`)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key, e.g. train.epochs=3",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = subparsers.add_parser(
        "package",
        help="turn trained checkpoints into a model version directory (manifest + fp16 weights)",
    )
    p.add_argument("--segmentation", required=True, help="best.pt of a segmentation run")
    p.add_argument(
        "--vehicle", help="best.pt of a vehicle run (default: the ImageNet-head classifier)"
    )
    p.add_argument(
        "--out", required=True, help="new version directory, e.g. inference/weights/0.1.0"
    )
    p.add_argument("--version", required=True)
    p.add_argument("--name", default="deeplabv3plus-lite0-joint")
    p.add_argument("--status", default="candidate", choices=("candidate", "active", "retired"))
    p.add_argument("--description")
    p.add_argument("--no-onnx", action="store_true", help="write only the .pt files")
    p.set_defaults(func=_cmd_package)

    p = subparsers.add_parser(
        "pack-data",
        help="a compact copy of the training data for the GPU recipe (docs/gpu-recipe.md)",
    )
    p.add_argument("--out", default=".gpu-data", help="pack folder, git-ignored (.gpu-data)")
    p.add_argument(
        "--budget-mib",
        type=float,
        help="size the pack may take (default: 64 MiB less the tracked tree, untracked "
        "files, .whl and --reserve-mib)",
    )
    p.add_argument(
        "--reserve-mib",
        type=float,
        default=1.0,
        help="room kept for edits to the tree before the device call (default 1)",
    )
    p.add_argument("--wheels", help="wheel folder that travels too (default .whl)")
    p.add_argument("--max-side", type=int, default=512, help="longest image side (512)")
    p.add_argument("--min-side", type=int, default=256, help="smallest side tried (256)")
    p.add_argument("--quality", type=int, help="image quality (default: 85 down to 55)")
    p.add_argument(
        "--format",
        choices=("jpeg", "webp"),
        default="jpeg",
        help="webp: about 40%% smaller, so a larger side fits (names stay .jpg)",
    )
    p.add_argument("--data", help="data root (default $DAMAGE_DATA_DIR or ../shared/data)")
    p.add_argument(
        "--splits",
        default=str(CONFIGS_DIR / "splits"),
        help="folder of the split lists (damage_vision/configs/splits)",
    )
    p.set_defaults(func=_cmd_pack_data)

    p = subparsers.add_parser(
        "package-detector",
        help="turn a trained YOLOv9-CS detector into a detection model version (ONNX)",
    )
    p.add_argument("--detector", required=True, help="best_state.pt (or best.pt) of a detector run")
    p.add_argument(
        "--parts-from",
        required=True,
        help="segmentation version whose vehicle classifier and part map it uses, e.g. 0.3.0",
    )
    p.add_argument("--out", required=True, help="new version directory")
    p.add_argument("--version", required=True)
    p.add_argument("--name", default="yolov9t-cs-categorical")
    p.add_argument("--status", default="candidate", choices=("candidate", "active", "retired"))
    p.add_argument("--description")
    p.add_argument("--input-size", type=int, default=320, help="detector input side (px)")
    p.add_argument("--conf", type=float, default=0.05, help="lowest detector score kept")
    p.add_argument("--iou", type=float, default=0.6, help="IoU of per-class suppression")
    p.add_argument("--curve", help="Ultralytics results.csv, stored in the manifest")
    p.set_defaults(func=_cmd_package_detector)
