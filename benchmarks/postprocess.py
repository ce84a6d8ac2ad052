"""What whole findings and the calibrated confidence cost a photo, against the paper's rule.

    .venv/bin/python benchmarks/postprocess.py [--model 0.3.0] [--repeats 30] [--size 512] [PHOTO ...]

Runs the network once per photo (the default: Ultralytics' bus.jpg and the first damage
photos of `../shared/data/damage-bilgi/valid` when present), then times only the
post-processing (`Predictor._finish`: argmax, probabilities, grouping, sizes, evidence,
confidence, DSI) in two configurations of the same model, interleaved in one process so
that machine noise hits both alike:

- `before`: the paper's grouping, no calibrator (what 0.2.0 did);
- `after`: the version's own settings (whole findings) and its calibrator.

Prints the median milliseconds of each and their difference per photo, and the median
over photos (the issue's budget: at most 10 ms added).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from damage_vision.pipeline.bench import default_photos
from damage_vision.pipeline.predictor import Predictor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path)
    parser.add_argument("--model", default=None, help="model version (default: the default)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--size", type=int, help="long side photos are resized to (default: the version's own)"
    )
    args = parser.parse_args()

    predictor = Predictor.from_manifest(args.model, threads=args.threads, input_size=args.size)
    after_settings, calibrator = predictor.settings, predictor.calibrator
    before_settings = after_settings.with_overrides({"grouping": "paper"})
    rows: list[dict[str, Any]] = []
    for photo in args.photos or default_photos():
        prepared = predictor._prepare(photo)
        logits = predictor.backend.segment(prepared.seg_input)
        pair = (logits[0][0], logits[1][0])
        times: dict[str, list[float]] = {"before": [], "after": []}
        counts = {}
        for _ in range(args.repeats):
            for name, settings, cal in (
                ("before", before_settings, None),
                ("after", after_settings, calibrator),
            ):
                predictor.settings, predictor.calibrator = settings, cal
                start = time.perf_counter()
                result = predictor._finish(prepared, 1.0, [], pair, 0.0, 0.0)
                times[name].append((time.perf_counter() - start) * 1000)
                counts[name] = len(result.findings)
        before = statistics.median(times["before"])
        after = statistics.median(times["after"])
        rows.append(
            {
                "photo": photo.name,
                "grid": list(prepared.seg_input.shape[-2:]),
                "before_ms": round(before, 2),
                "after_ms": round(after, 2),
                "added_ms": round(after - before, 2),
                "findings_before": counts["before"],
                "findings_after": counts["after"],
            }
        )
    summary = {
        "model": predictor.manifest.version,
        "input_size": predictor.manifest.input_size,
        "threads": args.threads,
        "repeats": args.repeats,
        "photos": rows,
        "median_added_ms": round(statistics.median(float(r["added_ms"]) for r in rows), 2),
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
