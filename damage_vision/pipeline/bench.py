"""Latency benchmark: per-stage medians of one photo through the whole pipeline.

Three configurations, each in its own fresh process so that resident memory, thread
pools and imports do not leak between them (`import torch` alone is ~0.5 GB):

- `onnx`: the default model version on ONNX Runtime (the default back end);
- `torch`: the same version in PyTorch eager;
- `paper`: Ma et al.'s configuration, two independent DeepLabV3+ EfficientNet-b5 models
  (parts, damage) and a MobileNetV2 vehicle classifier, random weights, PyTorch eager,
  with the same preprocessing and post-processing.

Numbers are wall-clock milliseconds per photo, batch 1, `threads` intra-op threads;
`photo_cpu` is the process CPU time per photo (all threads summed).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KINDS = ("onnx", "torch", "paper")
FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "bus.jpg"


def default_image() -> Path:
    """A real vehicle photo: Ultralytics' bus.jpg (810x1080) if installed, else the fixture."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("ultralytics")
        if spec is not None and spec.origin is not None:
            asset = Path(spec.origin).parent / "assets" / "bus.jpg"
            if asset.is_file():
                return asset
    except (ImportError, ValueError):
        pass
    return FIXTURE


def default_photos(count: int = 5) -> list[Path]:
    """`default_image()` and the first `count` damage photos of damage-bilgi `valid` when
    the datasets are present (`DAMAGE_DATA_DIR` or ../shared/data)."""
    from damage_vision.data.paths import data_available, data_root

    photos = [default_image()]
    if not data_available():
        return photos
    valid = data_root() / "damage-bilgi" / "valid"
    if valid.is_dir():
        photos += sorted(valid.glob("*.jpg"))[:count]
    return photos


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _medians(samples: dict[str, list[float]]) -> dict[str, float]:
    return {k: round(statistics.median(v), 1) for k, v in samples.items()}


def _time_loop(
    step: Callable[[], dict[str, float]], repeats: int, warmup: int
) -> dict[str, list[float]]:
    for _ in range(warmup):
        step()
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        cpu_start = time.process_time()
        stages = step()
        stages["photo"] = (time.perf_counter() - start) * 1000
        # CPU time of the whole process (all its threads): on a machine shared with other
        # work, wall time inflates but this does not; with one thread it approximates the
        # wall time the photo would take on an idle core.
        stages["photo_cpu"] = (time.process_time() - cpu_start) * 1000
        for key, value in stages.items():
            samples.setdefault(key, []).append(value)
    return samples


def _predictor_worker(
    backend: str, image: Path, repeats: int, warmup: int, threads: int | None, size: int
) -> dict[str, Any]:
    from damage_vision.pipeline.predictor import Predictor

    start = time.perf_counter()
    predictor = Predictor.from_manifest(
        backend=backend,  # type: ignore[arg-type]
        threads=threads,
        input_size=size,
    )
    load_ms = (time.perf_counter() - start) * 1000

    def step() -> dict[str, float]:
        result = predictor.predict([image])[0]
        t = result.timings
        return {
            "preprocess": t.preprocess_ms,
            "vehicle": t.vehicle_ms,
            "segmentation": t.segmentation_ms,
            "postprocess": t.postprocess_ms,
        }

    samples = _time_loop(step, repeats, warmup)
    return {
        "model": predictor.model_info.version,
        "model_input_size": resolve_default_size(),
        "load_ms": round(load_ms, 1),
        "stages_ms": _medians(samples),
        "imports_torch": "torch" in sys.modules,
    }


def resolve_default_size() -> int:
    """The long side the default version was trained at (its manifest's `input_size`)."""
    from damage_vision.versions.registry import resolve_model

    return resolve_model(None).input_size


