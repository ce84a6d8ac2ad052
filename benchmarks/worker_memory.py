"""Peak memory of a worker-like process: Django, the Celery tasks and the default predictor.

    .venv/bin/python benchmarks/worker_memory.py [--photos 5] [--image PATH]

Loads the settings and every Celery task module as `celery worker` does, loads the
default model version through the same per-process cache the photo task uses, runs the
whole per-photo pipeline `--photos` times on one photo, and prints the peak resident set
size (ru_maxrss) and whether torch or Ultralytics were imported (they must not be on the
ONNX path). It does not start a broker consumer, so the worker's own bookkeeping is not
counted; the database is not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("YOLO_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--image", default=str(ROOT / "tests" / "fixtures" / "bus.jpg"))
    args = parser.parse_args()

    import django

    django.setup()
    from config.celery import app

    app.loader.import_default_modules()
    import inference.tasks  # noqa: F401  (the photo and case tasks, as the worker loads them)
    from damage_vision.versions.registry import default_version
    from inference.services.predictors import predictor_for

    manifest = default_version()
    predictor = predictor_for(str(manifest.directory / "manifest.json"))
    for _ in range(args.photos):
        predictor.predict([args.image])
    print(
        json.dumps(
            {
                "model": manifest.version,
                "photos": args.photos,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "imports_torch": "torch" in sys.modules,
                "imports_ultralytics": "ultralytics" in sys.modules,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
