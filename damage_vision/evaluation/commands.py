"""`python -m damage_vision evaluate` and `compare` (added to the core CLI)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

TASKS = ("parts", "damage", "vehicle", "damaged-parts", "detector", "findings")


def _print(report: dict[str, Any]) -> None:
    from damage_vision.evaluation.evaluate import json_safe

    shown = {k: v for k, v in report.items() if k not in ("confusion_matrix", "classes")}
    json.dump(json_safe(shown), sys.stdout, indent=2)
    sys.stdout.write("\n")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from damage_vision.evaluation import evaluate as ev
    from damage_vision.training.config import read_list

    coco = Path(args.coco) if args.coco else None
    images = Path(args.images) if args.images else None
    out = Path(args.out) if args.out else None
    include = read_list(Path(args.include)) if args.include else None
    if args.task == "findings":
        if coco is None:
            raise SystemExit("--task findings needs --coco ANNOTATIONS.json")
        from damage_vision.evaluation.findings import run_findings_task

        report = run_findings_task(
            weights=args.weights,
            coco=coco,
            images=images,
            mapping=Path(args.mapping) if args.mapping else None,
            include=include,
            limit=args.limit,
            settings=json.loads(args.settings) if args.settings else None,
            out=out,
            record=args.record,
            rule=args.rule,
        )
    elif args.task in ("parts", "damage"):
        if coco is None:
            raise SystemExit(f"--task {args.task} needs --coco ANNOTATIONS.json")
        report = ev.evaluate_segmentation(
            args.task,
            coco,
            images,
            args.weights,
            Path(args.mapping) if args.mapping else None,
            include,
            out,
            args.limit,
        )
    elif args.task == "vehicle":
        samples = ev.vehicle_samples(Path(args.list) if args.list else None, images, coco)
        report = ev.evaluate_vehicle(
            samples[: args.limit] if args.limit else samples, args.weights, args.threshold
        )
    elif args.task == "damaged-parts":
        if coco is None:
            raise SystemExit("--task damaged-parts needs --coco (the damaged-parts-cardiag boxes)")
        report = ev.evaluate_damaged_parts(
            coco,
            images,
            args.weights,
            Path(args.mapping) if args.mapping else None,
            args.limit,
            min_confidence=args.min_confidence,
        )
    else:
        from damage_vision.evaluation.detector import evaluate_detector

        if args.weights is None:
            raise SystemExit("--task detector needs --weights (a YOLO best.pt)")
        report = evaluate_detector(
            Path(args.weights),
            coco=coco,
            images=images,
            data=Path(args.data) if args.data else None,
            taxonomy=args.taxonomy,
            mapping=Path(args.mapping) if args.mapping else None,
            imgsz=args.imgsz,
            include=include,
        )
        if args.curve:
            from damage_vision.evaluation.detector import plot_training_curve
            from damage_vision.training.package_detector import training_curve

            rows = training_curve(Path(args.curve))
            report["curve"] = rows
            if out is not None:
                plot_training_curve(
                    rows, out.with_suffix(".curve.png"), f"{Path(args.weights).name}: training"
                )
    if out is not None:
        ev.write_report(report, out)
    _print(report)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from damage_vision.evaluation.compare import compare_reports

    result = compare_reports(Path(args.a), Path(args.b), args.replicates, args.seed)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    _print(result)
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from damage_vision.evaluation.calibrate import calibrate_version
    from damage_vision.training.config import read_list

    summary = calibrate_version(
        weights=args.weights,
        coco=Path(args.coco),
        images=Path(args.images) if args.images else None,
        fit_photos=read_list(Path(args.fit)),
        threshold_photos=read_list(Path(args.threshold_photos)),
        out=Path(args.out),
        version=args.version,
        settings=json.loads(args.settings) if args.settings else None,
        target_precision=args.target_precision,
        confidence_level=args.confidence_level,
        mapping=Path(args.mapping) if args.mapping else None,
        rule=args.rule,
    )
    _print(summary)
    return 0


def add_commands(subparsers: Any) -> None:
    """Add `evaluate` and `compare` to the `python -m damage_vision` command line."""
    p = subparsers.add_parser(
        "evaluate", help="metrics of a model on a labelled dataset (JSON report)"
    )
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument(
        "--weights",
        help="model version dir / version name / training best.pt (default: shipped default)",
    )
    p.add_argument("--coco", help="COCO annotations (polygons or RLE)")
    p.add_argument("--images", help="image folder (default: beside the COCO file)")
    p.add_argument(
        "--mapping",
        help="YAML 'dataset category: taxonomy class' for datasets the taxonomy does not know",
    )
    p.add_argument(
        "--include",
        help="evaluate only the file names listed (one a line), "
        "e.g. damage_vision/configs/splits/carparts-dsmlr-val.txt",
    )
    p.add_argument(
        "--list", help="vehicle: 'label<TAB>path' list (paths relative to the data root)"
    )
    p.add_argument("--data", help="detector: an Ultralytics data.yaml instead of --coco")
    p.add_argument(
        "--taxonomy",
        default="damage_bilgi",
        help="detector: class names of the detector (taxonomy)",
    )
    p.add_argument("--threshold", type=float, default=0.5, help="vehicle: probability threshold")
    p.add_argument("--limit", type=int, help="only the first N images (quick checks)")
    p.add_argument(
        "--settings",
        help='findings: pipeline setting overrides as JSON, e.g. \'{"grouping": "paper"}\'',
    )
    p.add_argument(
        "--record",
        metavar="NAME",
        help="findings: also store the report in the model version's manifest metrics "
        "under NAME (e.g. findings_evaluation)",
    )
    p.add_argument("--imgsz", type=int, default=640, help="detector: input size (px)")
    p.add_argument(
        "--curve", help="detector: Ultralytics results.csv; adds the curve (and .curve.png)"
    )
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="damaged-parts: a part is named when a finding on it is at least this confident",
    )
    p.add_argument(
        "--rule",
        choices=("mask", "box"),
        default="mask",
        help="findings: score masks on labelled pixels (mask) or boxes on labelled boxes "
        "(box: compares a detection version with a segmentation version)",
    )
    p.add_argument(
        "--out", help="write the JSON report here (+ .confusion.png and .npz for segmentation)"
    )
    p.set_defaults(func=_cmd_evaluate)

    p = subparsers.add_parser(
        "calibrate",
        help="a new model version with a calibrated finding confidence and a threshold "
        "chosen for a target precision (Learn-then-Test)",
    )
    p.add_argument("--weights", help="model version to start from (default: shipped default)")
    p.add_argument("--coco", required=True, help="COCO annotations of labelled damage")
    p.add_argument("--images", help="image folder (default: beside the COCO file)")
    p.add_argument("--mapping", help="YAML 'dataset category: taxonomy class'")
    p.add_argument("--fit", required=True, help="file names the calibrator is fitted on")
    p.add_argument(
        "--threshold-photos",
        required=True,
        help="file names the threshold is chosen on (disjoint from --fit)",
    )
    p.add_argument("--out", required=True, help="directory of the new model version")
    p.add_argument("--version", required=True, help="name of the new version, e.g. 0.3.1")
    p.add_argument("--settings", help="pipeline setting overrides as JSON")
    p.add_argument("--target-precision", type=float, default=0.9)
    p.add_argument("--confidence-level", type=float, default=0.9)
    p.add_argument(
        "--rule",
        choices=("mask", "box"),
        default="mask",
        help="what makes a finding correct: its mask (default) or its box (detection versions)",
    )
    p.set_defaults(func=_cmd_calibrate)

    p = subparsers.add_parser(
        "compare", help="bootstrap CI of the mIoU difference of two evaluate reports"
    )
    p.add_argument("a", help="report JSON of model A (its .npz beside it)")
    p.add_argument("b", help="report JSON of model B, on the same images")
    p.add_argument("--replicates", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the result JSON here")
    p.set_defaults(func=_cmd_compare)
