"""`python -m damage_vision ...`: the vision pipeline's command line (no Django).

Subcommands: predict, export-onnx, init-default, versions, bench, and those of training
(`damage_vision.training.commands`) and evaluation (`damage_vision.evaluation.commands`),
added by their `add_commands(subparsers)`; each parser sets `func` (a callable taking the
parsed namespace and returning an exit code).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")

from damage_vision.evaluation.commands import add_commands as add_evaluation_commands
from damage_vision.pipeline.calibration import CalibratorError
from damage_vision.pipeline.types import InferenceInputError, PhotoResult, WeightsMismatchError
from damage_vision.training.commands import add_commands as add_training_commands
from damage_vision.versions.registry import ManifestError


def _photo_json(photo: PhotoResult, source: str, masks: bool) -> dict[str, Any]:
    """`photo_to_dict`, with each finding's mask as COCO RLE on the photo when `masks`."""
    from damage_vision.pipeline.masks import rle_at_size
    from damage_vision.pipeline.serialize import photo_to_dict

    data = photo_to_dict(photo, source)
    if masks:
        # The mask at the photo's own resolution after EXIF orientation (image_size is
        # (width, height); findings live in the smaller processed grid).
        for row, finding in zip(data["findings"], photo.findings, strict=True):
            row["mask"] = rle_at_size(finding.mask, photo.image_size)
    return data


def _cmd_predict(args: argparse.Namespace) -> int:
    from damage_vision.pipeline.predictor import Predictor
    from damage_vision.pipeline.serialize import case_to_dict

    if args.masks and not args.json:
        print("error: --masks adds masks to the JSON output; add --json", file=sys.stderr)
        return 2
    predictor = Predictor.from_manifest(args.model, backend=args.backend, threads=args.threads)
    photos = predictor.predict([Path(p) for p in args.photos])
    case = predictor.synthesise(photos, denominator=args.denominator)
    if args.json:
        payload = {
            "photos": [
                _photo_json(p, src, args.masks) for p, src in zip(photos, args.photos, strict=True)
            ],
            "case": case_to_dict(case)
            | {"threshold": predictor.manifest.threshold, "model": predictor.manifest.version},
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"model {predictor.manifest.version} ({predictor.backend.name})")
    for index, (photo, source) in enumerate(zip(photos, args.photos, strict=True)):
        print(
            f"[{index}] {source}: vehicle {photo.vehicle_probability:.2f}, "
            f"{photo.perspective}, {len(photo.findings)} findings, DSI {photo.dsi:.1f}, "
            f"{photo.timings.total_ms:.0f} ms"
        )
        if photo.set_aside_reason:
            print(f"    set aside: {photo.set_aside_reason}")
        for f in photo.findings[: args.limit]:
            cm2 = (
                ""
                if f.area_cm2 is None
                else f", ~{f.area_cm2:.0f}±{f.area_cm2_uncertainty:.0f} cm²"
            )
            print(
                f"    {f.part:>14} {f.damage:<15} {f.area_px:>7} px ({f.share_of_part:.0%} of "
                f"part, {f.size_class}{cm2}) confidence {f.confidence:.2f} (C_base {f.c_base:.2f})"
            )
        if len(photo.findings) > args.limit:
            print(f"    ... {len(photo.findings) - args.limit} more (--limit, or --json)")
    print(
        f"case: {len(case.findings)} findings, DSI {case.dsi:.1f}, "
        f"{'needs review' if case.needs_review else 'can be released'}"
    )
    for row in case.findings[: args.limit]:
        flag = "REVIEW" if row.needs_review else "ok"
        print(
            f"    {row.part:>14} {row.damage:<15} photos {list(row.photo_indices)} "
            f"K_agree {row.k_agree:.2f} C_refined {row.c_refined:.2f} {flag}"
        )
    return 0


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from damage_vision.versions.export import export_onnx
    from damage_vision.versions.registry import resolve_model

    manifest = export_onnx(resolve_model(args.model).directory)
    for role, files in manifest.weights.items():
        print(f"{role}: {files['onnx'].file}")
    return 0


