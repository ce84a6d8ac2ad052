"""`python -m inference train` and `python -m inference package` (added to the core CLI)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import yaml


def _overrides(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"--set takes KEY=VALUE (e.g. train.epochs=3), got {pair!r}")
        key, value = pair.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    from inference.core.training.config import load_config

    cfg = load_config(args.config, _overrides(args.set))
    if args.out:
        cfg = dataclasses.replace(cfg, out=Path(args.out).resolve())
    progress = not args.no_progress
    if cfg.task == "segmentation":
        from inference.core.training.segmentation import train_segmentation

        best = train_segmentation(cfg, resume=args.resume, progress=progress)
    elif cfg.task == "vehicle":
        from inference.core.training.vehicle import train_vehicle

        best = train_vehicle(cfg, resume=args.resume, progress=progress)
    else:
        from inference.core.training.detector import train_detector

        best = train_detector(cfg, resume=args.resume)
    print(f"best checkpoint: {best}")
    return 0


def _cmd_package(args: argparse.Namespace) -> int:
    from inference.core.training.package import package_version

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


def add_commands(subparsers: Any) -> None:
    """Add `train` and `package` to the `python -m inference` command line."""
    p = subparsers.add_parser("train", help="train a model from a YAML config (configs/)")
    p.add_argument(
        "--config",
        required=True,
        help="training config, e.g. configs/joint-deeplabv3plus-lite0.yaml",
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