def _paper_worker(
    image: Path, repeats: int, warmup: int, threads: int | None, size: int
) -> dict[str, Any]:
    import numpy as np
    import torch

    from damage_vision.networks.classifier import VehiclePresence, build_vehicle_classifier
    from damage_vision.networks.segmentation import (
        IndependentSegmentationModels,
        build_segmentation_model,
    )
    from damage_vision.pipeline.backends import default_threads
    from damage_vision.pipeline.images import classifier_input, load_image, normalise
    from damage_vision.pipeline.postprocess import analyse_photo, softmax_maps
    from damage_vision.pipeline.settings import PipelineSettings
    from damage_vision.taxonomy import load_taxonomy

    torch.set_num_threads(threads or default_threads())
    parts_tax = load_taxonomy("parts_reduced")
    damage_tax = load_taxonomy("damage_categorical")
    torch.manual_seed(0)
    models = build_segmentation_model(
        "deeplabv3plus", "efficientnet-b5", parts_tax, damage_tax, joint=False
    ).eval()
    assert isinstance(models, IndependentSegmentationModels)
    vehicle = VehiclePresence(
        build_vehicle_classifier("mobilenetv2_100", "binary", pretrained=False)
    ).eval()
    settings = PipelineSettings()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

    @torch.inference_mode()
    def step() -> dict[str, float]:
        t0 = time.perf_counter()
        loaded = load_image(image, size)
        seg_in = torch.from_numpy(normalise(loaded.rgb, mean, std))
        cls_in = torch.from_numpy(classifier_input(loaded.rgb, 224, mean, std))
        t1 = time.perf_counter()
        vehicle(cls_in)
        t2 = time.perf_counter()
        part_logits = models.parts_model(seg_in)
        t3 = time.perf_counter()
        damage_logits = models.damage_model(seg_in)
        t4 = time.perf_counter()
        h, w = loaded.rgb.shape[:2]
        maps = softmax_maps(
            np.asarray(part_logits[0, :, :h, :w]), np.asarray(damage_logits[0, :, :h, :w])
        )
        analyse_photo(*maps, parts_tax, damage_tax, settings)
        t5 = time.perf_counter()
        return {
            "preprocess": (t1 - t0) * 1000,
            "vehicle": (t2 - t1) * 1000,
            "parts_model": (t3 - t2) * 1000,
            "damage_model": (t4 - t3) * 1000,
            "postprocess": (t5 - t4) * 1000,
        }

    samples = _time_loop(step, repeats, warmup)
    return {
        "model": "DeepLabV3+ efficientnet-b5 x2 (independent) + mobilenetv2_100, random weights",
        "stages_ms": _medians(samples),
        "imports_torch": True,
    }


def run_worker(
    kind: str, image: Path, repeats: int, warmup: int, threads: int | None, size: int = 512
) -> dict[str, Any]:
    """Benchmark one configuration in this process; returns medians and peak RSS."""
    if kind == "paper":
        result = _paper_worker(image, repeats, warmup, threads, size)
    elif kind in ("onnx", "torch"):
        result = _predictor_worker(kind, image, repeats, warmup, threads, size)
    else:
        raise ValueError(f"unknown benchmark kind {kind!r}; one of {KINDS}")
    result.update({"kind": kind, "repeats": repeats, "peak_rss_mb": round(peak_rss_mb(), 1)})
    return result


def _spawn(
    kind: str, image: Path, repeats: int, warmup: int, threads: int | None, size: int
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "damage_vision",
        "bench",
        "--worker",
        kind,
        "--image",
        str(image),
        "--repeats",
        str(repeats),
        "--warmup",
        str(warmup),
        "--size",
        str(size),
    ]
    if threads:
        command += ["--threads", str(threads)]
    env = dict(os.environ, YOLO_OFFLINE="1")
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark worker {kind} failed:\n{completed.stderr[-2000:]}")
    parsed: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return parsed


def run_bench(
    image: Path | None = None,
    repeats: int = 10,
    paper_repeats: int = 5,
    warmup: int = 2,
    threads: int | None = None,
    size: int = 512,
) -> dict[str, Any]:
    """All three configurations, each in a fresh subprocess; a JSON-ready summary.

    Every configuration resizes the photo to the same long side `size` (512 px, the
    paper's and the issue's figure, by default), whatever size the default was trained at.
    """
    image = image or default_image()
    onnx = _spawn("onnx", image, repeats, warmup, threads, size)
    eager = _spawn("torch", image, repeats, warmup, threads, size)
    paper = _spawn("paper", image, paper_repeats, 1, threads, size)
    photo_ms = onnx["stages_ms"]["photo"]
    return {
        "pipeline_ms": onnx["stages_ms"],
        "torch_eager_ms": eager["stages_ms"],
        "paper_config_ms": paper["stages_ms"],
        "speedup_vs_paper": round(paper["stages_ms"]["photo"] / photo_ms, 2),
        "peak_rss_mb": {
            "pipeline": onnx["peak_rss_mb"],
            "torch_eager": eager["peak_rss_mb"],
            "paper_config": paper["peak_rss_mb"],
        },
        "pipeline_imports_torch": onnx["imports_torch"],
        "model": onnx["model"],
        "load_ms": {"pipeline": onnx["load_ms"], "torch_eager": eager["load_ms"]},
        "image": str(image),
        "input_long_side": size,
        "model_input_size": onnx["model_input_size"],
        "repeats": {"pipeline": repeats, "torch_eager": repeats, "paper_config": paper_repeats},
        "threads": threads or len(os.sched_getaffinity(0)),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
    }