def _cmd_init_default(args: argparse.Namespace) -> int:
    from damage_vision.versions.export import init_default
    from damage_vision.versions.registry import WEIGHTS_DIR

    manifest = init_default(args.root or WEIGHTS_DIR, seed=args.seed, force=args.force)
    print(f"wrote {manifest.directory}")
    for role, files in manifest.weights.items():
        for backend, entry in files.items():
            print(f"  {role} {backend}: {entry.file}")
    return 0


def _cmd_versions(args: argparse.Namespace) -> int:
    from damage_vision.versions.registry import default_version, list_versions

    versions = list_versions()
    default = default_version().version if versions else None
    rows = [
        {
            "version": m.version,
            "name": m.name,
            "status": m.status,
            "default": m.version == default,
            "backends": list(m.backends),
            "part_taxonomy": m.part_taxonomy,
            "damage_taxonomy": m.damage_taxonomy,
            "directory": str(m.directory),
        }
        for m in versions
    ]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for row in rows:
            mark = "*" if row["default"] else " "
            print(f"{mark} {row['version']:<20} {row['status']:<10} {row['name']}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from damage_vision.pipeline import bench

    image = Path(args.image) if args.image else None
    if args.worker:
        result = bench.run_worker(
            args.worker,
            image or bench.default_image(),
            args.repeats,
            args.warmup,
            args.threads,
            args.size,
        )
        print(json.dumps(result))
        return 0
    summary = bench.run_bench(
        image, args.repeats, args.paper_repeats, args.warmup, args.threads, args.size
    )
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(
        f"image {summary['image']}, long side {summary['input_long_side']} "
        f"(default trained at {summary['model_input_size']}), "
        f"{summary['threads']} threads (medians, ms)"
    )
    for key in ("pipeline_ms", "torch_eager_ms", "paper_config_ms"):
        stages = ", ".join(f"{k} {v}" for k, v in summary[key].items())
        print(f"  {key:<16} {stages}")
    print(f"  speed-up over the paper configuration: {summary['speedup_vs_paper']}x")
    print(f"  peak RSS MiB: {summary['peak_rss_mb']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m damage_vision", description="Vehicle damage pipeline (no Django needed)."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("predict", help="run the pipeline on photos of one case")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.add_argument("--json", action="store_true", help="print JSON (keys photos, case)")
    p.add_argument(
        "--masks",
        action="store_true",
        help='with --json: each finding\'s mask as COCO RLE {"size": [h, w], "counts": ...} '
        "at the photo's resolution after EXIF orientation",
    )
    p.add_argument("--model", help="model version directory or shipped version (default: default)")
    p.add_argument("--backend", choices=("onnx", "torch"), default="onnx")
    p.add_argument("--threads", type=int, help="intra-op threads (default: all cores)")
    p.add_argument("--denominator", choices=("visible", "all"), help="K_agree denominator")
    p.add_argument("--limit", type=int, default=10, help="findings listed per photo (text)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export-onnx", help="(re)build a version's .onnx files from its .pt")
    p.add_argument("--model", help="model version directory or shipped version (default: default)")
    p.set_defaults(func=_cmd_export_onnx)

    p = sub.add_parser("init-default", help="create the shipped 0.0.0-untrained version")
    p.add_argument("--root", help="weights directory (default: inference/weights)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing directory")
    p.set_defaults(func=_cmd_init_default)

    p = sub.add_parser("versions", help="list shipped model versions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_versions)

    p = sub.add_parser("bench", help="per-stage latency medians (ONNX, eager, paper config)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--image", help="photo to time (default: Ultralytics' bus.jpg)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--paper-repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--size", type=int, default=512, help="long side photos are resized to (default 512)"
    )
    p.add_argument("--worker", choices=("onnx", "torch", "paper"), help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_bench)

    add_training_commands(sub)
    add_evaluation_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: Any = args.func(args)
    except (
        InferenceInputError,
        WeightsMismatchError,
        ManifestError,
        CalibratorError,
        FileExistsError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)
