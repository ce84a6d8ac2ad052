"""The two damage back ends timed on the same photos: segmentation against detection.

    .venv/bin/python benchmarks/backends.py [--models 0.3.0 0.3.0-yolov9cs] [--repeats 15] [PHOTO ...]

Loads each model version once (ONNX Runtime, `--threads` intra-op threads, idle spinning
off), then runs whole photos through each in turn, interleaved in one process so that the
machine's noise hits both alike. Prints, per version, the median milliseconds of each
stage and of the whole photo (preprocessing, vehicle check, joint network, detector,
post-processing), and the ratio of the whole-photo medians. Photos: Ultralytics' bus.jpg
and the first damage photos of `../shared/data/damage-bilgi/valid` when present.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from damage_vision.pipeline.bench import default_photos
from damage_vision.pipeline.predictor import Predictor

STAGES = (
    "preprocess_ms",
    "vehicle_ms",
    "segmentation_ms",
    "detection_ms",
    "postprocess_ms",
    "total_ms",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("--models", nargs="+", default=["0.3.0", "0.3.0-yolov9cs"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    photos = args.photos or default_photos()
    predictors = {m: Predictor.from_manifest(m, threads=args.threads) for m in args.models}
    samples: dict[str, dict[str, list[float]]] = {m: {s: [] for s in STAGES} for m in predictors}
    for predictor in predictors.values():  # warm-up: first runs allocate
        predictor.predict(photos[:1])
    for _ in range(args.repeats):
        for photo in photos:
            for m, predictor in predictors.items():
                (result,) = predictor.predict([photo])
                for stage in STAGES:
                    samples[m][stage].append(getattr(result.timings, stage))
    report: dict[str, Any] = {
        "photos": [str(p) for p in photos],
        "repeats": args.repeats,
        "threads": args.threads,
        "median_ms": {
            m: {s: round(statistics.median(v), 1) for s, v in stages.items()}
            for m, stages in samples.items()
        },
        "damage_backend": {m: p.manifest.damage_backend for m, p in predictors.items()},
    }
    first, *others = args.models
    report["total_ratio_to_" + first] = {
        m: round(report["median_ms"][m]["total_ms"] / report["median_ms"][first]["total_ms"], 3)
        for m in others
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
